"""The one envelope assertion: every error the gateway answers is
``{"error": {"code", "message", "detail"}}`` with a non-empty message."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["assert_envelope", "error_of"]


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of an envelope answer (asserting its shape)."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.headers.get("content-type"),
        response.text[:300],
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "detail"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def assert_envelope(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """Assert the status, the envelope and (when given) its code; return the error."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    error = error_of(response)
    if code is not None:
        assert error["code"] == code, error
    return error
