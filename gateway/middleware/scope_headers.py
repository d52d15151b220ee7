"""A request header read from the ASGI scope, for the middlewares (before any routing,
so no Starlette ``Request`` is built for it)."""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
