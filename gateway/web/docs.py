"""The interactive API documentation (``/docs``, Swagger UI; ``/redoc``, ReDoc), offline.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN, so on a network
without one they stay blank, and their inline ``<script>`` breaks under the
Content-Security-Policy of the gateway's HTML answers (scripts from ``'self'`` only).
Here the assets come from the ``fastapi-offline`` package (its ``static`` folder,
found with ``importlib.resources``), the pages are ours, and the one script of our own
(``docs_assets/swagger-init.js``) is a file served beside them, as is the style sheet
that follows the reader's dark scheme (``docs_assets/swagger-dark.css``). Every path lives under
``/docs`` or ``/redoc``: the rest of the root belongs to the SPA.

Swagger UI's ``oauth2-redirect`` page is not served: the API declares no OAuth2
security scheme, so Swagger never opens it.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from gateway.web.negotiation import accepted_encodings, etag_matches

ASSETS_PATH = "/docs/assets"
# They change only with the package (or gateway) version, and the pages name them with
# a content hash (``?v=``), so a day is safe and an upgrade is seen at once.
ASSET_CACHE = "public, max-age=86400"

_VENDOR = files("fastapi_offline") / "static"
_OWN = files("gateway.web") / "docs_assets"

_FILES: dict[str, tuple[Traversable, str]] = {
    "swagger-ui-bundle.js": (_VENDOR, "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_VENDOR, "text/css; charset=utf-8"),
    "redoc.standalone.js": (_VENDOR, "text/javascript; charset=utf-8"),
    "favicon.png": (_VENDOR, "image/png"),
    "swagger-init.js": (_OWN, "text/javascript; charset=utf-8"),
    "swagger-dark.css": (_OWN, "text/css; charset=utf-8"),
}

# ReDoc's sidebar shows a logo fetched from its CDN: offline that is a request to the
# outside on every page view (and a CSP violation). An empty data: URL fails to decode,
# and ReDoc then drops the image (its onError handler), keeping the text link.
_PATCHES: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    "redoc.standalone.js": ((b'"https://cdn.redoc.ly/redoc/logo-mini.svg"', b'"data:,"'),),
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


@cache
def asset(name: str) -> Asset:
    """One asset, read and compressed once per process (on first use, not at import)."""
    folder, media_type = _FILES[name]
    body = (folder / name).read_bytes()
    for old, new in _PATCHES.get(name, ()):
        body = body.replace(old, new)
    text = media_type.startswith("text/")
    gzipped = gzip.compress(body, compresslevel=6, mtime=0) if text else None
    return Asset(body, gzipped, media_type, hashlib.sha256(body).hexdigest()[:16])


def _url(request: Request, name: str) -> str:
    root = request.scope.get("root_path", "")
    return f"{root}{ASSETS_PATH}/{name}?v={asset(name).etag}"


def _page(title: str, head: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def add_docs(app: FastAPI, csp: str) -> None:
    """Register ``/docs``, ``/redoc`` and ``/docs/assets/{name}`` on ``app``, out of the
    schema. ``csp`` is the policy of HTML answers (LR_CSP); ReDoc gets it with one
    addition (see ``redoc_csp``).

    The handlers are plain functions, run in the thread pool: the first answer reads
    and compresses a few MB of assets, which must not stall the event loop."""
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        head = (
            f'<link rel="icon" type="image/png" href="{_url(request, "favicon.png")}">\n'
            f'<link rel="stylesheet" href="{_url(request, "swagger-ui.css")}">\n'
            # the reader's dark scheme (Swagger UI has a light theme only)
            '<meta name="color-scheme" content="light dark">\n'
            f'<link rel="stylesheet" href="{_url(request, "swagger-dark.css")}">\n'
        )
        body = (
            f'<div id="swagger-ui" data-openapi-url="{escape(root + openapi_url)}"></div>\n'
            f'<script src="{_url(request, "swagger-ui-bundle.js")}"></script>\n'
            f'<script src="{_url(request, "swagger-init.js")}"></script>\n'
        )
        return HTMLResponse(_page(title, head, body), headers={"Cache-Control": "no-cache"})

    @app.api_route("/redoc", methods=["GET", "HEAD"], include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        head = (
            f'<link rel="icon" type="image/png" href="{_url(request, "favicon.png")}">\n'
            "<style>body { margin: 0; padding: 0; }</style>\n"
        )
        # The standalone bundle starts itself on a <redoc spec-url> element: no init
        # script is needed.
        body = (
            f'<redoc spec-url="{escape(root + openapi_url)}"></redoc>\n'
            f'<script src="{_url(request, "redoc.standalone.js")}"></script>\n'
        )
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": redoc_csp(csp)}
        return HTMLResponse(_page(f"{title} – ReDoc", head, body), headers=headers)

    @app.api_route(ASSETS_PATH + "/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    def docs_asset(name: str, request: Request) -> Response:
        if name not in _FILES:
            raise HTTPException(404, "no such documentation asset")
        found = asset(name)
        headers = {
            "Cache-Control": ASSET_CACHE,
            "ETag": f'"{found.etag}"',
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        if etag_matches(request.headers.get("if-none-match", ""), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        if found.gzipped is not None and "gzip" in accepted_encodings(
            request.headers.get("accept-encoding")
        ):
            headers["Content-Encoding"] = "gzip"
            return Response(found.gzipped, media_type=found.media_type, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)


def redoc_csp(csp: str) -> str:
    """The HTML policy plus ``worker-src blob:``, for the ReDoc page only.

    ReDoc's standalone bundle runs its search in a Web Worker made from a ``blob:`` URL
    of code inside the bundle. Under the plain policy the page renders, but the worker
    is refused (a CSP error in the console) and search finds nothing. Only a script the
    page already runs (``script-src`` stays ``'self'``) can create such a URL, so this
    widens nothing an injected script could not already do. A policy that sets its own
    ``worker-src`` (LR_CSP) is left as it is.
    """
    if "worker-src" in csp:
        return csp
    return f"{csp.rstrip().rstrip(';')}; worker-src blob:"
