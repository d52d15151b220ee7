"""Prometheus metrics: one ``CollectorRegistry`` per app, never the global default one.

What is counted on the hot path is a counter increment or a histogram observation
(``prometheus_client``'s own values, no lock of ours). What already lives in plain
integers — cache hits and misses, evictions, single-flight waits, token fetches and
renewals — and the sizes of caches and of the session store are read at scrape time by
a collector (``Metrics.source``), so they cost nothing per request.

Labels are low-cardinality by construction: route *templates* (``unmatched`` for the
gateway's own paths that no route matched), upstream operations (``kind_of``), status
codes, cache names. Never a repository, tag, digest, user or raw path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gateway.cache import TTLStore
    from gateway.state import AppState

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
        #: Reports the collected-at-scrape families (caches, sessions…); set by the state.
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


def state_families(state: AppState) -> Iterator[Metric]:
    """The families read from the app's state at scrape time (on the event loop, like
    every other access to these structures, so nothing changes while they are read)."""
    registry = state.registry
    stores: dict[str, TTLStore[Any, Any]] = {
        "catalog": registry.catalogs,
        "tags": registry.tag_lists,
        "tag_digest": registry.tag_digests,
        "access": registry.access,
        "membership": registry.membership,
    }
    hits = CounterMetricFamily("lr_cache_hits", "Cache lookups answered", labels=["cache"])
    misses = CounterMetricFamily("lr_cache_misses", "Cache lookups not answered", labels=["cache"])
    evictions = CounterMetricFamily(
        "lr_cache_evictions",
        "Entries pushed out to make room (expiry is not one)",
        labels=["cache"],
    )
    entries = GaugeMetricFamily("lr_cache_entries", "Entries held", labels=["cache"])
    size = GaugeMetricFamily("lr_cache_bytes", "Bytes held (where known)", labels=["cache"])
    for name, sized in (("content", registry.content), ("models", registry.models)):
        hits.add_metric([name], sized.hits)
        misses.add_metric([name], sized.misses)
        evictions.add_metric([name], sized.evictions)
        entries.add_metric([name], len(sized))
        size.add_metric([name], sized.current_bytes)
    for name, store in stores.items():
        hits.add_metric([name], store.hits)
        misses.add_metric([name], store.misses)
        evictions.add_metric([name], store.evictions)
        entries.add_metric([name], len(store))
    answers = state.answers  # warm answers kept as the bytes sent
    hits.add_metric(["answers"], answers.hits)
    misses.add_metric(["answers"], answers.misses)
    evictions.add_metric(["answers"], answers.evictions)
    entries.add_metric(["answers"], len(answers))
    tokens = state.client.tokens
    entries.add_metric(["token"], len(tokens))
    if state.shared_caches is not None:  # LR_REDIS_URL: the second level, in Redis
        hits.add_metric(["redis"], state.shared_caches.hits)
        misses.add_metric(["redis"], state.shared_caches.misses)
    yield from (hits, misses, evictions, entries, size)
    yield from _shared_families(state)

    waits = CounterMetricFamily(
        "lr_singleflight_waits",
        "Callers that joined an identical upstream call already in flight",
    )
    waits.add_metric([], registry.flights.coalesced)
    yield waits
    fetches = CounterMetricFamily(
        "lr_token_fetches",
        "Answers of the token server read, by outcome (ok, denied, error)",
        labels=["outcome"],
    )
    for outcome in ("ok", "denied", "error"):
        fetches.add_metric([outcome], tokens.fetches.get(outcome, 0))
    yield fetches
    renewals = CounterMetricFamily(
        "lr_token_renewals", "Cached tokens dropped shortly before expiry, to be fetched anew"
    )
    renewals.add_metric([], tokens.renewals)
    yield renewals
    active = state.sessions.active()  # None when they live in Redis (every replica's)
    if active is not None:
        sessions = GaugeMetricFamily("lr_sessions_active", "Login sessions not expired")
        sessions.add_metric([], active)
        yield sessions


def _shared_families(state: AppState) -> Iterator[Metric]:
    """Redis, when replicas share state through it (nothing without LR_REDIS_URL)."""
    store, caches = state.shared, state.shared_caches
    if store is None or caches is None:
        return
    up = GaugeMetricFamily("lr_redis_up", "1 when the last Redis call succeeded")
    up.add_metric([], 1 if store.healthy else 0)
    calls = CounterMetricFamily("lr_redis_calls", "Redis calls made")
    calls.add_metric([], store.calls)
    failures = CounterMetricFamily(
        "lr_redis_failures", "Redis calls that failed or ran out of time (then a miss)"
    )
    failures.add_metric([], store.failures)
    coalesced = CounterMetricFamily(
        "lr_redis_coalesced", "Cold fetches answered by another replica's (the Redis lock)"
    )
    coalesced.add_metric([], caches.coalesced)
    received = CounterMetricFamily(
        "lr_redis_invalidations_received", "Other replicas' invalidations applied here"
    )
    received.add_metric([], caches.bus.received)
    yield from (up, calls, failures, coalesced, received)


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
