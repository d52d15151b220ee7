"""Kept answers (gateway/services/answers.py): a page's answer sent again as the bytes
sent before, or built, sent, and kept when it is whole; and the warm lane, which sends a
kept answer again before routing.

**One key.** An answer is kept under the request as it came — its path, its raw query
string — and the caller it was built for (``answer_key``): the route puts it there, the
lane looks there. Never one caller's answer to another.

**One caller.** The lane (``WarmLane``, the innermost middleware) names the caller with
``caller_from``, the function of the ``CurrentCaller`` dependency, and leaves it in the
request's state: the route's dependency takes it from there rather than asking the
session store again. A request whose caller cannot be named (malformed credentials, an
ended session) goes the long way and gets the route's own error.

**Why a lane.** A warm page's own work is a dictionary lookup, but routing it and
solving its dependencies (FastAPI's ``solve_dependencies``) cost several times more
(bench/bench_load.py, under cProfile). So the same request again is answered from the
kept bytes without routing, under the same rules: kept only when the route kept it
(whole, built while nothing changed), for the same lifetime. Every middleware outside
it still runs (request id, logs and metrics under the route's template — the kept
answer remembers its route — CORS, CSRF, the headers of every answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.dependencies import caller_from
from gateway.errors import GatewayError
from gateway.paths import route_path
from gateway.registry.credentials import Caller
from gateway.registry.metrics import current_stats
from gateway.routers import warm_v2
from gateway.scope_headers import header
from gateway.sessions import COOKIE_NAME
from gateway.state import AppState

M = TypeVar("M", bound=BaseModel)

#: The routes whose answers are kept (and so the only paths the lane looks up).
PREFIX = "/api/repositories"
_JSON = (b"content-type", b"application/json")
#: Set in the request's state by the lane when it looked and found nothing kept.
LOOKED = "answer_looked_up"


@dataclass(frozen=True)
class Kept:
    """A kept answer: the bytes sent, and the route that built them (for the lane's
    log line and metrics)."""

    body: bytes
    route: Any


def answer_key(scope: Scope, caller: Caller) -> tuple[str, bytes, str]:
    """The one key of a kept answer: the request as it came, and its caller."""
    return (scope["path"], scope["query_string"], caller.key)


async def answer(
    request: Request,
    state: AppState,
    caller: Caller,
    build: Callable[[], Awaitable[M]],
    whole: Callable[[M], bool],
) -> Response:
    """The kept answer to this request, or one built by ``build``, kept if ``whole``."""
    key = answer_key(request.scope, caller)
    if not request.scope.get("state", {}).get(LOOKED):
        kept = state.answers.get(key)
        if isinstance(kept, Kept):
            return Response(kept.body, media_type="application/json")
    stamp = state.answers.stamp()
    model = await build()
    response = JSONResponse(model.model_dump(mode="json", by_alias=True))
    stats = current_stats.get()
    if whole(model) and not (stats is not None and stats.stale):  # stale: being read again
        state.answers.put(key, Kept(bytes(response.body), request.scope.get("route")), stamp)
    return response


async def _caller(state: AppState, scope: Scope) -> Caller:
    """The caller of the request, named as the ``CurrentCaller`` dependency names it
    (``dependencies.caller_from``); raises its ``GatewayError``."""
    cookies = header(scope, b"cookie")
    return await caller_from(
        state,
        cookie_parser(cookies).get(COOKIE_NAME) if cookies else None,
        header(scope, b"authorization"),
        scope.get("root_path", ""),
    )


class WarmLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._v2_routes: dict[str, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path.startswith("/v2/") and await self._v2(scope, send):
            return
        if scope["method"] != "GET" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        state: AppState | None = getattr(scope["app"].state, "lr", None)
        if state is None or state.answers.seconds <= 0:
            await self.app(scope, receive, send)
            return
        try:
            caller = await _caller(state, scope)
        except GatewayError:
            await self.app(scope, receive, send)  # the route answers with the error
            return
        kept = state.answers.get(answer_key(scope, caller))
        if not isinstance(kept, Kept):
            request_state: dict[str, Any] = scope.setdefault("state", {})
            request_state["caller"] = caller  # the route's CurrentCaller: named once
            request_state[LOOKED] = True
            await self.app(scope, receive, send)
            return
        scope["route"] = kept.route  # logs and metrics name the route, as routed
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(kept.body)).encode()), _JSON],
            }
        )
        await send({"type": "http.response.body", "body": kept.body})

    async def _v2(self, scope: Scope, send: Send) -> bool:
        """A ``/v2`` manifest or config the view holds for this caller, sent at once
        (``routers.warm_v2``); False: nothing sent, the request goes the long way."""
        state: AppState | None = getattr(scope["app"].state, "lr", None)
        found = warm_v2.target(route_path(scope))
        if state is None or state.settings.v2_mode == "off" or found is None:
            return False
        try:
            caller = await _caller(state, scope)
        except GatewayError:
            return False  # the route answers with the error
        held = warm_v2.held(state, caller, scope, found)
        if held is None:
            handed = await warm_v2.handed_at_once(state, caller, scope, found)
            if handed is not None:  # a blob pull nginx in front fetches itself
                scope["route"] = self._routes(scope).get(found[0])
                await warm_v2.send_handed(send, handed)
                return True
            scope.setdefault("state", {})["caller"] = caller  # named once
            return False
        scope["route"] = self._routes(scope).get(found[0])
        await warm_v2.send_held(scope, send, caller, found[2], *held)
        if found[0] == "manifests" and scope["method"] == "GET":  # a client's pull
            blob, media_type = held
            state.activity.pulled(caller, found[1], found[2], blob.digest, media_type)
        return True

    def _routes(self, scope: Scope) -> dict[str, Any]:
        """The /v2 routes, for the log line and metrics of an answer sent here."""
        if self._v2_routes is None:
            names = {"v2_manifest": "manifests", "v2_blob": "blobs"}
            self._v2_routes = {
                names[route.name]: route
                for route in scope["app"].router.routes
                if getattr(route, "name", None) in names
            }
        return self._v2_routes
