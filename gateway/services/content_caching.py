"""How long a browser may keep an answer named by its digest (a manifest by digest, a
blob): what it names never changes. ``private`` unless the caller is anonymous, so no
shared cache keeps one user's content for another (issue 19)."""

from __future__ import annotations

from gateway.registry.credentials import Caller

#: How long a browser may keep what is named by its digest.
IMMUTABLE = "max-age=31536000, immutable"


def content_cache_control(caller: Caller) -> str:
    """``Cache-Control`` of an answer named by its digest (a manifest by digest, a blob):
    kept by the browser; by shared caches too only when no credentials were needed."""
    return ("public, " if caller.credentials is None else "private, ") + IMMUTABLE
