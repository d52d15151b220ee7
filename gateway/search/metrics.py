"""What the search index counts: plain integers bumped where things happen, turned into
Prometheus families only when scraped (``families``), like the gateway's other
collected-at-scrape figures (``gateway.telemetry``). Labels are the query kinds and
fixed outcomes only: never a repository, tag or digest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .query import KINDS


@dataclass
class SearchMetrics:
    searches: Counter[str] = field(default_factory=Counter)  # by query kind
    search_seconds: float = 0.0
    tag_lists: int = 0  # full tag lists applied (a walk's progress)
    tag_lists_unchanged: int = 0  # ...of which the same as last time (nothing written)
    events: int = 0  # pushes and deletes applied from notifications or writes
    documents: int = 0  # manifests and indexes recorded
    documents_refused: int = 0  # bytes that were not the digest's, or not a manifest
    sboms: int = 0  # SBOM documents parsed
    # As of the last write (no query at scrape time):
    repositories: int = 0
    images: int = 0
    pending_documents: int = 0


def families(metrics: SearchMetrics, index_bytes: int) -> Iterator[Metric]:
    searches = CounterMetricFamily(
        "lr_search_queries", "Searches answered from the index, by kind", labels=["kind"]
    )
    for kind in KINDS:
        searches.add_metric([kind], metrics.searches.get(kind, 0))
    yield searches
    seconds = CounterMetricFamily(
        "lr_search_query_seconds", "Time spent answering searches from the index"
    )
    seconds.add_metric([], metrics.search_seconds)
    yield seconds
    lists = CounterMetricFamily(
        "lr_search_walk_tag_lists",
        "Whole tag lists applied to the index, by outcome (changed, unchanged)",
        labels=["outcome"],
    )
    lists.add_metric(["changed"], metrics.tag_lists - metrics.tag_lists_unchanged)
    lists.add_metric(["unchanged"], metrics.tag_lists_unchanged)
    yield lists
    documents = CounterMetricFamily(
        "lr_search_walk_documents",
        "Manifests and indexes given to the index, by outcome (recorded, refused)",
        labels=["outcome"],
    )
    documents.add_metric(["recorded"], metrics.documents)
    documents.add_metric(["refused"], metrics.documents_refused)
    yield documents
    sboms = CounterMetricFamily("lr_search_walk_sboms", "SBOM documents read for packages")
    sboms.add_metric([], metrics.sboms)
    yield sboms
    events = CounterMetricFamily(
        "lr_search_events", "Pushes and deletes applied to the index as they happened"
    )
    events.add_metric([], metrics.events)
    yield events
    size = GaugeMetricFamily("lr_search_index_bytes", "Size of the search index on disk")
    size.add_metric([], index_bytes)
    yield size
    repos = GaugeMetricFamily("lr_search_index_repositories", "Repositories in the index")
    repos.add_metric([], metrics.repositories)
    yield repos
    images = GaugeMetricFamily("lr_search_index_images", "Tagged images in the index")
    images.add_metric([], metrics.images)
    yield images
    pending = GaugeMetricFamily(
        "lr_search_index_pending_documents", "Tagged manifests whose documents are still to read"
    )
    pending.add_metric([], metrics.pending_documents)
    yield pending
