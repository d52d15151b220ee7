"""The one error tree of the gateway: every error it answers, with its status, its code
and what the code means.

::

    GatewayError                      500  INTERNAL_ERROR
    ├── InvalidRequest                400  VALIDATION_ERROR
    │   ├── NameInvalid               400  NAME_INVALID
    │   ├── TagInvalid                400  TAG_INVALID
    │   ├── DigestInvalid             400  DIGEST_INVALID
    │   ├── PaginationNumberInvalid   400  PAGINATION_NUMBER_INVALID
    │   └── HttpInvalid               400  HTTP_INVALID (uvicorn could not parse the request)
    │       (and the registry's own 400 codes, passed on: MANIFEST_INVALID, UNSUPPORTED, ...)
    ├── Unauthorized                  401  UNAUTHORIZED (never with WWW-Authenticate: Basic)
    ├── Forbidden                     403  DENIED (the registry refuses this caller)
    │   ├── DeleteDisabled            403  DELETE_DISABLED
    │   └── CsrfFailed                403  CSRF_FAILED
    ├── NotFound                      404  NOT_FOUND (no such route)
    │   ├── NameUnknown               404  NAME_UNKNOWN
    │   ├── ManifestUnknown           404  MANIFEST_UNKNOWN
    │   ├── BlobUnknown               404  BLOB_UNKNOWN
    │   ├── BlobUploadUnknown         404  BLOB_UPLOAD_UNKNOWN
    │   ├── PlanUnknown               404  PLAN_UNKNOWN
    │   └── FileUnknown               404  FILE_UNKNOWN (no regular file at that path)
    ├── Unsupported                   405  UNSUPPORTED (the registry refuses the operation)
    ├── MethodNotAllowed              405  METHOD_NOT_ALLOWED (no route takes the method)
    ├── PlanStale                     409  PLAN_STALE
    ├── PayloadTooLarge               413  PAYLOAD_TOO_LARGE
    ├── ManifestTooLarge              413  SIZE_INVALID (a manifest pushed through /v2)
    ├── LayerTooLarge                 413  LAYER_TOO_LARGE (compressed or expanded bound)
    ├── NotAFilesystem                422  NOT_A_FILESYSTEM (the blob is not a tar)
    ├── ForeignLayer                  422  FOREIGN_LAYER (non-distributable: never fetched)
    ├── TooManyRequests               429  TOOMANYREQUESTS (+ Retry-After)
    ├── SessionStoreUnavailable       503  SESSION_STORE_UNAVAILABLE (Redis, for sessions)
    ├── LayerIndexUnavailable         503  LAYER_INDEX_UNAVAILABLE (the layer index store)
    ├── ActivityStoreUnavailable      503  ACTIVITY_UNAVAILABLE (the activity log's store)
    ├── HttpError                     any  HTTP_ERROR (a status no other class answers)
    └── UpstreamError                      the registry failed us
        ├── UpstreamUnavailable       502  UPSTREAM_UNAVAILABLE (503: the registry is unreachable)
        ├── UpstreamTimeout           504  UPSTREAM_TIMEOUT
        │   └── DeadlinePassed        504  UPSTREAM_TIMEOUT (the request's deadline)
        ├── UpstreamInvalid           502  UPSTREAM_INVALID
        │   └── ReferrersTagNotAnIndex 502 UPSTREAM_INVALID (a referrers tag, not an index)
        └── RealmNotAllowed           502  REALM_NOT_ALLOWED

The first paragraph of each class's docstring is what its code means: the OpenAPI
document lists it under every operation that can answer it (``meaning``). The gateway's
own codes are classes; ``code=`` only passes the registry's own code on (a 400 such as
MANIFEST_INVALID: ``gateway.registry.upstream_errors``). Services
raise these and catch them by type, never by comparing code strings; one renderer
(``gateway.error_answer``) turns them into ``{"error": {"code", "message", "detail"}}``
(on /v2, the registry's ``{"errors": [...]}``), for the exception handlers and the
middleware alike. Registry statuses are mapped to this tree in one place:
``gateway.registry.upstream_errors``.

One rule says which failures abort a whole answer made of rows (``aborts``): those about
the caller, not about a row — a login is needed (401), the registry asks everyone to
wait (429, with Retry-After), the session store does not answer (503) — and, when every
row is of one repository, the registry refusing the caller that repository (403). Any
other failure of one row (a repository's tag count, a tag's details, a child of an
index) is that row's ``error``, and the answer goes on with the others.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """an unexpected error"""

    status: int = 500
    code: str = "INTERNAL_ERROR"
    aborts_page: bool = False  # about the caller: see ``aborts``
    denies_repository: bool = False  # the registry refuses the caller a repository
    #: What the code means at another status than the class's own (``meaning``).
    status_meanings: dict[int, str] = {}

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
            self.code = code  # the registry's own code, passed on
        if status is not None:
            self.status = status
        self.detail = detail
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        """The answer's document (``gateway.error_answer`` renders it)."""
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}

    def again(self) -> GatewayError:
        """A fresh error of the same kind, status and text (raised for another answer)."""
        copy = type(self).__new__(type(self))
        GatewayError.__init__(
            copy,
            self.message,
            code=self.code,
            detail=self.detail,
            status=self.status,
            headers=self.headers,
        )
        return copy


def refuses_operation(exc: GatewayError) -> bool:
    """Whether the registry answered that it does not do this at all: a 405, or a 400
    UNSUPPORTED (its own code), as some registries answer a tag delete."""
    return isinstance(exc, Unsupported) or (
        isinstance(exc, InvalidRequest) and exc.code == Unsupported.code
    )


def aborts(exc: GatewayError, *, one_repository: bool) -> bool:
    """Whether a row's failure aborts the whole answer (see the module's docstring);
    ``one_repository``: every row of the answer is of the same repository."""
    return exc.aborts_page or (one_repository and exc.denies_repository)


# -- 400 ------------------------------------------------------------------------------------


class InvalidRequest(GatewayError):
    """a query parameter or body field is invalid; detail lists each problem as {loc, msg,
    type}"""

    status = 400
    code = "VALIDATION_ERROR"


class NameInvalid(InvalidRequest):
    """the repository name is not valid (detail.name)"""

    code = "NAME_INVALID"


class TagInvalid(InvalidRequest):
    """the tag is not valid (detail.tag)"""

    code = "TAG_INVALID"


class DigestInvalid(InvalidRequest):
    """not a sha256 digest (detail.digest)"""

    code = "DIGEST_INVALID"


class PaginationNumberInvalid(InvalidRequest):
    """the registry refused the page size of its own list walk (set LR_CATALOG_PAGE_SIZE to
    the registry's maximum)

    Also a ``n`` outside 0…1000 on /v2, as the registry answers it."""

    code = "PAGINATION_NUMBER_INVALID"


class HttpInvalid(InvalidRequest):
    """the request could not be parsed as HTTP/1.1 (uvicorn answers it, the app never sees
    it)"""

    code = "HTTP_INVALID"


# -- 401, 403 -------------------------------------------------------------------------------


class Unauthorized(GatewayError):
    """a login is needed, the registry rejected the credentials, or the Basic header is
    malformed; an ended session answers detail = {"session": "expired"} and clears the
    cookie (show the login form)"""

    status = 401
    code = "UNAUTHORIZED"
    aborts_page = True


class Forbidden(GatewayError):
    """the registry refuses this caller"""

    status = 403
    code = "DENIED"
    denies_repository = True


class DeleteDisabled(Forbidden):
    """deletes are off on this gateway (LR_DELETE_ENABLED); nothing was sent to the
    registry"""

    code = "DELETE_DISABLED"
    denies_repository = False


class CsrfFailed(Forbidden):
    """a state-changing request with the session cookie (or a login) lacks
    X-Requested-With: XMLHttpRequest, or comes from a foreign Origin"""

    code = "CSRF_FAILED"
    denies_repository = False


# -- 404 ------------------------------------------------------------------------------------


class NotFound(GatewayError):
    """no such route"""

    status = 404
    code = "NOT_FOUND"


class NameUnknown(NotFound):
    """no such repository"""

    code = "NAME_UNKNOWN"


class ManifestUnknown(NotFound):
    """no such tag or digest in this repository, or a manifest type the gateway does not
    show (detail.media_type)"""

    code = "MANIFEST_UNKNOWN"


class BlobUnknown(NotFound):
    """no such blob in this repository"""

    code = "BLOB_UNKNOWN"


class BlobUploadUnknown(NotFound):
    """no such blob upload"""

    code = "BLOB_UPLOAD_UNKNOWN"


class PlanUnknown(NotFound):
    """no such retention plan for this caller, or it expired (preview again)"""

    code = "PLAN_UNKNOWN"


# -- 405 to 429 -----------------------------------------------------------------------------


class FileUnknown(NotFound):
    """No regular file at that path (a symlink is not followed: the message names it)."""

    code = "FILE_UNKNOWN"


class Unsupported(GatewayError):
    """the registry does not allow deletes (storage.delete.enabled is off)"""

    status = 405
    code = "UNSUPPORTED"


class MethodNotAllowed(GatewayError):
    """no route takes this method on this path (Allow lists those that do)"""

    status = 405
    code = "METHOD_NOT_ALLOWED"


class PlanStale(GatewayError):
    """the repository changed since the retention preview; nothing was deleted"""

    status = 409
    code = "PLAN_STALE"


class PayloadTooLarge(GatewayError):
    """the request body is over the limit (64 KiB; 4 MiB for /api/events)"""

    status = 413
    code = "PAYLOAD_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request bodies are limited to {limit} bytes")


class ManifestTooLarge(GatewayError):
    """a manifest pushed through /v2 is over 4 MiB (what distribution takes)"""

    status = 413
    code = "SIZE_INVALID"

    def __init__(self, limit: int) -> None:
        super().__init__(f"manifests are limited to {limit} bytes", detail={"limit": limit})


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


class TooManyRequests(GatewayError):
    """try again later (after Retry-After, when the registry sent one)"""

    status = 429
    code = "TOOMANYREQUESTS"
    aborts_page = True


class LayerIndexUnavailable(GatewayError):
    """the layer indexes kept on disk (LR_DATA_DIR/layers.sqlite3) cannot be read or
    written now (disk full, permissions, corruption): files inside images cannot be
    listed or read; the rest of the gateway is not affected"""

    status = 503
    code = "LAYER_INDEX_UNAVAILABLE"


class SessionStoreUnavailable(GatewayError):
    """sessions are kept in Redis (LR_REDIS_URL) and it does not answer: a request with a
    session cookie, and a login, cannot be served now (never as another user); try again
    after Retry-After

    A request that depends on a session is served neither as the service account nor as
    anyone else. Requests without a session cookie are not affected."""

    status = 503
    code = "SESSION_STORE_UNAVAILABLE"
    aborts_page = True


class ActivityStoreUnavailable(GatewayError):
    """the activity log's store cannot be read now (a full or read-only data folder,
    Redis down): the activity feed and the stale report are refused rather than answered
    empty or wrong; try again after Retry-After

    Every other answer goes on without it (tag rows without last_pulled/last_pushed)."""

    status = 503
    code = "ACTIVITY_UNAVAILABLE"
    aborts_page = True


class SearchUnavailable(GatewayError):
    """the search index could not be opened or read on this replica (its file under
    LR_DATA_DIR: disk full, permissions, corruption); everything else still works"""

    status = 503
    code = "SEARCH_UNAVAILABLE"


class HttpError(GatewayError):
    """an HTTP error no other code describes (its status says which)"""

    code = "HTTP_ERROR"


# -- the registry failed us -----------------------------------------------------------------


class UpstreamError(GatewayError):
    """the registry (or its token server) answered 5xx, or the connection broke

    The base of every failure of the registry's (caught as one when any will do)."""

    status = 502
    code = "UPSTREAM_UNAVAILABLE"
    status_meanings = {503: "the registry cannot be reached (connection refused)"}


class UpstreamUnavailable(UpstreamError):
    """The registry failed: a 5xx answer, or a broken connection; 503 when it cannot be
    reached at all."""


class UpstreamTimeout(UpstreamError):
    """the registry (or its token server) did not answer in time"""

    status = 504
    code = "UPSTREAM_TIMEOUT"


class DeadlinePassed(UpstreamTimeout):
    """the registry did not answer within the request deadline

    A call cut short because its request's deadline passed (not because the registry
    was slow past the per-call bound): for a caller whose own deadline is later, the
    same call may still be worth making (see ``gateway.cache.SingleFlight``)."""


class UpstreamInvalid(UpstreamError):
    """the registry answered something malformed: bad JSON, a digest mismatch, an oversized
    document, an unexpected status"""

    code = "UPSTREAM_INVALID"


class ReferrersTagNotAnIndex(UpstreamInvalid):
    """a subject's referrers tag schema tag (``<alg>-<hex>``) holds something other than
    an image index: the gateway neither lists referrers from it nor changes it"""


class RealmNotAllowed(UpstreamError):
    """the registry's token realm is not trusted (LR_TOKEN_REALM_ALLOWLIST)"""

    code = "REALM_NOT_ALLOWED"


#: What the registry could not say right now (down, or slow past the deadline), as
#: opposed to what it said for good: a summary short of such a child is not made.
UNREAD: tuple[type[GatewayError], ...] = (UpstreamUnavailable, UpstreamTimeout)


def _classes(root: type[GatewayError] = GatewayError) -> list[type[GatewayError]]:
    found = [root]
    for sub in root.__subclasses__():
        found.extend(_classes(sub))
    return found


def meaning(code: str, status: int) -> str:
    """What ``code`` means when answered with ``status``: the first paragraph of the
    docstring of the class that declares that code (else, that status) for it."""
    for kind in _classes():
        if kind.code == code and status in kind.status_meanings:
            return kind.status_meanings[status]
    kinds = [k for k in _classes() if k.code == code and k.status == status and k.__doc__]
    home = next((k for k in kinds if "code" in vars(k)), None)
    home = home or next((k for k in kinds if "status" in vars(k)), None)
    if home is None or home.__doc__ is None:
        raise KeyError(code)
    return " ".join(home.__doc__.split("\n\n")[0].split())


# How much of a caller's input an error may echo (in its message or detail).
ECHO_LIMIT = 100


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """User input as an error may echo it: at most ``limit`` characters, then ``…``.

    Every echo goes through here, so a 10,000-character name or digest never comes back
    whole (nor fills a log line or an SPA's error toast).
    """
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


class StreamBroken(Exception):  # noqa: N818 - what happened, not an error answer
    """The registry's stream failed after the gateway's answer had started (a blob cut
    mid-download): nothing can be answered any more, the client's connection is cut so
    it sees a short body. Deliberately not a GatewayError: no handler turns it into an
    answer; it is logged once, as a warning."""
