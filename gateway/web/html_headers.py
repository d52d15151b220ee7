"""Security headers on every document a browser may run script in: HTML answers (the
SPA, the reference UI, the API docs), and SVG and XML files, which run their own
``<script>`` when opened directly.

JSON and other assets need only ``nosniff`` (the API and the static site set it
themselves). An answer that sets its own policy keeps it (ReDoc's page widens it).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCUMENT_TYPES = (
    b"text/html",
    b"application/xhtml+xml",
    b"image/svg+xml",
    b"text/xml",
    b"application/xml",
)


class HtmlHeadersMiddleware:
    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower(): value for key, value in headers}
                if present.get(b"content-type", b"").lower().startswith(DOCUMENT_TYPES):
                    headers += [(k, v) for k, v in self.headers if k not in present]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
