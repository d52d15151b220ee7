"""Counting upstream requests: per gateway request (for the log line) and in total."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    upstream: int = 0
    paths: list[str] = field(default_factory=list)


current_stats: ContextVar[RequestStats | None] = ContextVar("lr_request_stats", default=None)


@dataclass
class UpstreamTotals:
    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.requests += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        stats = current_stats.get()
        if stats is not None:
            stats.upstream += 1


def kind_of(path: str) -> str:
    """A coarse label for an upstream path, with no repository names or secrets in it."""
    if path.endswith("/_catalog"):
        return "catalog"
    for marker, kind in (
        ("/tags/list", "tags"),
        ("/manifests/", "manifest"),
        ("/blobs/uploads", "upload"),
        ("/blobs/", "blob"),
    ):
        if marker in path:
            return kind
    return "ping" if path.rstrip("/").endswith("/v2") else "token"
