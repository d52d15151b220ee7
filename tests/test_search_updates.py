"""gateway.search: the index kept right as things change — pushes (before their
documents are readable), tag moves, deletes, stale tag lists, SBOMs added and removed —
and reopened after a restart without reading anything again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.search import DocumentRefused, SearchIndex, from_params, lookup
from gateway.search.documents import Kind
from gateway.search.walk import Wanted
from harness.images import OCI_MANIFEST
from tests.support.search_corpus import Corpus, build_search_corpus
from tests.support.search_feed import Clock, Feeder, every_page
from tests.support.search_truth import QUERIES, expected


@pytest.fixture
def corpus() -> Corpus:
    return build_search_corpus("search")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["from the matches", "in tag order"], autouse=True)
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(
        lookup, "WALK_FACTOR", float("inf") if request.param == "from the matches" else 0.0
    )
    return str(request.param)


@pytest.fixture
async def feeder(tmp_path: Path, corpus: Corpus, clock: Clock) -> AsyncIterator[Feeder]:
    index = SearchIndex.open(tmp_path, clock=clock)
    feeder = Feeder(index, corpus)
    await feeder.walk(as_of=clock.now)
    clock.now += 10
    yield feeder
    await feeder.index.aclose()


async def assert_all_match(feeder: Feeder, corpus: Corpus) -> None:
    """Every query kind (and every digest) answers what the corpus now says."""
    for kind, text in QUERIES:
        assert await every_page(feeder.index, kind, text) == expected(corpus, kind, text), text
    for digest in sorted(set(corpus.manifests) | set(corpus.blobs)):
        got = await every_page(feeder.index, "digest", digest, n=1000)
        assert got == expected(corpus, "digest", digest), digest


async def test_a_tag_move_is_reflected(feeder: Feeder, corpus: Corpus) -> None:
    web = corpus.repo("web")
    corpus.tags[web]["latest"] = corpus.tags[web]["1.0"]
    assert not await feeder.index.tag_pushed(web, "latest", corpus.tags[web]["1.0"], OCI_MANIFEST)
    await assert_all_match(feeder, corpus)


async def test_a_push_is_searchable_before_its_documents_are_read(
    feeder: Feeder, corpus: Corpus
) -> None:
    fresh = corpus.image([("search-base-debian", 3), ("search-web-3.0", 1)], labels={"team": "web"})
    web = corpus.repo("web")
    assert await feeder.index.tag_pushed(web, "3.0-rc1", fresh.digest, OCI_MANIFEST)
    got = await every_page(feeder.index, "tag", "3.0-*")
    assert [(r[1], r[2]) for r in got] == [("3.0-rc1", fresh.digest)]
    got = await every_page(feeder.index, "digest", fresh.digest)
    assert [(r[1], r[4]) for r in got] == [("3.0-rc1", "manifest")]
    assert await every_page(feeder.index, "digest", fresh.layers[-1]) == []  # not read yet
    missing = await feeder.index.missing_documents()
    assert missing == [Wanted(web, fresh.digest, Kind.MANIFEST)]
    corpus.tags[web]["3.0-rc1"] = fresh.digest
    reads_before = feeder.reads.total
    await feeder.read_missing()
    # the manifest and its config, then its SBOMs looked for (none: no fallback tag)
    assert feeder.reads.total - reads_before == 2
    await assert_all_match(feeder, corpus)


async def test_deletes_are_reflected_and_not_undone_by_an_older_tag_list(
    feeder: Feeder, corpus: Corpus, clock: Clock
) -> None:
    web, worker = corpus.repo("web"), corpus.repo("worker")
    list_read_at = clock.now - 5  # a walk read these lists before the deletes below
    stale = {r: dict(tags) for r, tags in corpus.tags.items()}
    await feeder.index.tag_deleted(web, "2.0-RC2")
    del corpus.tags[web]["2.0-RC2"]
    # a delete by digest removes every tag on it (1.1 and latest) and its SBOMs there
    gone = corpus.tags[web]["1.1"]
    await feeder.index.digest_deleted(web, gone)
    corpus.tags[web] = {t: d for t, d in corpus.tags[web].items() if d != gone}
    corpus.sboms[web] = [s for s in corpus.sboms[web] if s.subject != gone]
    # deleting an SBOM referrer drops the packages it carried
    worker_sbom = corpus.sboms[worker][0]
    await feeder.index.digest_deleted(worker, worker_sbom.source)
    corpus.sboms[worker] = []
    await assert_all_match(feeder, corpus)
    assert await every_page(feeder.index, "package", "openssl@3.0.13") == []
    for repo in (web, worker):
        applied = await feeder.index.set_tags(repo, stale[repo], as_of=list_read_at)
        assert applied.added == 0
    await assert_all_match(feeder, corpus)


async def test_a_push_newer_than_a_tag_list_read_is_kept(
    feeder: Feeder, corpus: Corpus, clock: Clock
) -> None:
    web = corpus.repo("web")
    stale = dict(corpus.tags[web])
    read_at = clock.now
    clock.now += 1
    corpus.tags[web]["latest"] = corpus.tags[web]["2.0-rc1"]
    corpus.tags[web]["new"] = corpus.tags[web]["1.0"]
    await feeder.index.tag_pushed(web, "latest", corpus.tags[web]["latest"])
    await feeder.index.tag_pushed(web, "new", corpus.tags[web]["new"])
    applied = await feeder.index.set_tags(web, stale, as_of=read_at)
    assert (applied.added, applied.moved, applied.removed) == (0, 0, 0)
    await assert_all_match(feeder, corpus)
    # a list read after the pushes is the truth again, whatever it says
    clock.now += 1
    del corpus.tags[web]["new"]
    applied = await feeder.index.set_tags(web, corpus.tags[web], as_of=clock.now)
    assert applied.removed == 1
    await assert_all_match(feeder, corpus)


async def test_an_artifact_tag_marks_its_subjects_sboms_to_read_again(
    feeder: Feeder, corpus: Corpus
) -> None:
    web = corpus.repo("web")
    subject = corpus.images[corpus.tags[web]["1.0"]]
    assert await feeder.index.missing_sboms() == []
    sbom = corpus.sbom_referrer(
        "web", subject, [("web", "1.0", ""), ("curl", "8.5.0", "")], "SPDX-2.3"
    )
    fallback = subject.digest.replace(":", "-")
    await feeder.index.tag_pushed(web, fallback, corpus.tags[web][fallback])
    assert await feeder.index.missing_sboms() == [Wanted(web, subject.digest, Kind.MANIFEST)]
    assert await every_page(feeder.index, "tag", "sha256-*") == []  # never a result
    await feeder.read_missing()
    assert sbom.source in {s.source for s in corpus.sboms[web]}
    await assert_all_match(feeder, corpus)
    assert [r[1] for r in await every_page(feeder.index, "package", "curl")] == ["1.0"]


async def test_the_walker_is_told_which_attestations_describe_an_image(
    feeder: Feeder, corpus: Corpus
) -> None:
    api = corpus.repo("api")
    release = corpus.indexes[corpus.tags[api]["3.0.0"]]
    amd64, att_amd64 = release.children[0], release.attestations[0]
    await feeder.index.sboms_stale(api, amd64.digest)
    assert await feeder.index.missing_sboms() == [
        Wanted(api, amd64.digest, Kind.MANIFEST, (att_amd64.digest,))
    ]
    await feeder.read_missing()
    await assert_all_match(feeder, corpus)


async def test_opened_from_the_settings(tmp_path: Path) -> None:
    from gateway.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", search_index_ttl=60)  # type: ignore[call-arg]
    index = SearchIndex.from_settings(settings)
    try:
        assert index.db.path == tmp_path / "data" / "search.sqlite3"
        assert index.ttl == 60
        await index.tag_pushed("a/b", "1", "sha256:" + "a" * 64)
        assert await index.due() == ["a/b"]  # known from a push, never walked
    finally:
        await index.aclose()


async def test_a_restart_reads_nothing_again(
    tmp_path: Path, feeder: Feeder, corpus: Corpus, clock: Clock
) -> None:
    before = {(k, t): await every_page(feeder.index, k, t) for k, t in QUERIES}
    await feeder.index.aclose()
    reopened = SearchIndex.open(tmp_path, clock=clock)
    try:
        after = {(k, t): await every_page(reopened, k, t) for k, t in QUERIES}
        assert after == before
        assert reopened.metrics.repositories == 5 and reopened.metrics.pending_documents == 0
        ttl = 3600.0
        assert await reopened.due(ttl) == []  # walked 10 s ago
        assert await reopened.missing_documents() == []
        assert await reopened.missing_sboms() == []
        clock.now += ttl
        assert sorted(await reopened.due(ttl)) == sorted(corpus.tags)
        # the walk after the TTL: the same tag lists cost no document read
        again = Feeder(reopened, corpus)
        await again.walk(as_of=clock.now)
        assert dict(again.reads.counts) == {"tags": 5}
        assert reopened.metrics.tag_lists_unchanged == 5
        assert await reopened.due(ttl) == []
    finally:
        await reopened.aclose()


async def test_a_rewalk_reads_only_what_changed(
    feeder: Feeder, corpus: Corpus, clock: Clock
) -> None:
    api = corpus.repo("api")
    children = corpus.indexes[corpus.tags[api]["3.0.0"]].children
    fresh_child = corpus.image([("search-api-arm64-next", 1)], architecture="arm64", variant="v8")
    corpus.tags[api]["3.1.0"] = corpus.index([children[0], fresh_child]).digest
    corpus.tags[api]["latest"] = corpus.tags[api]["3.0.0"]
    reads = Feeder(feeder.index, corpus)
    await reads.walk(as_of=clock.now)
    # 5 tag lists; the new index, its new child and that child's config; the index's
    # and the new child's SBOMs looked for (no fallback tag: nothing to read)
    assert dict(reads.reads.counts) == {"tags": 5, "manifest": 2, "blob": 1}
    await assert_all_match(feeder, corpus)


async def test_prune_forgets_what_no_tag_reaches(feeder: Feeder, corpus: Corpus) -> None:
    worker = corpus.repo("worker")
    image = corpus.images[corpus.tags[worker]["v1"]]
    own_layer = image.layers[-1]
    await feeder.index.digest_deleted(worker, corpus.tags[worker]["v1"])
    await feeder.index.tag_deleted(worker, "v1-rc.1")
    corpus.tags[worker] = {t: d for t, d in corpus.tags[worker].items() if t.startswith("sha256-")}
    pruned = await feeder.index.prune()
    assert pruned.documents > 0 and pruned.digests > 0
    assert pruned.sboms == 0  # the delete of its subject dropped the worker's SBOM already
    assert pruned.packages > 0  # log4j-core and friends were only the worker's
    await assert_all_match(feeder, corpus)
    assert await every_page(feeder.index, "digest", own_layer) == []
    # what is still tagged keeps its documents: nothing to read again
    assert await feeder.index.missing_documents() == []
    assert (await feeder.index.prune()).digests == 0


async def test_the_catalog_drops_repositories_it_no_longer_lists(
    feeder: Feeder, corpus: Corpus, clock: Clock
) -> None:
    web, tools = corpus.repo("web"), corpus.repo("tools")
    read_at = clock.now
    clock.now += 1
    await feeder.index.tag_pushed("search/new", "1", corpus.tags[web]["1.0"])  # after the read
    corpus.tags["search/new"] = {"1": corpus.tags[web]["1.0"]}
    dropped = await feeder.index.set_catalog([r for r in corpus.tags if r != tools], read_at)
    assert dropped == 1
    del corpus.tags[tools]
    await assert_all_match(feeder, corpus)
    assert [r[0] for r in await every_page(feeder.index, "tag", "1")] == ["search/new"]
    page = await feeder.index.search(from_params(tag="*"), None)
    assert not page.complete  # search/new is known from a push, not walked yet
    assert await feeder.index.due(3600) == ["search/new"]


async def test_what_is_fed_wrongly_is_refused(feeder: Feeder, corpus: Corpus) -> None:
    digest = corpus.tags[corpus.repo("web")]["1.0"]
    other = corpus.tags[corpus.repo("web")]["1.1"]
    with pytest.raises(DocumentRefused):
        await feeder.index.add_documents(digest, corpus.manifests[other][1])
    assert feeder.index.metrics.documents_refused == 1
    for bad in (("BAD NAME", "t", digest), ("ok", "bad tag!", digest), ("ok", "t", "sha256:1")):
        with pytest.raises(ValueError):
            await feeder.index.tag_pushed(*bad)
    await assert_all_match(feeder, corpus)  # nothing changed


async def test_a_document_no_one_can_read_is_recorded_once(feeder: Feeder) -> None:
    from gateway.search.documents import sha256_of

    body = b'{"schemaVersion": 1, "name": "old/app", "fsLayers": []}'
    digest = sha256_of(body)
    assert await feeder.index.tag_pushed("old/app", "v0", digest)
    facts = await feeder.index.add_documents(digest, body)
    assert facts.kind == Kind.OTHER and facts.parts == ()
    assert await feeder.index.missing_documents() == []  # not read again and again
    got = await every_page(feeder.index, "digest", digest)
    assert [(r[0], r[1], r[4]) for r in got] == [("old/app", "v0", "manifest")]


async def test_a_hostile_sbom_lists_nothing_and_changes_nothing_else(
    feeder: Feeder, corpus: Corpus
) -> None:
    from gateway.search import Sbom

    web = corpus.repo("web")
    subject = corpus.tags[web]["2.0-rc1"]
    source = corpus.tags[web]["1.0"]
    bombs = [
        Sbom(source, b"[" * 100_000),
        Sbom(source, b'{"spdxVersion": "SPDX-2.3", "packages": ' + b"[{}," * 10_000 + b"{}]}"),
        Sbom(source, b"\x00" * 1000),
    ]
    assert await feeder.index.set_sboms(web, subject, bombs) == 0
    await assert_all_match(feeder, corpus)


async def test_as_of_is_the_oldest_walk_of_what_the_caller_sees(
    feeder: Feeder, corpus: Corpus, clock: Clock
) -> None:
    web = corpus.repo("web")
    await feeder.index.set_tags(web, corpus.tags[web], as_of=clock.now)
    page = await feeder.index.search(from_params(tag="*"), None)
    assert page.indexed.as_of == "2023-11-14T22:13:20Z"  # T0: the others
    page = await feeder.index.search(from_params(tag="*"), {web})
    assert page.indexed.as_of == "2023-11-14T22:13:30Z"  # T0 + 10
