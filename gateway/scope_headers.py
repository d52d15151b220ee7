"""A request header read from the ASGI scope, where no Starlette ``Request`` is built
for it: the middlewares, the warm lanes (before routing) and the error answers. The
ASGI spec has servers send header names lower-cased, so names are compared as given."""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def joined_header(scope: Scope, name: bytes) -> str | None:
    """Every value of header ``name`` (lower-case), joined by commas as one header, or
    None (``If-None-Match`` may come as several lines)."""
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name]
    return ", ".join(values) if values else None
