"""Thin routers: validate, call a service, return a model."""

from __future__ import annotations

from typing import Any

from gateway.models.api import ErrorResponse


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error envelope for these statuses."""
    text = {
        400: "Invalid name, reference or parameter",
        401: "Login required or rejected by the registry",
        403: "Denied by the registry, deletes disabled, or CSRF check failed",
        404: "Unknown repository, manifest, blob or route",
        405: "The registry does not support the operation",
        429: "The registry is rate limiting (Retry-After passed through)",
        502: "The registry failed or answered something malformed",
        503: "The registry is unreachable",
        504: "The registry did not answer in time",
    }
    return {s: {"model": ErrorResponse, "description": text[s]} for s in statuses}


UPSTREAM = (401, 403, 429, 502, 503, 504)
