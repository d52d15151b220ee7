"""The registry's protocol as data: the documents and answers the client returns, the
token scopes it asks for, the headers passed on, and the ``Link`` headers of paged
answers (pure: no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx

from gateway.errors import UpstreamInvalid

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what the registry itself accepts on push
MAX_LIST_BYTES = 64 * 1024 * 1024  # one catalog or tag-list page
MAX_PAGES = 100_000
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes


@dataclass(frozen=True)
class Ping:
    reachable: bool
    status_code: int | None
    api_version: str | None
    auth: str
    latency_ms: float


@dataclass(frozen=True)
class Head:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class BlobProof:
    """A blob this caller may read (``RegistryClient.blob_proof``): whether the registry
    redirected its HEAD (to storage), and the ``Authorization`` it was sent with (None:
    none was needed). ``repr`` never shows the credentials."""

    redirected: bool
    authorization: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Passed:
    """A registry answer passed on as it came (the /v2 proxy): status, the headers worth
    passing on, and the body (empty for HEAD)."""

    status: int
    headers: dict[str, str]
    body: bytes


# Headers of a registry answer that describe its content, passed on by the /v2 proxy.
CONTENT_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "docker-content-digest",
    "etag",
    "oci-filters-applied",
)


def content_headers(response: httpx.Response) -> dict[str, str]:
    return {k: response.headers[k] for k in CONTENT_HEADERS if k in response.headers}


# Headers of an upload or manifest PUT answer, passed on by the /v2 proxy.
UPLOAD_HEADERS = (
    "location",
    "range",
    "docker-upload-uuid",
    "docker-content-digest",
    "oci-subject",
    "content-length",
)


def upload_headers(response: httpx.Response) -> dict[str, str]:
    return {k: response.headers[k] for k in UPLOAD_HEADERS if k in response.headers}


def pull_scope(name: str) -> str:
    return f"repository:{name}:pull"


def push_scope(name: str) -> str:
    return f"repository:{name}:pull,push"


def delete_scope(name: str) -> str:
    return f"repository:{name}:delete"


CATALOG_SCOPE = "registry:catalog:*"


def next_link(header: str | None) -> dict[str, str] | None:
    """``n``/``last`` of a ``Link: <…>; rel="next"`` header, and nothing else of it.

    The URL is never followed as given: only its query is kept, and the next request is
    rebuilt against the configured registry, whatever host the Link names.
    """
    if not header:
        return None
    m = _LINK_RE.search(header)
    if not m:
        return None
    query = dict(parse_qsl(urlsplit(m.group(1)).query, keep_blank_values=True))
    out = {k: v for k, v in query.items() if k in ("n", "last") and v}
    return out if "last" in out else None


MAX_REFERRER_PAGES = 100


@dataclass(frozen=True)
class ReferrersAnswer:
    """The registry's referrers of one digest: raw descriptors, and the filters it says
    it applied to all of them."""

    descriptors: list[dict[str, object]]
    filters_applied: frozenset[str]


def referrers_next(header: str | None, path: str) -> dict[str, str] | None:
    """The query of a referrers answer's ``Link: <…>; rel="next"``, when it names the
    same referrers path; the request is rebuilt against the configured registry."""
    if not header:
        return None
    m = _LINK_RE.search(header)
    if not m:
        return None
    parts = urlsplit(m.group(1))
    if parts.path != path:
        raise UpstreamInvalid("the registry's referrers Link names another path")
    return dict(parse_qsl(parts.query, keep_blank_values=True))
