"""The app factory: lifespan, middleware, routers, and the exception handlers (each
answer rendered by ``gateway.error_answer``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gateway import __version__
from gateway.error_answer import render
from gateway.errors import (
    GatewayError,
    HttpError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    StreamBroken,
    clip,
)
from gateway.middleware import (
    ApiHeadersMiddleware,
    BodyLimitMiddleware,
    CsrfMiddleware,
    DeadlineMiddleware,
    RequestLogMiddleware,
)
from gateway.request_id import current_request_id
from gateway.routers import (
    activity,
    config,
    deletes,
    events,
    files,
    health,
    images,
    metrics,
    raw,
    referrers,
    repositories,
    retention,
    search,
    session,
    usage,
    v2,
)
from gateway.routers.warm import WarmLane
from gateway.settings import Settings, get_settings
from gateway.state import build_state
from gateway.state_metrics import state_families
from gateway.telemetry import Metrics
from gateway.web.docs import add_docs
from gateway.web.html_headers import HtmlHeadersMiddleware
from gateway.web.static_site import StaticSite

log = logging.getLogger("gateway")

# The reference UI, shipped in the package: served at / when LR_SPA_DIR is unset.
REFERENCE_UI = Path(__file__).resolve().parent / "web" / "ui"


def operation_id(route: APIRoute) -> str:
    """Stable operationIds (the function name) so generated SPA clients do not churn."""
    return route.name


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the input back: a login body holds a password. A body's keys do reach
    # ``loc`` (an unknown field is refused by name), so they are clipped like every echo.
    return [
        {
            "loc": [clip(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


def _unparsable(cause: BaseException | None) -> str:
    """Why ``json.loads`` could not read a body (never the body itself)."""
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid UTF-8"
    if isinstance(cause, RecursionError):
        return "the JSON is nested too deeply"
    if isinstance(cause, ValueError):
        return "a JSON number has too many digits"
    return "the body is not valid JSON"


# The order an Allow header lists methods in.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this request's path. Starlette's 405 names
    only the first route it tried (``Allow: POST`` on ``/api/session``, which has GET
    and DELETE too), so each method is tried against the app's own routing."""
    allowed = []
    for method in _METHODS:
        probe: dict[str, Any] = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "path_params": {},
        }
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return render(exc, request.scope).response()


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = _validation_detail(exc)
    unreadable = any(err["type"] == "json_invalid" for err in detail)
    message = "invalid request body" if unreadable else "invalid request parameters"
    return render(InvalidRequest(message, detail=detail), request.scope).response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    given = {k.lower(): v for k, v in (exc.headers or {}).items()}
    headers = {k: v for k, v in given.items() if k not in ("www-authenticate", "allow")}
    error: GatewayError
    if exc.status_code == 400:
        # FastAPI's answer when json.loads raised something other than JSONDecodeError
        # (which arrives as RequestValidationError): a RecursionError for deep nesting,
        # a ValueError past Python's int-string limit, a UnicodeDecodeError. The same
        # code and detail shape as any other invalid body; the body is never echoed.
        detail = [{"loc": ["body"], "msg": _unparsable(exc.__cause__), "type": "json_invalid"}]
        error = InvalidRequest("invalid request body", detail=detail, headers=headers)
    elif exc.status_code == 404:
        default = exc.detail == "Not Found"
        error = NotFound("no such route" if default else str(exc.detail), headers=headers)
    elif exc.status_code == 405:
        # The SPA's files (no route: the router's default) keep their own Allow.
        headers["Allow"] = _allowed_methods(request) or given.get("allow", "")
        error = MethodNotAllowed("method not allowed on this route", headers=headers)
    else:
        error = HttpError(str(exc.detail), status=exc.status_code, headers=headers)
    return render(error, request.scope).response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, StreamBroken):  # the answer had started: it is cut, not answered
        log.warning("%s: the client's connection is cut", exc)
    else:
        log.error("unexpected error: %s", type(exc).__name__)
    # Starlette sends this answer from outside every middleware: add the request id here.
    headers = {"X-Request-ID": current_request_id.get()}
    return render(GatewayError("unexpected error", headers=headers), request.scope).response()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema, with FastAPI's default 422 replaced by what we really send: 400 with
    the envelope (validation errors are answered by ``_validation_error``)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None and "400" not in responses:
                responses["400"] = {
                    "description": "Invalid parameters",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                        }
                    },
                }
    schemas = schema.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The app. ``transport`` (tests) carries every upstream request instead of the
    network: an ``httpx.MockTransport`` playing a registry."""
    settings = settings or get_settings()
    # The app's own metrics registry (never prometheus_client's global one): the request
    # middleware counts into it, the state built by each lifespan reports into it.
    app_metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings, metrics=app_metrics, transport=transport)
        app_metrics.source = lambda: state_families(state)
        app.state.lr = state
        state.start()
        try:
            yield
        finally:
            await state.aclose()

    app = FastAPI(
        title="Light Registry gateway",
        version=__version__,
        description=(
            "JSON for a registry UI over any Docker/OCI v2 registry: repositories with tag "
            "counts, tags with sizes and dates, multi-platform images, config and history, "
            "deletes. Errors always use the envelope "
            '`{"error": {"code", "message", "detail"}}`.'
        ),
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
    )
    for router in (
        health.router,
        config.router,
        repositories.router,
        referrers.router,
        images.router,
        raw.router,
        deletes.router,
        session.router,
        events.router,
        metrics.router,
        usage.router,
        retention.router,
        files.router,
        activity.router,
        search.router,
    ):
        app.include_router(router)
    if settings.v2_mode != "off":
        app.include_router(v2.router)
    add_docs(app, csp=settings.csp)

    # Whatever no route matched is the SPA's: a file of it, index.html (history
    # routing), or a 404/405 envelope for the gateway's own paths.
    # No redirect from /path/ to /path: Starlette builds it from the Host header.
    app.router.redirect_slashes = False
    if settings.spa_dir is not None:
        app.router.default = StaticSite(settings.spa_dir)
    else:
        app.router.default = StaticSite(REFERENCE_UI, immutable_assets=False)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    # Innermost first: the deadline's 504, CSRF and body checks run inside CORS, so their
    # refusals carry the CORS headers a cross-origin SPA needs to read them. The warm
    # lane (kept answers sent again before routing, routers/warm.py) answers GET and
    # HEAD only, at once: outside the deadline, CSRF and body checks, which have
    # nothing to do for it (they cost a tenth of a warm answer), inside CORS.
    app.add_middleware(DeadlineMiddleware, seconds=settings.request_timeout)
    app.add_middleware(
        CsrfMiddleware, public_url=settings.public_url, cors_origins=settings.cors_origins
    )
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(WarmLane)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-Requested-With", "If-None-Match", "Authorization"],
            expose_headers=["Docker-Content-Digest", "ETag", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(ApiHeadersMiddleware)
    app.add_middleware(HtmlHeadersMiddleware, csp=settings.csp)
    app.add_middleware(RequestLogMiddleware, metrics=app_metrics)
    app.state.metrics = app_metrics
    return app
