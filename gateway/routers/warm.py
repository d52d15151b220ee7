"""A page's answer from the warm-answer cache (gateway/services/answers.py), or built,
sent, and kept when it is whole; and the warm lane, which sends a kept answer again
before routing.

**The warm lane** (``WarmLane``, the innermost middleware). A warm page's own work is a
dictionary lookup, but routing it and solving its dependencies (the caller, the path
and query parameters: FastAPI's ``solve_dependencies``) cost several times more
(bench/bench_load.py, under cProfile). So an answer kept for a page is also kept under
the request exactly as it came — its path, its raw query string, and the caller named
by ``caller_from``, the function the ``CurrentCaller`` dependency uses — and the same
request again is answered from there without routing. It is the same answer, under the
same rules: kept only when the route kept it (whole, built while no cache moved), with
the same generations and lifetime, and only for the caller it was built for: a request
whose caller cannot be named (malformed credentials, an ended session) goes the long
way and gets the route's own error. Every middleware outside it still runs (request id,
logs and metrics under the route's template, CORS, CSRF, the headers of every answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.dependencies import caller_from
from gateway.errors import GatewayError
from gateway.middleware import route_path
from gateway.services.answers import Stamp
from gateway.services.sessions import COOKIE_NAME
from gateway.state import AppState

M = TypeVar("M", bound=BaseModel)

#: The routes whose answers are kept (and so the only paths the lane looks up).
PREFIX = "/api/repositories"
_JSON = (b"content-type", b"application/json")


@dataclass
class _Ticket:
    """What the lane hands the route: whose answer it may keep, and what was kept."""

    caller_key: str
    kept: tuple[bytes, Stamp] | None = None


_ticket: ContextVar[_Ticket | None] = ContextVar("warm_lane_ticket", default=None)


async def answer(
    state: AppState,
    key: Hashable,
    build: Callable[[], Awaitable[M]],
    whole: Callable[[M], bool],
) -> Response:
    """``key`` is a tuple whose second part is the caller's key."""
    body = state.answers.get(key)
    if isinstance(body, bytes):
        return Response(body, media_type="application/json")
    stamp = state.answers.stamp()
    model = await build()
    response = JSONResponse(model.model_dump(mode="json", by_alias=True))
    if whole(model):
        kept = bytes(response.body)
        state.answers.put(key, kept, stamp)
        ticket = _ticket.get()
        if ticket is not None and isinstance(key, tuple) and key[1:2] == (ticket.caller_key,):
            ticket.kept = (kept, stamp)
    return response


def _first_header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:  # ASGI servers send header names lower-cased
            return str(value.decode("latin-1"))
    return None


class WarmLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not route_path(scope).startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        state: AppState | None = getattr(scope["app"].state, "lr", None)
        if state is None or state.answers.seconds <= 0:
            await self.app(scope, receive, send)
            return
        cookies = _first_header(scope, b"cookie")
        try:
            caller = await caller_from(
                state,
                cookie_parser(cookies).get(COOKIE_NAME) if cookies else None,
                _first_header(scope, b"authorization"),
                scope.get("root_path", ""),
            )
        except GatewayError:
            await self.app(scope, receive, send)  # the route answers with the error
            return
        key = ("lane", scope["path"], scope["query_string"], caller.key)
        kept = state.answers.get(key)
        if isinstance(kept, tuple):
            body, route = kept
            scope["route"] = route  # logs and metrics name the route, as routed
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), _JSON],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        ticket = _Ticket(caller.key)
        token = _ticket.set(ticket)
        try:
            await self.app(scope, receive, send)
        finally:
            _ticket.reset(token)
        route = scope.get("route")
        if ticket.kept is not None and route is not None:
            body, stamp = ticket.kept
            state.answers.put(key, (body, route), stamp)
