"""Parsed documents and derived rows are kept within LR_MODEL_CACHE_BYTES of measured
memory (gateway/sizing.py, gateway/cache.py ModelCache), and what is evicted is derived
again from the content cache: the same answers, with no upstream request."""

from __future__ import annotations

import gc
import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from gateway.cache import ModelCache
from gateway.models import oci
from gateway.sizing import deep_size
from harness.images import make_config
from tests.support.fixtures import FilledRegistry

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "realworld"


def _documents() -> list[tuple[str, bytes]]:
    """Configs and manifests to parse: the real-world ones when ../shared is there, and
    synthetic configs with long histories either way."""
    docs: list[tuple[str, bytes]] = []
    if REALWORLD.is_dir():
        for path in sorted(REALWORLD.glob("*.json")):
            body = path.read_bytes()
            if path.name.startswith("config-"):
                docs.append(("config", body))
            elif path.name.startswith("manifest-"):
                docs.append(("manifest", body))
            elif path.name.startswith(("index-", "list-")):
                docs.append(("index", body))
    for n in (0, 3, 40):
        config = make_config(
            os="linux",
            architecture="arm64",
            variant="v8",
            created="2024-05-01T10:00:00Z",
            diff_ids=[f"sha256:{i:064x}" for i in range(n)],
            env=[f"VAR{i}=value-{i}" for i in range(n)],
            labels={f"label.{i}": "x" * i for i in range(n)},
            cmd=["/bin/sh", "-c", "run"],
            entrypoint=None,
            exposed_ports=None,
            empty_history=n,
        )
        docs.append(("config", config))
    return docs


PARSERS = {"config": oci.parse_config, "manifest": oci.parse_image_manifest}
PARSERS["index"] = oci.parse_index


def test_the_measured_size_is_at_least_what_tracemalloc_sees() -> None:
    """The budget holds: what deep_size charges for parsed documents is not less than
    the memory their parsing left allocated (many copies, so noise averages out)."""
    docs = _documents()
    assert len(docs) >= 3
    copies = 50
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [PARSERS[kind](body) for _ in range(copies) for kind, body in docs]
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    charged = sum(deep_size(model) for model in kept)
    assert charged >= traced * 0.95, (charged, traced)
    # …and not wildly more: the budget is not wasted on phantom bytes.
    assert charged <= traced * 3, (charged, traced)


def test_deep_size_counts_what_a_model_holds() -> None:
    small = oci.parse_config(json.dumps({"architecture": "amd64", "os": "linux"}).encode())
    big = oci.parse_config(
        json.dumps(
            {"architecture": "amd64", "os": "linux", "history": [{"created_by": "x" * 100}] * 200}
        ).encode()
    )
    assert deep_size(big) > deep_size(small) + 200 * 100
    shared = "y" * 10_000
    assert deep_size([shared, shared]) < deep_size([shared, "z" * 10_000])  # counted once


def test_the_model_cache_stays_within_its_budget() -> None:
    cache = ModelCache(200_000)
    body = json.dumps({"architecture": "amd64", "os": "linux", "history": [{}] * 20}).encode()
    for i in range(500):
        cache.put(("config", f"sha256:{i:064x}"), oci.parse_config(body))
        assert cache.current_bytes <= 200_000
    assert 0 < len(cache) < 500
    assert cache.evictions == 500 - len(cache)
    assert cache.get(("config", f"sha256:{499:064x}")) is not None  # the newest stays
    assert cache.get(("config", f"sha256:{0:064x}")) is None  # the oldest went
    huge = oci.parse_config(json.dumps({"history": [{"comment": "c" * 1000}] * 300}).encode())
    cache.put(("config", "sha256:" + "f" * 64), huge)  # larger than the whole budget
    assert cache.get(("config", "sha256:" + "f" * 64)) is None
    assert ModelCache(0).current_bytes == 0


def _models_bytes(client: Any) -> float:
    text = client.get("/metrics").text
    line = re.search(r'^lr_cache_bytes\{cache="models"\} (\S+)$', text, re.M)
    assert line is not None
    return float(line.group(1))


@pytest.mark.parametrize("budget", [0, 40_000])
def test_a_small_budget_gives_the_same_answers_without_upstream_requests(
    registry: FilledRegistry, make_gateway: Any, api: Any, budget: int
) -> None:
    """With models evicted all the time (or never kept), pages are the same as with the
    default budget; a page built again from the content cache asks the registry
    nothing."""
    repos = sorted({key.split(":")[0] for key in registry.content.images})
    with make_gateway(registry.url, model_cache_bytes=budget, cache_ttl=300, access_ttl=300) as gw:
        for repo in repos:
            page = gw.get(f"/api/repositories/{repo}/tags?details=true")
            assert page.status_code == 200, page.text
            assert (
                page.json()["tags"]
                == api.get(f"/api/repositories/{repo}/tags?details=true").json()["tags"]
            )
        for key in sorted(registry.content.images):
            repo, tag = key.split(":")
            first = gw.get(f"/api/repositories/{repo}/images/{tag}")
            assert (
                first.status_code == api.get(f"/api/repositories/{repo}/images/{tag}").status_code
            )
        assert _models_bytes(gw) <= budget
        # Again with another page size: a new answer, rebuilt from cached content.
        broken = registry.content.broken_index.repo
        for repo in repos:
            again = gw.get(f"/api/repositories/{repo}/tags?details=true&n=99")
            assert again.status_code == 200
            if repo == broken:
                continue  # asks again for the child it misses, whatever the budget
            assert again.headers["x-upstream-requests"] == "0", repo
        for key in sorted(registry.content.images):
            repo, tag = key.split(":")
            detail = gw.get(f"/api/repositories/{repo}/images/{tag}?platform=linux/amd64")
            if detail.status_code == 200 and repo != broken:
                assert detail.headers["x-upstream-requests"] == "0", key
