"""The headers of every /api and /v2 answer (``ApiHeadersMiddleware``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.paths import is_v2_path, route_path


class ApiHeadersMiddleware:
    """Headers every /api and /v2 answer carries unless it set its own: ``nosniff`` (the
    raw endpoints return registry-supplied bytes), and ``Cache-Control: no-store`` so a
    shared proxy never keeps one user's lists for another; on /v2 also
    ``Docker-Distribution-Api-Version: registry/2.0``. The OpenAPI document is the
    same for everyone: ``no-cache`` (revalidated, so a new version is seen at once)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        v2 = is_v2_path(path)
        if path == "/openapi.json":
            cache = b"no-cache"
        elif path.startswith("/api/") or v2:
            cache = b"no-store"
        else:
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                if b"cache-control" not in present:
                    headers.append((b"cache-control", cache))
                headers.append((b"x-content-type-options", b"nosniff"))
                if v2:  # on every answer, as the registry sends it
                    headers.append((b"docker-distribution-api-version", b"registry/2.0"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
