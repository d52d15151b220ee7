"""gateway.search: the index fed from the search corpus, every kind of search checked
against an independent computation over the corpus (tests/support/search_truth.py),
paging under rights, and what ``complete`` and ``indexed`` say."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.search import SearchIndex, Visible, from_params, lookup
from gateway.search.documents import Kind, Role
from gateway.search.lookup import Indexed
from gateway.search.schema import FILE_NAME, MIGRATIONS
from tests.support.search_corpus import Corpus, build_search_corpus
from tests.support.search_feed import T0, Clock, Feeder, every_page
from tests.support.search_truth import QUERIES, expected


@pytest.fixture
def corpus() -> Corpus:
    return build_search_corpus("search")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def index(tmp_path: Path, clock: Clock) -> AsyncIterator[SearchIndex]:
    opened = SearchIndex.open(tmp_path, clock=clock)
    yield opened
    await opened.aclose()


@pytest.fixture(params=["from the matches", "in tag order"], autouse=True)
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every search test runs with both ways of finding a page (lookup.WALK_FACTOR)."""
    monkeypatch.setattr(
        lookup, "WALK_FACTOR", float("inf") if request.param == "from the matches" else 0.0
    )
    return str(request.param)


@pytest.fixture
async def feeder(index: SearchIndex, corpus: Corpus, clock: Clock) -> Feeder:
    feeder = Feeder(index, corpus)
    await feeder.walk(as_of=clock.now)
    clock.now += 1
    return feeder


def everything(corpus: Corpus) -> list[str]:
    digests = set(corpus.manifests) | set(corpus.blobs)
    return sorted(digests)


@pytest.mark.parametrize(("kind", "text"), QUERIES, ids=[f"{k}:{t}" for k, t in QUERIES])
async def test_label_tag_and_package_searches_match_the_corpus(
    feeder: Feeder, corpus: Corpus, kind: str, text: str
) -> None:
    assert await every_page(feeder.index, kind, text) == expected(corpus, kind, text)


async def test_every_digest_of_the_corpus_is_found_where_it_is_used(
    feeder: Feeder, corpus: Corpus
) -> None:
    found_somewhere = 0
    for digest in everything(corpus):
        got = await every_page(feeder.index, "digest", digest, n=1000)
        assert got == expected(corpus, "digest", digest), digest
        found_somewhere += bool(got)
    assert found_somewhere > 40
    # the shared base layer: in web, api (the amd64 child of both indexes) and private
    base = corpus.images[corpus.digest("web", "1.0")].layers[0]
    repos = {r[0] for r in await every_page(feeder.index, "digest", base, n=1000)}
    assert repos == {corpus.repo(n) for n in ("web", "api", "private")}


async def test_digest_prefixes(feeder: Feeder, corpus: Corpus) -> None:
    api = corpus.indexes[corpus.digest("api", "3.0.0")]
    for digest in (api.digest, api.children[1].digest, api.attestations[0].layers[0]):
        for prefix in (digest[7:19], digest[:30], digest[7:].upper()):
            got = await every_page(feeder.index, "digest", prefix)
            assert got == expected(corpus, "digest", prefix) != []
    kinds = {r[4] for r in await every_page(feeder.index, "digest", api.attestations[0].digest)}
    assert kinds == {"child"}


async def test_match_kinds_and_platforms(feeder: Feeder, corpus: Corpus) -> None:
    api = corpus.indexes[corpus.digest("api", "3.0.0")]
    arm64 = api.children[1]
    got = await every_page(feeder.index, "digest", arm64.layers[0])
    assert {(r[1], r[3], r[4]) for r in got} == {
        ("3.0.0", "linux/arm64/v8", "layer"),
        ("3.1.0-rc1", "linux/arm64/v8", "layer"),
    }
    got = await every_page(feeder.index, "digest", api.digest)
    assert [(r[1], r[3], r[4]) for r in got] == [("3.0.0", None, "index")]
    # the attestation in 3.0.0 describes the amd64 child, which 3.1.0-rc1 holds too
    got = await every_page(feeder.index, "package", "busybox")
    assert [(r[1], r[3], r[5]) for r in got] == [
        ("3.0.0", "linux/amd64", "busybox@1.36.1"),
        ("3.1.0-rc1", "linux/amd64", "busybox@1.36.1"),
    ]


RIGHTS: list[tuple[str, Callable[[Corpus], Visible]]] = [
    ("a set", lambda c: {c.repo("web"), c.repo("api"), c.repo("worker")}),
    ("a predicate", lambda c: lambda name: not name.endswith(("/private", "/tools"))),
    ("one repository", lambda c: [c.repo("private")]),
    ("none", lambda c: set()),
    ("unknown names", lambda c: {"other/repo"}),
]


@pytest.mark.parametrize(("why", "visible_of"), RIGHTS, ids=[r[0] for r in RIGHTS])
@pytest.mark.parametrize("n", [1, 2, 5])
async def test_rights_filter_inside_the_pages(
    feeder: Feeder, corpus: Corpus, why: str, visible_of: Callable[[Corpus], Visible], n: int
) -> None:
    visible = visible_of(corpus)
    assert visible is not None
    allowed = visible if callable(visible) else visible.__contains__
    for kind, text in (
        ("tag", "*"),
        ("package", "openssl@3.0.7"),
        ("label", "team"),
        ("digest", corpus.images[corpus.digest("web", "1.0")].layers[0]),
    ):
        got = await every_page(feeder.index, kind, text, visible, n)
        assert got == expected(corpus, kind, text, allowed), (kind, text)


async def test_what_indexed_and_complete_say(feeder: Feeder, corpus: Corpus) -> None:
    index = feeder.index
    query = from_params(tag="*")
    page = await index.search(query, None)
    images = sum(
        len(set(tags.values()) - artifact_targets(corpus, r)) for r, tags in corpus.tags.items()
    )
    assert page.complete
    assert page.indexed == Indexed(5, images, "2023-11-14T22:13:20Z")
    web = corpus.repo("web")
    page = await index.search(query, {web})
    assert page.complete and page.indexed.repositories == 1 and page.indexed.images == 4
    page = await index.search(query, {web, "not/walked-yet"})
    assert not page.complete  # the caller sees a repository the index has not walked
    page = await index.search(query, lambda name: name == web)
    assert page.complete


def artifact_targets(corpus: Corpus, repo: str) -> set[str]:
    return {d for t, d in corpus.tags[repo].items() if t.startswith("sha256-")}


async def test_nothing_is_complete_before_a_walk(index: SearchIndex, corpus: Corpus) -> None:
    page = await index.search(from_params(tag="*"), None)
    assert page.results == [] and not page.complete
    assert page.indexed == Indexed(0, 0, None)
    # tag lists without a catalog: a caller given by predicate cannot be complete
    feeder = Feeder(index, corpus)
    await feeder.walk(T0, repos=[corpus.repo("web")])
    assert not (await index.search(from_params(tag="*"), lambda n: True)).complete
    assert (await index.search(from_params(tag="*"), {corpus.repo("web")})).complete


async def test_the_sql_spells_roles_and_kinds_as_these_numbers() -> None:
    assert [int(r) for r in (Role.CHILD, Role.ATTESTATION, Role.CONFIG, Role.LAYER)] == [1, 2, 3, 4]
    assert int(Kind.INDEX) == 2


async def test_the_file_is_versioned_under_the_data_folder(index: SearchIndex) -> None:
    assert index.db.path.name == FILE_NAME
    assert index.db.version == len(MIGRATIONS)
    assert index.size_bytes() > 0


async def test_metrics_count_searches_and_walks(feeder: Feeder) -> None:
    from gateway.search.metrics import families

    await feeder.index.search(from_params(tag="*"), None)
    await feeder.index.search(from_params(package="openssl"), None)
    m = feeder.index.metrics
    assert m.searches == {"tag": 1, "package": 1}
    assert m.tag_lists == 5 and m.documents == 16 and m.pending_documents == 0
    assert m.repositories == 5 and m.images > 0 and m.sboms > 0
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families(m, feeder.index.size_bytes())
        for s in family.samples
    }
    assert got[("lr_search_queries_total", (("kind", "tag"),))] == 1
    assert got[("lr_search_walk_tag_lists_total", (("outcome", "changed"),))] == 5
    assert got[("lr_search_index_bytes", ())] > 0
