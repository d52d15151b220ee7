"""The one error tree of the gateway, and the JSON envelope it becomes.

::

    GatewayError                      status, code, message, detail
    ├── InvalidRequest                400  VALIDATION_ERROR, NAME_INVALID, TAG_INVALID, ...
    │   └── DigestInvalid             400  DIGEST_INVALID
    ├── Unauthorized                  401  UNAUTHORIZED (never with WWW-Authenticate: Basic)
    ├── Forbidden                     403  DENIED, DELETE_DISABLED, CSRF_FAILED
    ├── NotFound                      404  NOT_FOUND (no such route)
    │   ├── NameUnknown               404  NAME_UNKNOWN (no such repository, or never tagged)
    │   ├── ManifestUnknown           404  MANIFEST_UNKNOWN
    │   ├── BlobUnknown               404  BLOB_UNKNOWN
    │   └── BlobUploadUnknown         404  BLOB_UPLOAD_UNKNOWN
    ├── Unsupported                   405  UNSUPPORTED (the registry refuses the operation)
    ├── TooManyRequests               429  TOOMANYREQUESTS (+ Retry-After)
    ├── SessionStoreUnavailable       503  SESSION_STORE_UNAVAILABLE (Redis, for sessions)
    └── UpstreamError                      the registry failed us
        ├── UpstreamUnavailable       502/503  UPSTREAM_UNAVAILABLE
        ├── UpstreamTimeout           504  UPSTREAM_TIMEOUT
        ├── UpstreamInvalid           502  UPSTREAM_INVALID (bad JSON, digest mismatch, too big)
        └── RealmNotAllowed           502  REALM_NOT_ALLOWED (a token realm we refuse to trust)

    Files inside images (gateway.layers):
    ├── LayerTooLarge                 413  LAYER_TOO_LARGE (compressed or expanded bound)
    ├── NotAFilesystem                422  NOT_A_FILESYSTEM (the blob is not a tar)
    ├── ForeignLayer                  422  FOREIGN_LAYER (non-distributable: never fetched)
    └── FileUnknown                   404  FILE_UNKNOWN (no regular file at that path)

Services raise these and catch them by type, never by comparing code strings; one
exception handler (``gateway.main``) turns them into ``{"error": {"code", "message",
"detail"}}``. Registry statuses are mapped to this tree in one place:
``gateway.registry.upstream_errors``.

One rule says which failures abort a whole page (``aborts_page``): those about the
caller, not about a row — a login is needed (401), or the registry asks everyone to wait
(429, with Retry-After). Any other failure of one row of a page (a repository's tag
count, a tag's details) is that row's ``error``, and the page answers with the others.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status: int = 500
    code: str = "INTERNAL_ERROR"
    aborts_page: bool = False  # see the module's docstring

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.detail = detail
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class InvalidRequest(GatewayError):
    status = 400
    code = "VALIDATION_ERROR"


class DigestInvalid(InvalidRequest):
    code = "DIGEST_INVALID"


class Unauthorized(GatewayError):
    status = 401
    code = "UNAUTHORIZED"
    aborts_page = True


class Forbidden(GatewayError):
    status = 403
    code = "DENIED"


class NotFound(GatewayError):
    status = 404
    code = "NOT_FOUND"


class NameUnknown(NotFound):
    code = "NAME_UNKNOWN"


class ManifestUnknown(NotFound):
    code = "MANIFEST_UNKNOWN"


class BlobUnknown(NotFound):
    code = "BLOB_UNKNOWN"


class BlobUploadUnknown(NotFound):
    code = "BLOB_UPLOAD_UNKNOWN"


class Unsupported(GatewayError):
    status = 405
    code = "UNSUPPORTED"


class TooManyRequests(GatewayError):
    status = 429
    code = "TOOMANYREQUESTS"
    aborts_page = True


class SessionStoreUnavailable(GatewayError):
    """Sessions are kept in Redis (``LR_REDIS_URL``) and it did not answer: a request
    that depends on a session cannot be served, neither as the service account nor as
    anyone else. Requests without a session cookie are not affected."""

    status = 503
    code = "SESSION_STORE_UNAVAILABLE"
    aborts_page = True


class UpstreamError(GatewayError):
    status = 502
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "UPSTREAM_TIMEOUT"


class UpstreamInvalid(UpstreamError):
    code = "UPSTREAM_INVALID"


class RealmNotAllowed(UpstreamError):
    code = "REALM_NOT_ALLOWED"


# How much of a caller's input an error may echo (in its message or detail).
ECHO_LIMIT = 100


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """User input as an error may echo it: at most ``limit`` characters, then ``…``.

    Every echo goes through here, so a 10,000-character name or digest never comes back
    whole (nor fills a log line or an SPA's error toast).
    """
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def envelope(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


class StreamBroken(Exception):  # noqa: N818 - what happened, not an error answer
    """The registry's stream failed after the gateway's answer had started (a blob cut
    mid-download): nothing can be answered any more, the client's connection is cut so
    it sees a short body. Deliberately not a GatewayError: no handler turns it into an
    answer; it is logged once, as a warning."""


# -- files inside images (gateway.layers) ---------------------------------------------


class LayerTooLarge(GatewayError):
    """The layer is larger than ``LR_LAYER_MAX_BYTES`` or expands beyond
    ``LR_LAYER_MAX_EXPANDED_BYTES`` (a gzip bomb is one): nothing of it is kept."""

    status = 413
    code = "LAYER_TOO_LARGE"


class NotAFilesystem(GatewayError):
    """The blob is not a tar archive (an artifact, a Helm chart's config…)."""

    status = 422
    code = "NOT_A_FILESYSTEM"


class ForeignLayer(GatewayError):
    """A foreign (non-distributable) layer: its bytes live elsewhere, never fetched."""

    status = 422
    code = "FOREIGN_LAYER"


class FileUnknown(NotFound):
    """No regular file at that path (a symlink is not followed: the message names it)."""

    code = "FILE_UNKNOWN"
