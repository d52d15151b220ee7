"""Registry answers and transport failures mapped to the gateway's error tree, in one place."""

from __future__ import annotations

import json
from typing import Literal

import httpx

from gateway.errors import (
    BlobUnknown,
    BlobUploadUnknown,
    DigestInvalid,
    Forbidden,
    GatewayError,
    InvalidRequest,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unsupported,
    UpstreamInvalid,
    UpstreamTimeout,
    UpstreamUnavailable,
)

Subject = Literal["registry", "repository", "manifest", "blob", "catalog"]

_NOT_FOUND_DEFAULT: dict[Subject, type[NotFound]] = {
    "repository": NameUnknown,
    "manifest": ManifestUnknown,
    "blob": BlobUnknown,
    "catalog": NotFound,
    "registry": NotFound,
}
_KNOWN_404: dict[str, type[NotFound]] = {
    kind.code: kind for kind in (NameUnknown, ManifestUnknown, BlobUnknown, BlobUploadUnknown)
}
# The registry's own 400 codes, passed on as they are.
_KNOWN_400 = {
    "NAME_INVALID",
    "TAG_INVALID",
    "DIGEST_INVALID",
    "MANIFEST_INVALID",
    "MANIFEST_UNVERIFIED",
    "MANIFEST_BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "SIZE_INVALID",
    "PAGINATION_NUMBER_INVALID",
    "UNSUPPORTED",
}


def registry_error_codes(body: bytes) -> list[tuple[str, str]]:
    """The ``errors[].code``/``message`` pairs of a registry error body (empty if none)."""
    try:
        doc = json.loads(body[:65536]) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list):
        return []
    out = []
    for err in doc["errors"]:
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            out.append((err["code"].upper()[:64], str(err.get("message") or "")[:300]))
    return out


def error_for_status(
    response: httpx.Response,
    body: bytes,
    subject: Subject,
    *,
    anonymous: bool = False,
    denied_scope: bool = False,
) -> GatewayError:
    """The gateway error for a non-2xx registry answer, given (the start of) its body."""
    status = response.status_code
    codes = registry_error_codes(body)
    code = codes[0][0] if codes else None
    message = codes[0][1] if codes and codes[0][1] else None
    if status == 404:
        kind = _KNOWN_404.get(code or "", _NOT_FOUND_DEFAULT[subject])
        return kind(message or f"{subject} not found")
    if status == 401:
        if denied_scope and not anonymous:
            return Forbidden("the registry denied access for these credentials")
        if anonymous:
            return Unauthorized("the registry requires a login")
        return Unauthorized("the registry rejected the credentials")
    if status == 403:
        return Forbidden(message or "the registry denied access")
    if status == 405:
        return Unsupported(message or "the registry does not support this operation")
    if status == 429:
        headers = {}
        retry_after = response.headers.get("retry-after")
        if retry_after and len(retry_after) < 64 and retry_after.isprintable():
            headers["Retry-After"] = retry_after
        return TooManyRequests(message or "the registry is rate limiting", headers=headers)
    if status == 400 and code == DigestInvalid.code:
        return DigestInvalid(message or "the registry refused the digest")
    if status == 400 and code in _KNOWN_400:
        return InvalidRequest(message or "the registry refused the request", code=code)
    if status >= 500:
        return UpstreamUnavailable("the registry failed", detail={"upstream_status": status})
    return UpstreamInvalid(
        "the registry answered unexpectedly", detail={"upstream_status": status, "code": code}
    )


def error_for_transport(exc: httpx.HTTPError) -> GatewayError:
    """Connection failures, timeouts and protocol errors (never the URL: it may carry secrets)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout("the registry did not answer in time")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamUnavailable("the registry is unreachable", status=503)
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects):
        return UpstreamInvalid("the registry answered something malformed")
    return UpstreamUnavailable("the connection to the registry failed")
