"""Counting upstream requests: per gateway request (for the log line) and in total."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    """What one gateway request asked of the registry: requests sent to it (not to a
    token server: the registry never sees those) and the body bytes read from it."""

    upstream: int = 0
    upstream_bytes: int = 0
    paths: list[str] = field(default_factory=list)
    # Lookups of the data caches (catalog, tag lists, tag->digest, content by digest)
    # made for this request, reported by the cached-registry layer: the access log's
    # ``cache`` field.
    cache_hits: int = 0
    cache_misses: int = 0
    # Something was answered from past its cache period (LR_STALE_TTL) while it is read
    # again: the answer is not kept for the warm lane.
    stale: bool = False

    def note_cache(self, *, hit: bool) -> None:
        if hit:
            self.cache_hits += 1
        else:
            self.cache_misses += 1

    @property
    def cache(self) -> str:
        """``hit`` when every lookup noted was answered from cache, ``miss`` when any
        was not, ``none`` when no lookup was noted."""
        if self.cache_misses:
            return "miss"
        return "hit" if self.cache_hits else "none"


current_stats: ContextVar[RequestStats | None] = ContextVar("lr_request_stats", default=None)


def note_stale() -> None:
    """The current request is answered with something past its cache period."""
    stats = current_stats.get()
    if stats is not None:
        stats.stale = True


def note_cache(*, hit: bool) -> None:
    """Note a cache lookup on the current request's stats (nothing outside a request)."""
    stats = current_stats.get()
    if stats is not None:
        stats.note_cache(hit=hit)


@dataclass
class UpstreamTotals:
    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.requests += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        stats = current_stats.get()
        if stats is not None and kind != NOT_THE_REGISTRY:
            stats.upstream += 1


def note_bytes(count: int) -> None:
    """Body bytes just read from the registry, on the current request's stats."""
    stats = current_stats.get()
    if stats is not None:
        stats.upstream_bytes += count


#: The kind of a request sent to the token server, not to the registry.
NOT_THE_REGISTRY = "token"  # noqa: S105 - a label, not a secret


def kind_of(path: str) -> str:
    """A coarse label for an upstream path, with no repository names or secrets in it."""
    if path.endswith("/_catalog"):
        return "catalog"
    for marker, kind in (
        ("/tags/list", "tags"),
        ("/manifests/", "manifest"),
        ("/blobs/uploads", "upload"),
        ("/blobs/", "blob"),
        ("/referrers/", "referrers"),
    ):
        if marker in path:
            return kind
    return "ping" if path.rstrip("/").endswith("/v2") else NOT_THE_REGISTRY
