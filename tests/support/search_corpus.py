"""A corpus for registry-wide search, built in memory and pushable to a real registry.

``build_search_corpus(prefix)`` makes the documents (exact bytes, digests computed once)
of what makes search answers easy to get wrong:

- base layers shared across repositories (``web``, ``api``'s amd64 child and
  ``private`` share the Debian-like base; ``worker`` has an Alpine-like one);
- tags sharing a digest (``web:latest`` = ``web:1.1``), tags whose case differs from a
  glob's (``2.0-RC2``), release candidates in several repositories;
- a multi-platform index with BuildKit attestations whose in-toto statements carry an
  SPDX predicate (``api``), and a Docker manifest list without attestations (``worker``);
- labels (key only, key=value, a ``null`` Labels), a Helm chart (a non-image config);
- SBOM referrers: SPDX 2.3 and 2.2 (``web``), CycloneDX with nested components and
  groups (``worker``), each pushed as an OCI 1.1 artifact listed in its subject's
  ``sha256-<hex>`` fallback index; a cosign ``.sig`` tag (not an SBOM).

``Corpus`` keeps, next to the bytes, what each document was built from (platforms,
labels, the packages put into each SBOM): ``tests/support/search_truth.py`` computes
expected answers from that, never from the gateway's parsing. ``push_search_corpus``
pushes it all through the v2 API (children and artifacts by digest, then tags).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    HELM_CHART,
    HELM_CONFIG,
    IN_TOTO,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Pusher,
    dumps,
    make_config,
    make_layer,
    sha256_digest,
)
from tests.support.sbom_documents import (
    SPDX_PREDICATE,
    Pkg,
    cyclonedx,
    spdx_document,
    spdx_statement,
)

SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


@dataclass
class Image:
    """A single-platform manifest: a tag's target, an index's child, an attestation or
    an artifact."""

    digest: str
    media_type: str
    manifest: bytes
    config_digest: str
    layers: list[str]
    platform: str | None  # what its config says ("" os: None)
    labels: dict[str, str] = field(default_factory=dict)
    attests: str | None = None  # an attestation: the child it describes


@dataclass
class Index:
    digest: str
    media_type: str
    manifest: bytes
    children: list[Image]
    attestations: list[Image] = field(default_factory=list)


@dataclass
class Sbom:
    """An SBOM pushed as a referrer artifact (``source`` is its manifest's digest) or
    carried by an attestation (``source`` is the attestation manifest's)."""

    source: str
    subject: str
    packages: list[Pkg]
    blob: str  # the SBOM document's digest


@dataclass
class Corpus:
    prefix: str
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # repo -> tag -> digest
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest -> mt, body
    blobs: dict[str, bytes] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)  # every single-platform manifest
    indexes: dict[str, Index] = field(default_factory=dict)
    sboms: dict[str, list[Sbom]] = field(default_factory=dict)  # repo -> SBOMs there
    # what push_search_corpus pushes by digest before the tags, in order, per repository
    untagged: dict[str, list[str]] = field(default_factory=dict)

    def repo(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def digest(self, name: str, tag: str) -> str:
        return self.tags[self.repo(name)][tag]

    # -- building ----------------------------------------------------------------------

    def blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        self.blobs[digest] = data
        return digest

    def _manifest(self, media_type: str, doc: dict[str, Any]) -> tuple[str, bytes]:
        body = dumps(doc)
        digest = sha256_digest(body)
        self.manifests[digest] = (media_type, body)
        return digest, body

    def image(
        self,
        seeds: list[tuple[str, int]],
        *,
        os: str = "linux",
        architecture: str = "amd64",
        variant: str | None = None,
        labels: dict[str, str] | None = None,
        docker: bool = False,
        created: str = "2024-05-01T10:00:00Z",
    ) -> Image:
        """An image whose layers are ``make_layer(seed, i)`` for each (seed, count)."""
        layer_digests: list[str] = []
        diff_ids: list[str] = []
        for seed, count in seeds:
            for i in range(count):
                compressed, raw = make_layer(seed, i)
                layer_digests.append(self.blob(compressed))
                diff_ids.append(sha256_digest(raw))
        config = make_config(
            os=os,
            architecture=architecture,
            variant=variant,
            created=created,
            diff_ids=diff_ids,
            env=None,
            labels=labels,
            cmd=["/app/run"],
            entrypoint=None,
            exposed_ports=None,
            empty_history=1,
        )
        config_digest = self.blob(config)
        mt, config_mt, layer_mt = (
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
            if docker
            else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
        )
        doc = {
            "schemaVersion": 2,
            "mediaType": mt,
            "config": {"mediaType": config_mt, "digest": config_digest, "size": len(config)},
            "layers": [
                {"mediaType": layer_mt, "digest": d, "size": len(self.blobs[d])}
                for d in layer_digests
            ],
        }
        digest, body = self._manifest(mt, doc)
        platform = "/".join([os, architecture] + ([variant] if variant else []))
        image = Image(digest, mt, body, config_digest, layer_digests, platform, labels or {})
        self.images[digest] = image
        return image

    def artifact(
        self,
        *,
        config_media_type: str,
        config: bytes,
        layers: list[tuple[str, bytes, dict[str, str]]],
        subject: Image | Index | None = None,
        artifact_type: str | None = None,
        attests: str | None = None,
        platform: str | None = None,
    ) -> Image:
        """An OCI manifest over an arbitrary config and layers (media type, bytes,
        annotations): an SBOM referrer, an attestation, a Helm chart, a signature."""
        config_digest = self.blob(config)
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
        if artifact_type:
            doc["artifactType"] = artifact_type
        doc["config"] = {
            "mediaType": config_media_type,
            "digest": config_digest,
            "size": len(config),
        }
        doc["layers"] = []
        layer_digests = []
        for media_type, data, notes in layers:
            entry: dict[str, Any] = {"mediaType": media_type, "digest": self.blob(data)}
            entry["size"] = len(data)
            if notes:
                entry["annotations"] = notes
            doc["layers"].append(entry)
            layer_digests.append(entry["digest"])
        if subject is not None:
            doc["subject"] = {
                "mediaType": subject.media_type,
                "digest": subject.digest,
                "size": len(subject.manifest),
            }
        digest, body = self._manifest(OCI_MANIFEST, doc)
        image = Image(digest, OCI_MANIFEST, body, config_digest, layer_digests, platform)
        image.attests = attests
        self.images[digest] = image
        return image

    def index(
        self, children: list[Image], attestations: list[Image] | None = None, docker: bool = False
    ) -> Index:
        mt = DOCKER_LIST if docker else OCI_INDEX
        entries: list[dict[str, Any]] = []
        for child in children:
            assert child.platform is not None
            os, architecture, *variant = child.platform.split("/")
            platform = {"architecture": architecture, "os": os}
            if variant:
                platform["variant"] = variant[0]
            entries.append(
                {
                    "mediaType": child.media_type,
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": platform,
                }
            )
        for att in attestations or []:
            entries.append(
                {
                    "mediaType": att.media_type,
                    "digest": att.digest,
                    "size": len(att.manifest),
                    "annotations": {
                        "vnd.docker.reference.digest": att.attests,
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                    "platform": {"architecture": "unknown", "os": "unknown"},
                }
            )
        digest, body = self._manifest(
            mt, {"schemaVersion": 2, "mediaType": mt, "manifests": entries}
        )
        index = Index(digest, mt, body, children, list(attestations or []))
        self.indexes[digest] = index
        return index

    def tag(self, name: str, tag: str, target: Image | Index | str) -> None:
        digest = target if isinstance(target, str) else target.digest
        self.tags.setdefault(self.repo(name), {})[tag] = digest

    def by_digest(self, name: str, target: Image | Index) -> None:
        self.untagged.setdefault(self.repo(name), []).append(target.digest)

    # -- SBOMs -------------------------------------------------------------------------

    def sbom_referrer(
        self, name: str, subject: Image | Index, packages: list[Pkg], fmt: str
    ) -> Sbom:
        """An SBOM artifact referring to ``subject``, listed in its fallback index."""
        document = spdx_document(packages, fmt) if fmt.startswith("SPDX") else cyclonedx(packages)
        media_type = SPDX if fmt.startswith("SPDX") else CYCLONEDX
        art = self.artifact(
            config_media_type=EMPTY_CONFIG,
            config=b"{}",
            layers=[(media_type, document, {})],
            subject=subject,
            artifact_type=media_type,
        )
        self.by_digest(name, art)
        found = Sbom(art.digest, subject.digest, packages, art.layers[0])
        self.sboms.setdefault(self.repo(name), []).append(found)
        referrers = [s for s in self.sboms[self.repo(name)] if s.subject == subject.digest]
        fallback = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": s.source,
                    "size": len(self.manifests[s.source][1]),
                    "artifactType": media_type,
                }
                for s in referrers
            ],
        }
        fallback_digest, _ = self._manifest(OCI_INDEX, fallback)
        self.tag(name, subject.digest.replace(":", "-"), fallback_digest)
        return found

    def attestation(self, child: Image, packages: list[Pkg]) -> tuple[Image, Sbom]:
        """A BuildKit attestation manifest for ``child``: an SPDX statement and a
        provenance one, each layer saying its predicate type."""
        subject = [{"name": "pkg:docker/app", "digest": {"sha256": child.digest[7:]}}]
        statement = spdx_statement(packages, subject)
        provenance = {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": subject,
            "predicate": {"buildType": "https://mobyproject.org/buildkit@v1"},
        }
        config = dumps({"architecture": "unknown", "os": "unknown", "config": {}, "rootfs": {}})
        att = self.artifact(
            config_media_type=OCI_CONFIG,
            config=config,
            layers=[
                (IN_TOTO, statement, {"in-toto.io/predicate-type": SPDX_PREDICATE}),
                (
                    IN_TOTO,
                    dumps(provenance),
                    {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
                ),
            ],
            attests=child.digest,
        )
        return att, Sbom(att.digest, child.digest, packages, att.layers[0])


def push_search_corpus(p: Pusher, corpus: Corpus) -> None:
    """Push every blob, manifest and tag of ``corpus`` (children and artifacts by
    digest first, then the tags: an index's children must exist before it)."""
    for repo, tags in corpus.tags.items():
        needed = list(corpus.untagged.get(repo, [])) + list(tags.values())
        for digest in needed:
            _push_tree(p, corpus, repo, digest)
        for tag, digest in tags.items():
            mt, body = corpus.manifests[digest]
            p.push_manifest(repo, tag, body, mt)


def _push_tree(p: Pusher, corpus: Corpus, repo: str, digest: str) -> None:
    mt, body = corpus.manifests[digest]
    index, image = corpus.indexes.get(digest), corpus.images.get(digest)
    if index is not None:
        for child in index.children + index.attestations:
            _push_tree(p, corpus, repo, child.digest)
    elif image is not None:
        for blob in [*image.layers, image.config_digest]:
            p.push_blob(repo, corpus.blobs[blob])
    # else a fallback index: the artifacts it lists were pushed by digest before it
    p.push_manifest(repo, digest, body, mt)


def build_search_corpus(prefix: str = "search") -> Corpus:
    c = Corpus(prefix)
    debian, alpine = ("search-base-debian", 3), ("search-base-alpine", 2)
    web_labels = {"org.opencontainers.image.source": "https://example.invalid/web"}
    # web: single-platform releases on the shared base; latest = 1.1; SBOM referrers.
    web: dict[str, Image] = {}
    for tag, own in (("1.0", 1), ("1.1", 2), ("2.0-rc1", 2), ("2.0-RC2", 3)):
        labels = {**web_labels, "org.opencontainers.image.version": tag, "team": "web"}
        if tag.startswith("2.0"):
            labels["stage"] = ""  # an empty label value
        web[tag] = c.image([debian, (f"{prefix}-web-{tag}", own)], labels=labels)
        c.tag("web", tag, web[tag])
    c.tag("web", "latest", web["1.1"])
    openssl_old = ("openssl", "3.0.7", "")
    base_pkgs: list[Pkg] = [("base-files", "", ""), ("libc6", "2.36", ""), ("zlib", "1.2.13", "")]
    c.sbom_referrer("web", web["1.0"], [("web", "1.0", ""), openssl_old, *base_pkgs], "SPDX-2.3")
    c.sbom_referrer("web", web["1.1"], [("web", "1.1", ""), ("openssl", "3.0.13", "")], "SPDX-2.2")
    c.sbom_referrer("web", web["1.1"], [("web", "1.1", ""), *base_pkgs], "SPDX-2.3")
    # api: a multi-platform index with BuildKit SPDX attestations; its amd64 child on
    # the shared base, arm64/v8 on its own; an rc on the same children.
    amd64 = c.image([debian, (f"{prefix}-api-amd64", 1)], labels={"team": "api"})
    arm64 = c.image(
        [(f"{prefix}-api-arm64", 2)], architecture="arm64", variant="v8", labels={"team": "api"}
    )
    att_amd64, sbom_amd64 = c.attestation(amd64, [openssl_old, ("busybox", "1.36.1", "")])
    att_arm64, sbom_arm64 = c.attestation(arm64, [("musl", "1.2.4", ""), ("OpenSSL", "3.0.7", "")])
    c.sboms.setdefault(c.repo("api"), []).extend([sbom_amd64, sbom_arm64])
    release = c.index([amd64, arm64], [att_amd64, att_arm64])
    c.tag("api", "3.0.0", release)
    c.tag("api", "3.1.0-rc1", c.index([amd64, arm64]))
    # worker: Docker media types on another base; a manifest list; CycloneDX SBOM.
    worker = c.image([alpine, (f"{prefix}-worker", 1)], docker=True, labels={"team": "worker"})
    worker_arm = c.image([alpine], architecture="arm", variant="v7", docker=True)
    c.tag("worker", "v1", worker)
    c.tag("worker", "v1-rc.1", c.index([worker, worker_arm], docker=True))
    worker_pkgs: list[Pkg] = [
        ("worker", "1", ""),
        ("log4j-core", "2.14.1", "org.apache.logging.log4j"),
        ("jackson-databind", "2.13.0", "com.fasterxml.jackson.core"),
        ("core", "7.24.0", "@babel"),
        ("openssl", "3.0.7", ""),
    ]
    c.sbom_referrer("worker", worker, worker_pkgs, "CycloneDX")
    # tools: no labels at all, a Helm chart, and a cosign signature tag on "plain".
    plain = c.image([(f"{prefix}-tools", 1)], labels=None)
    c.tag("tools", "plain", plain)
    chart = c.artifact(
        config_media_type=HELM_CONFIG,
        config=dumps({"name": "tools", "version": "0.1.0", "apiVersion": "v2"}),
        layers=[(HELM_CHART, make_layer(f"{prefix}-chart", 0)[0], {})],
    )
    c.tag("tools", "chart-0.1.0", chart)
    signature = c.artifact(
        config_media_type=OCI_CONFIG,
        config=dumps({"architecture": "", "os": "", "config": {}, "rootfs": {}}),
        layers=[
            (
                SIMPLESIGNING,
                dumps({"critical": {"image": {"docker-manifest-digest": plain.digest}}}),
                {},
            )
        ],
    )
    c.tag("tools", plain.digest.replace(":", "-") + ".sig", signature)
    # private: shares web's base and its SBOM's openssl; only some callers see it.
    secret = c.image([debian, (f"{prefix}-private", 1)], labels={"team": "private"})
    c.tag("private", "1.0-rc1", secret)
    c.sbom_referrer("private", secret, [openssl_old], "SPDX-2.3")
    return c
