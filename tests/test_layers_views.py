"""gateway.layers: the merged file system of an image and the diff of two images,
against an independent computation (tarfile into dicts, harness/layer_trees.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import FileUnknown, ForeignLayer
from gateway.layers.diff import ConfigFields, ImageSide, config_changes, layer_counts
from gateway.layers.engine import FileRead, LayerEngine
from gateway.layers.indexer import Limits
from gateway.layers.store import IndexStore
from gateway.layers.views import MergedView
from gateway.models.files import FileListing, ImageDiff
from harness.layer_trees import (
    DOCKER_FOREIGN,
    OCI_ZSTD,
    MemorySource,
    base_layer,
    file,
    gzip_bytes,
    merge_with_tarfile,
    tar_bytes,
    top_layer,
    upper_layer,
    zstd_bytes,
)

IMAGE = "sha256:" + "1" * 64
OTHER = "sha256:" + "2" * 64


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[LayerEngine]:
    made = LayerEngine(IndexStore.open(tmp_path, 1 << 30), Limits(1 << 31, 1 << 31), 2)
    yield made
    await made.aclose()


def stack() -> tuple[list[bytes], list[MemorySource]]:
    tars = [tar_bytes(base_layer()), tar_bytes(upper_layer()), tar_bytes(top_layer())]
    sources = [
        MemorySource(gzip_bytes(tars[0])),
        MemorySource(zstd_bytes(tars[1]), OCI_ZSTD),
        MemorySource(gzip_bytes(tars[2])),
    ]
    return tars, sources


async def view_of(
    engine: LayerEngine, sources: list[MemorySource], digest: str = IMAGE
) -> MergedView:
    view = await engine.image(digest, sources, wait=None)
    assert isinstance(view, MergedView)
    return view


async def test_the_merged_view_is_what_stacking_the_layers_gives(engine: LayerEngine) -> None:
    tars, sources = stack()
    view = await view_of(engine, sources)
    listing = await view.listing("/", recursive=True, n=1000)
    visible, deleted = merge_with_tarfile(tars)
    got = {e.path: e for e in listing.entries}
    assert set(got) == set(visible)
    for path, want in visible.items():
        entry = got[path]
        assert (entry.type, entry.sha256, entry.mode, entry.size) == (
            want.type,
            want.sha256,
            want.mode,
            want.size,
        ), path
        assert entry.layer == sources[want.layer].digest, path
        assert entry.deleted_by is None
    assert got["/etc/motd"].layer == sources[2].digest  # deleted in 1, added again in 2
    assert "/var/cache" not in got and "/var/cache/a" not in got
    assert "/opt/app/old.bin" not in got and "/opt/app/keep.txt" not in got  # opaque
    assert got["/opt/app/new.bin"].layer == sources[1].digest
    assert got["/srv/data"].type == "dir" and "/srv/data/inside" in got
    assert got["/lib"].layer == sources[0].digest  # only implied above: the real one stays
    assert listing.total == len(visible)


async def test_include_deleted_names_the_layer_that_removed(engine: LayerEngine) -> None:
    tars, sources = stack()
    view = await view_of(engine, sources)
    listing = await view.listing("/", recursive=True, include_deleted=True, n=1000)
    visible, deleted = merge_with_tarfile(tars)
    got = {e.path: e for e in listing.entries}
    assert set(got) == set(visible) | set(deleted)
    for path, (want, by) in deleted.items():
        assert got[path].deleted_by == sources[by].digest, path
        assert got[path].layer == sources[want.layer].digest, path
    assert got["/var/cache/a"].deleted_by == sources[1].digest
    assert got["/opt/app/keep.txt"].deleted_by == sources[1].digest


async def test_merged_directory_listings_and_paging(engine: LayerEngine) -> None:
    tars, sources = stack()
    view = await view_of(engine, sources)
    etc = await view.listing("/etc", recursive=False)
    assert [e.path for e in etc.entries] == ["/etc/hosts", "/etc/motd"]
    assert (await view.listing("/var", recursive=False)).entries == []
    with pytest.raises(FileUnknown):
        await view.listing("/var/cache", recursive=False)
    with pytest.raises(FileUnknown):
        await view.listing("/etc/hosts", recursive=False)
    pages: list[str] = []
    last = None
    while True:
        page = await view.listing("/", recursive=True, last=last, n=3)
        pages += [e.path for e in page.entries]
        last = page.next
        if last is None:
            break
    full = await view.listing("/", recursive=True, n=1000)
    assert pages == [e.path for e in full.entries]


async def test_image_files_and_previews_come_from_the_winning_layer(engine: LayerEngine) -> None:
    tars, sources = stack()
    read = await engine.image_file(IMAGE, sources, "/etc/hosts")
    assert isinstance(read, FileRead)
    assert b"".join([p async for p in read.chunks]) == b"127.0.0.1 localhost\n::1 localhost\n"
    assert sources[0].requests[1:] == []  # the base layer's hosts was not read
    preview = await engine.image_preview(IMAGE, sources, "/etc/motd")
    assert preview.text == "welcome back\n"  # type: ignore[union-attr]
    for gone in ("/var/cache/a", "/opt/app/old.bin", "/srv/data"):
        with pytest.raises(FileUnknown):
            await engine.image_file(IMAGE, sources, gone)
    listing = await engine.image_files(IMAGE, sources, path="/usr")
    assert isinstance(listing, FileListing) and listing.digest == IMAGE


def side(digest: str, config: ConfigFields) -> ImageSide:
    return ImageSide("team/app", digest[-4:], digest, "linux/amd64", 1, config)


async def test_the_diff_of_two_images_against_tarfile(engine: LayerEngine) -> None:
    tars, sources = stack()
    old, new = sources[:2], sources
    diff = await engine.diff(
        side(OTHER, ConfigFields()), old, side(IMAGE, ConfigFields()), new, n=1000
    )
    assert isinstance(diff, ImageDiff)
    before, _ = merge_with_tarfile(tars[:2])
    after, _ = merge_with_tarfile(tars)
    added = set(after) - set(before)
    removed = set(before) - set(after)
    changed = {
        p
        for p in set(before) & set(after)
        if (
            before[p].type,
            before[p].sha256,
            before[p].mode,
            before[p].uid,
            before[p].gid,
            before[p].link_target,
        )
        != (
            after[p].type,
            after[p].sha256,
            after[p].mode,
            after[p].uid,
            after[p].gid,
            after[p].link_target,
        )
    }
    files = diff.files
    assert (files.added, files.removed, files.changed) == (len(added), len(removed), len(changed))
    kinds = {e.path: e.change for e in files.entries}
    assert kinds == {
        **dict.fromkeys(added, "added"),
        **dict.fromkeys(removed, "removed"),
        **dict.fromkeys(changed, "changed"),
    }
    assert files.added_bytes == sum(after[p].size for p in added if after[p].type == "file")
    assert files.removed_bytes == sum(before[p].size for p in removed if before[p].type == "file")
    assert kinds["/lib/libc.so"] == "changed"  # its mode; an mtime alone is not a change
    assert diff.layers.model_dump() == {"shared": 2, "only_from": 0, "only_to": 1}
    body = diff.model_dump(by_alias=True)
    assert body["from"]["digest"] == OTHER and body["to"]["digest"] == IMAGE
    first = next(e for e in body["files"]["entries"] if e["change"] == "changed")
    assert set(first) == {"path", "change", "from", "to"}


async def test_diff_filters_and_pages_keep_the_counts(engine: LayerEngine) -> None:
    _, sources = stack()
    a, b = side(OTHER, ConfigFields()), side(IMAGE, ConfigFields())
    whole = await engine.diff(a, sources[:1], b, sources, n=1000)
    only_added = await engine.diff(a, sources[:1], b, sources, change="added", n=1000)
    under_etc = await engine.diff(a, sources[:1], b, sources, path="/etc", n=1000)
    assert isinstance(whole, ImageDiff) and isinstance(only_added, ImageDiff)
    assert isinstance(under_etc, ImageDiff)
    assert only_added.files.added == whole.files.added  # counts: the whole diff
    assert {e.change for e in only_added.files.entries} == {"added"}
    assert all(e.path.startswith("/etc") for e in under_etc.files.entries)
    paged: list[str] = []
    last = None
    while True:
        page = await engine.diff(a, sources[:1], b, sources, last=last, n=2)
        assert isinstance(page, ImageDiff)
        paged += [e.path for e in page.files.entries]
        last = page.files.next
        if last is None:
            break
    assert paged == [e.path for e in whole.files.entries]


async def test_an_mtime_alone_is_not_a_change(engine: LayerEngine) -> None:
    one = MemorySource(gzip_bytes(tar_bytes([file("app/main", "same", mtime=1)])))
    two = MemorySource(gzip_bytes(tar_bytes([file("app/main", "same", mtime=2)])))
    diff = await engine.diff(side(OTHER, ConfigFields()), [one], side(IMAGE, ConfigFields()), [two])
    assert isinstance(diff, ImageDiff)
    assert (diff.files.added, diff.files.removed, diff.files.changed) == (0, 0, 0)
    assert diff.layers.model_dump() == {"shared": 0, "only_from": 1, "only_to": 1}


def test_config_differences_one_item_each() -> None:
    a = ConfigFields.from_config(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {
                "Env": ["PATH=/usr/bin", "LANG=C"],
                "Labels": {"version": "1.0", "gone": "x"},
                "Cmd": ["app"],
                "ExposedPorts": {"80/tcp": {}},
                "User": "",
            },
        }
    )
    b = ConfigFields.from_config(
        {
            "os": "linux",
            "architecture": "arm64",
            "variant": "v8",
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C", "NEW=1"],
                "Labels": {"version": "2.0"},
                "Cmd": ["app", "--fast"],
                "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
                "User": "app",
                "WorkingDir": "/srv",
            },
        }
    )
    changes = [c.model_dump(by_alias=True) for c in config_changes(a, b)]
    assert {
        "field": "env",
        "key": "PATH",
        "from": "/usr/bin",
        "to": "/usr/local/bin:/usr/bin",
    } in changes
    assert {"field": "env", "key": "NEW", "from": None, "to": "1"} in changes
    assert {"field": "labels", "key": "gone", "from": "x", "to": None} in changes
    assert {"field": "labels", "key": "version", "from": "1.0", "to": "2.0"} in changes
    assert {"field": "cmd", "key": None, "from": ["app"], "to": ["app", "--fast"]} in changes
    assert {
        "field": "exposed_ports",
        "key": None,
        "from": ["80/tcp"],
        "to": ["443/tcp", "80/tcp"],
    } in changes
    assert {"field": "user", "key": None, "from": "", "to": "app"} in changes
    assert {"field": "working_dir", "key": None, "from": "", "to": "/srv"} in changes
    assert {"field": "architecture", "key": None, "from": "amd64", "to": "arm64"} in changes
    assert {"field": "variant", "key": None, "from": None, "to": "v8"} in changes
    assert len(changes) == 10
    assert config_changes(a, a) == []
    odd = ConfigFields.from_config({"config": {"Env": "not a list", "Labels": [1]}})
    assert config_changes(odd, ConfigFields()) == []
    assert layer_counts(["a", "b"], ["b", "c", "d"]).model_dump() == {
        "shared": 1,
        "only_from": 1,
        "only_to": 2,
    }


async def test_foreign_layers_are_left_out_of_an_image_never_fetched(engine: LayerEngine) -> None:
    _, sources = stack()
    foreign = MemorySource(gzip_bytes(tar_bytes([file("windows/base", "x")])), DOCKER_FOREIGN)
    listing = await engine.image_files(IMAGE, [foreign, *sources], path="/etc")
    assert isinstance(listing, FileListing) and not listing.complete
    assert [e.path for e in listing.entries] == ["/etc/hosts", "/etc/motd"]
    assert foreign.requests == []
    read = await engine.image_file(IMAGE, [foreign, *sources], "/etc/hosts")
    assert isinstance(read, FileRead)
    assert b"".join([p async for p in read.chunks]).startswith(b"127.0.0.1")
    with pytest.raises(ForeignLayer):
        await engine.layer_files(foreign)
