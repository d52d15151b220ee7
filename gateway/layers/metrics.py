"""Plain counters of the layer engine, and the metric families the app's collector can
chain to its own (read at scrape time, like the caches' counters: nothing per request
but an integer increment)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric


@dataclass
class LayerCounters:
    index_builds: int = 0  # layer reads that completed into an index
    index_failures: int = 0  # layer reads that ended in an error (nothing kept)
    index_hits: int = 0  # asks answered by an index already on disk
    index_joins: int = 0  # asks that joined a read already running
    bytes_indexing: int = 0  # blob bytes read to build indexes
    bytes_file_reads: int = 0  # blob bytes read to serve files and previews
    evictions: int = 0  # indexes dropped to stay within LR_LAYER_INDEX_BYTES


def families(
    counters: LayerCounters, index_disk_bytes: int, reads_running: int
) -> Iterator[Metric]:
    builds = CounterMetricFamily(
        "lr_layer_index_builds", "Layer reads by outcome (ok: an index kept)", labels=["outcome"]
    )
    builds.add_metric(["ok"], counters.index_builds)
    builds.add_metric(["error"], counters.index_failures)
    yield builds
    hits = CounterMetricFamily("lr_layer_index_hits", "Asks answered by a layer index on disk")
    hits.add_metric([], counters.index_hits)
    yield hits
    joins = CounterMetricFamily(
        "lr_layer_index_joins", "Asks that waited on a layer read already running"
    )
    joins.add_metric([], counters.index_joins)
    yield joins
    read = CounterMetricFamily(
        "lr_layer_bytes_read", "Blob bytes read from the registry by purpose", labels=["purpose"]
    )
    read.add_metric(["index"], counters.bytes_indexing)
    read.add_metric(["file"], counters.bytes_file_reads)
    yield read
    evictions = CounterMetricFamily(
        "lr_layer_index_evictions", "Layer indexes dropped to stay within LR_LAYER_INDEX_BYTES"
    )
    evictions.add_metric([], counters.evictions)
    yield evictions
    disk = GaugeMetricFamily("lr_layer_index_disk_bytes", "Bytes of the layer index database")
    disk.add_metric([], index_disk_bytes)
    yield disk
    running = GaugeMetricFamily("lr_layer_reads_running", "Layer reads in progress")
    running.add_metric([], reads_running)
    yield running
