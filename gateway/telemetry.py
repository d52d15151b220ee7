"""Prometheus metrics: one ``CollectorRegistry`` per app, never the global default one.

What is counted on the hot path is a counter increment or a histogram observation
(``prometheus_client``'s own values, no lock of ours). What already lives in plain
integers — cache hits and misses, evictions, single-flight waits, token fetches and
renewals — and the sizes of caches and of the session store are read at scrape time by
a collector (``Metrics.source``: ``gateway.state_metrics``, set by the app), so they
cost nothing per request.

Labels are low-cardinality by construction: route *templates* (``unmatched`` for the
gateway's own paths that no route matched), upstream operations (``kind_of``), status
codes, cache names. Never a repository, tag, digest, user or raw path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

#: The methods that get a label of their own; any other is ``other`` (clients choose it).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a gateway path (``/api/…``, ``/v2/…``) that no route matched.
UNMATCHED = "unmatched"
#: Where ``httpx`` requests carry the time they were sent (set by a request hook).
STARTED = "lr_started"


class _SourceCollector(Collector):
    """Yields whatever the current source (the running app's state) reports."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        source = self._metrics.source
        if source is not None:
            yield from source()


class Metrics:
    """Every metric family of one app, registered on the app's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "lr_http_requests",
            "Requests answered by the gateway, by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "lr_http_request_duration_seconds",
            "Time to answer a request (a blob download until its last byte)",
            ["method", "route"],
            registry=r,
        )
        self.upstream_requests = Counter(
            "lr_upstream_requests",
            "Requests sent to the registry and its token server, by operation and status "
            "(error: no answer)",
            ["operation", "status"],
            registry=r,
        )
        self.upstream_duration = Histogram(
            "lr_upstream_request_duration_seconds",
            "Time from sending an upstream request to its answer's headers",
            ["operation"],
            registry=r,
        )
        self.blob_bytes = Counter(
            "lr_blob_bytes_streamed",
            "Bytes of blob downloads sent to clients",
            registry=r,
        )
        self.blob_offloads = Counter(
            "lr_blob_offloads",
            "Blob pulls handed to the proxy in front (X-Accel-Redirect); their bytes are "
            "sent by that proxy, not counted in lr_blob_bytes_streamed",
            registry=r,
        )
        self.upload_offloads = Counter(
            "lr_upload_offloads",
            "Blob upload steps (PATCH, PUT) the proxy in front sends to the registry itself "
            "(its auth_request granted by the gateway); their bytes never pass the gateway",
            registry=r,
        )
        #: Reports the collected-at-scrape families (caches, sessions…); set by the app.
        self.source: Callable[[], Iterable[Metric]] | None = None
        r.register(_SourceCollector(self))

    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def upstream_done(self, operation: str, status: str, started: object) -> None:
        self.upstream_requests.labels(operation, status).inc()
        if isinstance(started, float):
            self.upstream_duration.labels(operation).observe(time.perf_counter() - started)


async def counted_stream(chunks: AsyncIterator[bytes], metrics: Metrics) -> AsyncIterator[bytes]:
    """The chunks, each counted in ``lr_blob_bytes_streamed_total`` as it is sent on.
    Closing this closes ``chunks`` at once (the upstream response goes back to its pool)."""
    bytes_streamed = metrics.blob_bytes
    try:
        async for chunk in chunks:
            bytes_streamed.inc(len(chunk))
            yield chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
