"""The metrics read from the app's state at scrape time: caches, tokens, sessions, Redis.

They live with the state they read (``gateway.telemetry`` knows only its own families
and stays below everything that counts into it); ``gateway.main`` makes them the
source of its ``Metrics`` for the app's life.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.cache import TTLStore
from gateway.search.metrics import families as search_index_families
from gateway.state import AppState


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
    disk = registry.disk
    if disk is not None:  # content on disk (LR_DISK_CACHE_BYTES)
        hits.add_metric(["disk"], disk.hits)
        misses.add_metric(["disk"], disk.misses)
        evictions.add_metric(["disk"], disk.evictions)
        entries.add_metric(["disk"], len(disk))
        size.add_metric(["disk"], disk.total)
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
    yield from state.files.engine.metric_families()  # files inside images
    yield from state.activity.activity.metric_families()
    yield from _search_families(state)

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


def _search_families(state: AppState) -> Iterator[Metric]:
    """The search index (its size, what it holds, searches by kind) and its walks."""
    service, walker = state.search, state.search_walker
    if service is None or service.index is None:
        return
    yield from search_index_families(service.index.metrics, service.index.size_bytes())
    if walker is None:
        return
    progress = walker.progress
    passes = CounterMetricFamily("lr_search_walk_passes", "Passes of the search index's walk")
    passes.add_metric([], progress.passes)
    repos = CounterMetricFamily(
        "lr_search_walk_repositories", "Tag lists the search index's walks read"
    )
    repos.add_metric([], progress.repositories)
    units = CounterMetricFamily(
        "lr_search_walk_reads", "Documents and SBOM lookups the search index's walks read"
    )
    units.add_metric([], progress.units)
    failures = CounterMetricFamily(
        "lr_search_walk_failures", "Repositories a walk could not read (read again next pass)"
    )
    failures.add_metric([], progress.failures)
    running = GaugeMetricFamily("lr_search_walks_running", "Search index walks running now")
    running.add_metric([], progress.running)
    upstream = CounterMetricFamily(
        "lr_search_walk_upstream_requests",
        "Requests the search index's walks and notification reads sent to the registry",
    )
    upstream.add_metric([], progress.stats.upstream)
    yield from (passes, repos, units, failures, running, upstream)
