"""Feed a search index the way the walker will, and read its answers back page by page.

A stand-in for the walk (which comes with the wiring), over the corpus in memory
(``CorpusSource``) or a real registry the corpus was pushed to (``RegistrySource``):
the catalog and each tag list as wholes, then whatever the index says is missing —
manifests and their configs by digest, then each image's SBOMs, found the way a
registry without a referrers API holds them (the ``sha256-<hex>`` fallback index, each
listed artifact's SBOM layers) and in the BuildKit attestations the index names. Every
document read is counted (``Reads``), so tests can assert what a restart or a second
walk costs. ``every_page`` follows a search's ``next`` to the end, checking each page
is full.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from gateway.models import media_types as mt
from gateway.models import oci
from gateway.search import Page, Sbom, SearchIndex, Visible, decode_cursor, from_params
from gateway.search.documents import sbom_layers
from harness.images import Pusher, sha256_digest
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
    """What the feed read (its stand-in for upstream requests)."""

    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class CorpusSource:
    """Reads from the corpus in memory (live: tests change it between walks)."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def catalog(self) -> list[str]:
        return list(self.corpus.tags)

    def tags(self, repo: str) -> dict[str, str]:
        return dict(self.corpus.tags.get(repo, {}))

    def fallback(self, repo: str, subject: str) -> str | None:
        return self.corpus.tags.get(repo, {}).get(subject.replace(":", "-"))

    def manifest(self, repo: str, digest: str) -> tuple[str, bytes]:
        return self.corpus.manifests[digest]

    def blob(self, repo: str, digest: str) -> bytes:
        return self.corpus.blobs[digest]


class RegistrySource:
    """Reads from a real registry through the v2 API (``Pusher``): every tag resolved
    to its digest by a GET, every document checked against its digest."""

    def __init__(self, pusher: Pusher) -> None:
        self.p = pusher

    def catalog(self) -> list[str]:
        return self.p.catalog()

    def tags(self, repo: str) -> dict[str, str]:
        out = {}
        for tag in self.p.tags(repo) or []:
            r = self.p.get_manifest(repo, tag)
            assert r.status_code == 200, r.text
            out[tag] = r.headers["Docker-Content-Digest"]
        return out

    def fallback(self, repo: str, subject: str) -> str | None:
        r = self.p.get_manifest(repo, subject.replace(":", "-"))
        return r.headers["Docker-Content-Digest"] if r.status_code == 200 else None

    def manifest(self, repo: str, digest: str) -> tuple[str, bytes]:
        r = self.p.get_manifest(repo, digest)
        assert r.status_code == 200 and sha256_digest(r.content) == digest, r.text
        return r.headers["Content-Type"], r.content

    def blob(self, repo: str, digest: str) -> bytes:
        r = self.p.request("GET", f"/v2/{repo}/blobs/{digest}")
        assert r.status_code == 200 and sha256_digest(r.content) == digest, r.status_code
        return r.content


Source = CorpusSource | RegistrySource


class Feeder:
    def __init__(self, index: SearchIndex, source: Corpus | Source) -> None:
        self.index = index
        self.source = CorpusSource(source) if isinstance(source, Corpus) else source
        self.reads = Reads()

    def manifest(self, repo: str, digest: str) -> tuple[str, bytes]:
        self.reads.counts["manifest"] += 1
        return self.source.manifest(repo, digest)

    def blob(self, repo: str, digest: str) -> bytes:
        self.reads.counts["blob"] += 1
        return self.source.blob(repo, digest)

    async def walk(self, as_of: float, repos: list[str] | None = None) -> None:
        """The catalog (unless ``repos`` names some), each tag list, what is missing."""
        if repos is None:
            repos = self.source.catalog()
            await self.index.set_catalog(repos, as_of)
        for repo in repos:
            self.reads.counts["tags"] += 1
            await self.index.set_tags(repo, self.source.tags(repo), as_of)
        await self.read_missing()

    async def read_missing(self) -> None:
        while wanted := await self.index.missing_documents(limit=20):
            for w in wanted:
                media_type, body = self.manifest(w.repository, w.digest)
                config = None
                if mt.base(media_type) in mt.IMAGE_MANIFEST_TYPES:
                    described = oci.parse_image_manifest(body).config
                    if described.media_type in mt.IMAGE_CONFIG_TYPES:
                        config = self.blob(w.repository, described.digest)
                await self.index.add_documents(w.digest, body, media_type, config)
        while wanted := await self.index.missing_sboms(limit=20):
            for w in wanted:
                found = self.sboms_of(w.repository, w.digest, w.attestations)
                await self.index.set_sboms(w.repository, w.digest, found)

    def _sbom_blobs(self, repo: str, source: str) -> list[Sbom]:
        media_type, body = self.manifest(repo, source)
        if mt.base(media_type) not in mt.IMAGE_MANIFEST_TYPES:
            return []
        layers = sbom_layers(oci.parse_image_manifest(body))
        return [Sbom(source, self.blob(repo, layer.digest)) for layer in layers]

    def sboms_of(self, repo: str, subject: str, attestations: tuple[str, ...]) -> list[Sbom]:
        """The referrers listed in the subject's fallback index, and the attestations
        the index named."""
        found: list[Sbom] = []
        fallback = self.source.fallback(repo, subject)
        if fallback is not None:
            _, body = self.manifest(repo, fallback)
            for entry in json.loads(body)["manifests"]:
                found += self._sbom_blobs(repo, entry["digest"])
        for attestation in attestations:
            found += self._sbom_blobs(repo, attestation)
        return found
