"""Path rules every layer above may ask: which paths are the gateway's own, which are the
registry's v2 API, and a request's path below the app's mount point.

Pure, at the bottom of the import graph: the middleware (CSRF, deadlines, headers, the
access log), the SPA's files and the error handlers all decide by these.
"""

from __future__ import annotations

from starlette.types import Scope

# Paths the gateway answers itself: never the SPA, never index.html.
GATEWAY_PREFIXES = ("/api", "/v2", "/docs", "/redoc", "/openapi.json", "/metrics")


def is_gateway_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in GATEWAY_PREFIXES)


def is_v2_path(path: str) -> bool:
    """The registry's own API on the gateway (``/v2``, ``/v2/…``)."""
    return path == "/v2" or path.startswith("/v2/")


def route_path(scope: Scope) -> str:
    """The path below the app's mount point: behind ``--root-path /ui`` the ASGI path
    ``/ui/api/session`` is the route ``/api/session``, and every check must see that."""
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path
