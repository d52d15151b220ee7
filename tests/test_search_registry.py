"""The search corpus pushed to a real registry, read back through the v2 API into an
index, and every kind of search checked against the corpus.

This proves the corpus pushes as built (the integration tests of the search endpoint
will use it) and that what a registry really serves — its Content-Types, its digests,
artifact tags in its tag lists — indexes to the same answers as the corpus in memory.
"""

from __future__ import annotations

from pathlib import Path

from gateway.search import SearchIndex, from_params
from harness.images import Pusher
from tests.support.fixtures import RegistryFactory
from tests.support.search_corpus import build_search_corpus, push_search_corpus
from tests.support.search_feed import Feeder, RegistrySource, every_page
from tests.support.search_truth import QUERIES, expected


async def test_the_corpus_pushed_and_read_back_gives_the_same_answers(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    corpus = build_search_corpus("found")
    registry = registry_factory()
    with Pusher(registry.url) as pusher:
        push_search_corpus(pusher, corpus)
        assert pusher.catalog() == sorted(corpus.tags)
        for repo, tags in corpus.tags.items():
            assert sorted(pusher.tags(repo) or []) == sorted(tags)
        index = SearchIndex.open(tmp_path)
        try:
            feeder = Feeder(index, RegistrySource(pusher))
            await feeder.walk(as_of=1.0)
            for kind, text in QUERIES:
                assert await every_page(index, kind, text) == expected(corpus, kind, text), text
            for digest in sorted(set(corpus.manifests) | set(corpus.blobs)):
                got = await every_page(index, "digest", digest, n=1000)
                assert got == expected(corpus, "digest", digest), digest
            page = await index.search(from_params(tag="*"), None)
            assert page.complete and page.indexed.repositories == len(corpus.tags)
        finally:
            await index.aclose()
