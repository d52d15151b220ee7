"""Content by digest on disk (``gateway.view.disk``): a restarted gateway reads what it
verified before from ``LR_DATA_DIR``, verified again, and still asks the registry for
every caller's access.

Against real registries: the corpus (a restart's first page costs the tag list and one
manifest per tag) and the token world (what the admin read before the restart is no
one else's after it). The store itself: verification on read, the byte budget, a file
that cannot be used.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.cache import Blob
from gateway.view import disk as disk_module
from gateway.view.disk import FILE_NAME, DiskContent, entry_size
from harness.images import PushedImage
from tests.conftest import gateway_for
from tests.support.fixtures import CorpusRegistry
from tests.support.token_world import SECRET_MARKER, World, basic
from tests.support.token_world import world as world

PAGE = {"details": "true", "n": "50"}
ROW_FIELDS = ("name", "digest", "media_type", "size", "created", "platforms", "kind")


def _rows(answer: Any) -> list[tuple[object, ...]]:
    assert answer.status_code == 200, answer.text
    rows = answer.json()["tags"]
    assert len(rows) == 50 and not [r for r in rows if r.get("error")]
    return [tuple(r.get(f) for f in ROW_FIELDS) for r in rows]


def test_a_restarted_gateway_reads_configs_from_disk(
    corpus_registry: CorpusRegistry, tmp_path: Path
) -> None:
    path = "/api/repositories/corpus/big/tags"
    pages = {"catalog_page_size": 1000}  # the 1,000 tags in one list request
    with gateway_for(corpus_registry.url, data_dir=tmp_path, **pages) as client:
        first = client.get(path, params=PAGE)
        rows = _rows(first)
        # The tag list, 50 manifests, 50 configs, and whether there is a referrers API.
        assert first.headers["x-upstream-requests"] == "102"
    assert (tmp_path / FILE_NAME).is_file()

    with gateway_for(corpus_registry.url, data_dir=tmp_path, **pages) as client:
        again = client.get(path, params=PAGE)
        assert _rows(again) == rows
        # The tag list and one manifest per tag: tags may have moved, content has not.
        assert again.headers["x-upstream-requests"] == "51"
        assert int(again.headers["x-upstream-bytes"]) < int(first.headers["x-upstream-bytes"])
        detail = client.get(f"{path.removesuffix('/tags')}/images/t00007")
        assert detail.status_code == 200
        assert detail.json()["digest"] == corpus_registry.corpus.tags["t00007"]

    with gateway_for(corpus_registry.url, data_dir=tmp_path, disk_cache_bytes=0, **pages) as client:
        off = client.get(path, params=PAGE)
        assert _rows(off) == rows
        assert off.headers["x-upstream-requests"] == "102"  # nothing kept: all asked again


def _assert_no_leak(answer: Any, secret: PushedImage) -> None:
    assert answer.status_code in (401, 403, 404), (answer.request.url, answer.text)
    assert SECRET_MARKER.encode() not in answer.content
    assert secret.manifest not in answer.content
    assert secret.config not in answer.content


def test_after_a_restart_each_caller_is_still_asked_for(world: World, tmp_path: Path) -> None:
    s = world.secret
    secret_paths = [
        "/api/repositories/secret/vault/tags?details=true",
        f"/api/repositories/secret/vault/images/{s.digest}",
        f"/api/repositories/secret/vault/images/{s.digest}/config",
        f"/api/repositories/secret/vault/manifests/{s.digest}",
        f"/api/repositories/secret/vault/blobs/{s.config_digest}",
    ]
    # The secret digests named under a repository the reader may read.
    probes = [
        f"/api/repositories/team/app/manifests/{s.digest}",
        f"/api/repositories/team/app/images/{s.digest}",
        f"/api/repositories/team/app/images/{s.digest}/config",
        f"/api/repositories/team/app/blobs/{s.config_digest}",
    ]
    with gateway_for(world.url, data_dir=tmp_path) as client:
        for path in secret_paths:
            assert client.get(path, headers=basic("admin")).status_code == 200, path

    with gateway_for(world.url, data_dir=tmp_path) as client:
        team = client.get("/api/repositories/team/app/images/1.0", headers=basic("reader"))
        assert team.status_code == 200
        for path in secret_paths + probes:
            _assert_no_leak(client.get(path, headers=basic("reader")), s)
            _assert_no_leak(client.get(path), s)
        for path in secret_paths:
            assert client.get(path, headers=basic("admin")).status_code == 200, path


# -- the store ----------------------------------------------------------------------------


def _blob(i: int, size: int = 1000) -> Blob:
    body = (b"%06d" % i) * (size // 6)
    return Blob("sha256:" + hashlib.sha256(body).hexdigest(), "application/json", body)


def _open(folder: Path, budget: int) -> DiskContent:
    store = DiskContent.open(folder, budget)
    assert store is not None
    return store


def test_content_is_verified_when_read_and_kept_within_its_budget(tmp_path: Path) -> None:
    blobs = [_blob(i) for i in range(40)]
    budget = 20 * entry_size(blobs[0])

    async def fill() -> None:
        store = _open(tmp_path, budget)
        for blob in blobs[:10]:
            store.put(blob)
        await store.aclose()

    asyncio.run(fill())
    # A body changed on disk (a disk error, an edit) is never served.
    with sqlite3.connect(tmp_path / FILE_NAME) as c:
        c.execute("UPDATE content SET body = ? WHERE digest = ?", (b"tampered", blobs[3].digest))

    async def reopen() -> None:
        store = _open(tmp_path, budget)
        assert len(store) == 10
        assert await store.get(blobs[0].digest) == blobs[0]
        assert await store.get(blobs[3].digest) is None
        assert await store.get(_blob(999).digest) is None
        for blob in blobs[10:]:
            store.put(blob)
            await asyncio.sleep(0)  # batches of a few, as requests would make them
        await store.aclose()
        assert store.total <= budget
        assert store.evictions > 0

    asyncio.run(reopen())

    async def last() -> None:
        store = _open(tmp_path, budget)
        assert store.total <= budget
        # The least recently used went first: the newest are all there, the oldest not.
        assert [await store.get(b.digest) for b in blobs[-10:]] == blobs[-10:]
        assert await store.get(blobs[1].digest) is None
        await store.aclose()

    asyncio.run(last())


def test_a_file_that_cannot_be_used_turns_the_store_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not a database, " * 100)
    assert DiskContent.open(tmp_path, 1 << 20) is None
    assert "content on disk is off" in caplog.text
    assert DiskContent.open(tmp_path / "other", 0) is None  # a budget of 0: off
    assert not (tmp_path / "other").exists()


def test_a_failing_disk_makes_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        store = _open(tmp_path, 1 << 20)
        store.put(_blob(1))
        await store.aclose()
        store = _open(tmp_path, 1 << 20)

        def broken(*_args: object, **_kwargs: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(disk_module, "_read", broken)
        assert await store.get(_blob(1).digest) is None
        assert store.failures == 1
        store.put(_blob(2))  # off now: nothing queued
        assert await store.get(_blob(2).digest) is None
        await store.aclose()

    asyncio.run(go())


def test_facts_outlive_a_restart(tmp_path: Path) -> None:
    async def go() -> None:
        store = _open(tmp_path, 1 << 20)
        store.learnt("referrers-api http://r", "no", 1234.5)
        await store.aclose()
        assert _open(tmp_path, 1 << 20).fact("referrers-api http://r") == ("no", 1234.5)

    asyncio.run(go())
