"""Thin routers: validate, call a service, return a model.

``errors()`` documents an operation's error answers: for each status, the ``error.code``
values it can carry and what each means (by default the meaning its class in
``gateway.errors`` gives), so a frontend developer can branch on codes from the schema
alone. The lists are per operation and follow the code paths (the
dependencies that validate names and read the caller, the services, the registry
mapping in ``gateway.registry.upstream_errors``, the CSRF and body-size middleware).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import meaning
from gateway.models.api import ErrorResponse

# A code, or a code with what it means for this operation.
Code = str | tuple[str, str]
ErrorSpec = Mapping[int, Sequence[Code]]

TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Not allowed by the registry",
    409: "Conflict",
    413: "Request body too large",
    429: "The registry is rate limiting (its Retry-After header is passed through)",
    502: "The registry failed or answered something unusable",
    503: "The registry is unreachable",
    504: "The registry did not answer in time",
}

# What a bare status in ``errors(...)`` lists.
DEFAULT_CODES: dict[int, tuple[str, ...]] = {
    400: ("VALIDATION_ERROR", "NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID"),
    401: ("UNAUTHORIZED",),
    403: ("DENIED", "DELETE_DISABLED", "CSRF_FAILED"),
    404: ("NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND"),
    405: ("UNSUPPORTED",),
    413: ("PAYLOAD_TOO_LARGE",),
    429: ("TOOMANYREQUESTS",),
    502: ("UPSTREAM_UNAVAILABLE", "UPSTREAM_INVALID", "REALM_NOT_ALLOWED"),
    503: ("UPSTREAM_UNAVAILABLE",),
    504: ("UPSTREAM_TIMEOUT",),
}

# Every call made to the registry as the caller can fail so.
UPSTREAM: dict[int, tuple[Code, ...]] = {
    401: ("UNAUTHORIZED",),
    403: ("DENIED",),
    429: ("TOOMANYREQUESTS",),
    502: ("UPSTREAM_UNAVAILABLE", "UPSTREAM_INVALID", "REALM_NOT_ALLOWED"),
    503: ("UPSTREAM_UNAVAILABLE",),
    504: ("UPSTREAM_TIMEOUT",),
}
# Sessions kept in Redis: a call that needs one answers 503 while Redis does not.
SESSION_STORE: dict[int, tuple[Code, ...]] = {503: ("SESSION_STORE_UNAVAILABLE",)}
# State-changing requests under /api pass the CSRF check and the body limit first.
STATE_CHANGING: dict[int, tuple[Code, ...]] = {
    403: ("CSRF_FAILED",),
    413: ("PAYLOAD_TOO_LARGE",),
}


def _line(status: int, code: Code) -> tuple[str, str]:
    """A code and what it means here: given for this operation, or its class's meaning."""
    return code if isinstance(code, tuple) else (code, meaning(code, status))


def _response(status: int, codes: Sequence[Code]) -> dict[str, Any]:
    lines = [_line(status, code) for code in codes]
    title = TITLES.get(status, "Error")
    listed = "\n".join(f"- `{code}`: {meaning}" for code, meaning in lines)
    text = f"{title}. `error.code` is one of:\n\n{listed}" if lines else f"{title}."
    # The same list, machine-readable (an OpenAPI extension): for client generators and
    # for the test that keeps every error response documented.
    return {"model": ErrorResponse, "description": text, "x-error-codes": [c for c, _ in lines]}


def errors(*specs: int | ErrorSpec) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error envelope, status by status, with its codes.

    Each spec is a mapping ``{status: [code or (code, meaning), ...]}`` (merged in
    order, codes de-duplicated, a given meaning winning) or a bare status, which lists
    ``DEFAULT_CODES``.
    """
    merged: dict[int, dict[str, Code]] = {}
    for spec in specs:
        items = {spec: DEFAULT_CODES.get(spec, ())} if isinstance(spec, int) else spec
        for status, codes in items.items():
            listed = merged.setdefault(status, {})
            for code in codes:
                name = code if isinstance(code, str) else code[0]
                # A meaning given for this operation wins over the general one.
                if name not in listed or isinstance(code, tuple):
                    listed[name] = code
    return {status: _response(status, list(merged[status].values())) for status in sorted(merged)}
