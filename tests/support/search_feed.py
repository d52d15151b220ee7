"""Feed a search index from a corpus the way the walker will feed it from a registry,
and read its answers back page by page.

A stand-in for the walk (which comes with the wiring): the catalog and each tag list as
wholes, then whatever the index says is missing — manifests and their configs by
digest, then each image's SBOMs, found the way a registry without a referrers API
holds them (the ``sha256-<hex>`` fallback index, each listed artifact's SBOM layers) and
in the BuildKit attestations of the indexes holding the image. Every document read is
counted (``Reads``), so tests can assert what a restart or a second walk costs.
``every_page`` follows a search's ``next`` to the end, checking each page is full.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from gateway.models import media_types as mt
from gateway.models import oci
from gateway.search import Page, Sbom, SearchIndex, Visible, decode_cursor, from_params
from gateway.search.documents import sbom_layers
from tests.support.search_corpus import Corpus
from tests.support.search_truth import Row

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def rows(page: Page) -> list[Row]:
    return [
        (r.repository, r.tag, r.digest, r.platform, r.match.kind, r.match.value)
        for r in page.results
    ]


async def every_page(
    index: SearchIndex, kind: str, text: str, visible: Visible = None, n: int = 3
) -> list[Row]:
    """All results, page by page (each full but the last), following ``next``."""
    query = from_params(**{kind: text})
    out: list[Row] = []
    last = None
    while True:
        page = await index.search(query, visible, n, decode_cursor(last))
        out += rows(page)
        if page.next is None:
            assert len(page.results) <= n
            return out
        assert len(page.results) == n
        last = page.next


@dataclass
class Reads:
    """What the feed read from the corpus (its stand-in for upstream requests)."""

    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Feeder:
    def __init__(self, index: SearchIndex, corpus: Corpus) -> None:
        self.index = index
        self.corpus = corpus
        self.reads = Reads()

    def manifest(self, digest: str) -> tuple[str, bytes]:
        self.reads.counts["manifest"] += 1
        return self.corpus.manifests[digest]

    def blob(self, digest: str) -> bytes:
        self.reads.counts["blob"] += 1
        return self.corpus.blobs[digest]

    async def walk(self, as_of: float, repos: list[str] | None = None) -> None:
        """The catalog (unless ``repos`` names some), each tag list, what is missing."""
        if repos is None:
            await self.index.set_catalog(list(self.corpus.tags), as_of)
        for repo in repos if repos is not None else list(self.corpus.tags):
            self.reads.counts["tags"] += 1
            await self.index.set_tags(repo, self.corpus.tags.get(repo, {}), as_of)
        await self.read_missing()

    async def read_missing(self) -> None:
        while wanted := await self.index.missing_documents(limit=20):
            for w in wanted:
                media_type, body = self.manifest(w.digest)
                config = None
                if media_type in mt.IMAGE_MANIFEST_TYPES:
                    described = oci.parse_image_manifest(body).config
                    if described.media_type in mt.IMAGE_CONFIG_TYPES:
                        config = self.blob(described.digest)
                await self.index.add_documents(w.digest, body, media_type, config)
        while wanted := await self.index.missing_sboms(limit=20):
            for w in wanted:
                found = self.sboms_of(w.repository, w.digest, w.attestations)
                await self.index.set_sboms(w.repository, w.digest, found)

    def _sbom_blobs(self, source: str) -> list[Sbom]:
        media_type, body = self.manifest(source)
        if media_type not in mt.IMAGE_MANIFEST_TYPES:
            return []
        layers = sbom_layers(oci.parse_image_manifest(body))
        return [Sbom(source, self.blob(layer.digest)) for layer in layers]

    def sboms_of(self, repo: str, subject: str, attestations: tuple[str, ...]) -> list[Sbom]:
        """The referrers listed in the subject's fallback index, and the attestations
        the index named."""
        found: list[Sbom] = []
        fallback = self.corpus.tags.get(repo, {}).get(subject.replace(":", "-"))
        if fallback is not None:
            _, body = self.manifest(fallback)
            for entry in json.loads(body)["manifests"]:
                found += self._sbom_blobs(entry["digest"])
        for attestation in attestations:
            found += self._sbom_blobs(attestation)
        return found
