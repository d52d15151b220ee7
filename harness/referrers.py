"""Signatures, SBOMs and attestations pushed through the v2 API, as their tools push them.

distribution (2.8, 3.x) has no referrers API, so an OCI 1.1 artifact (``subject`` +
``artifactType``) is recorded the way the distribution spec's fallback says: pushed by
digest, then listed in the index tagged ``sha256-<subject hex>`` (what oras and notation
do against such a registry). cosign uses its own tags, ``sha256-<hex>.sig`` and friends,
each layer of the tag's manifest one signature: ``push_cosign_signature`` pushes the real
cosign 2024 signature manifest (``../shared/fixtures/realworld``, byte-exact) under the
``.sig`` tag of the image given.

``push_referrers_corpus`` fills one repository with every case the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    Pusher,
    dumps,
    push_image,
    push_index,
    sha256_digest,
)
from harness.realworld import realworld_dir

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
NOTATION = "application/vnd.cncf.notary.signature"
IN_TOTO = "application/vnd.in-toto+json"
DSSE = "application/vnd.dsse.envelope.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
CREATED = "org.opencontainers.image.created"


@dataclass
class Artifact:
    """An OCI 1.1 artifact manifest pushed by digest, with its subject."""

    digest: str
    manifest: bytes
    artifact_type: str
    subject: str
    size: int  # manifest + config + layers
    annotations: dict[str, str]

    def descriptor(self) -> dict[str, Any]:
        return {
            "mediaType": OCI_MANIFEST,
            "digest": self.digest,
            "size": len(self.manifest),
            "artifactType": self.artifact_type,
            "annotations": self.annotations,
        }


def fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


EMPTY_CONFIG_BLOB = b"{}"


def push_artifact_blobs(p: Pusher, repo: str, layer: bytes) -> None:
    """The blobs of an artifact of ``layer``: the empty config and the layer."""
    p.push_blob(repo, EMPTY_CONFIG_BLOB)
    p.push_blob(repo, layer)


def push_artifact_for(
    p: Pusher,
    repo: str,
    subject: PushedImage | PushedIndex,
    artifact_type: str,
    layer: bytes,
    *,
    layer_media_type: str | None = None,
    created: str | None = None,
    layer_annotations: dict[str, str] | None = None,
    blobs: bool = True,
) -> Artifact:
    """Push an artifact manifest referring to ``subject`` (by digest, no tag); its blobs
    first unless ``blobs`` is false (already pushed: ``push_artifact_blobs``)."""
    config = EMPTY_CONFIG_BLOB
    if blobs:
        push_artifact_blobs(p, repo, layer)
    annotations = {CREATED: created} if created else {}
    layer_desc: dict[str, Any] = {
        "mediaType": layer_media_type or artifact_type,
        "digest": sha256_digest(layer),
        "size": len(layer),
    }
    if layer_annotations:
        layer_desc["annotations"] = layer_annotations
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_CONFIG, "digest": sha256_digest(config), "size": 2},
        "layers": [layer_desc],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.manifest),
        },
    }
    if annotations:
        doc["annotations"] = annotations
    body = dumps(doc)
    digest = p.push_manifest(repo, sha256_digest(body), body, OCI_MANIFEST)
    return Artifact(
        digest=digest,
        manifest=body,
        artifact_type=artifact_type,
        subject=subject.digest,
        size=len(body) + len(config) + len(layer),
        annotations=annotations,
    )


def push_fallback_index(p: Pusher, repo: str, subject: str, artifacts: list[Artifact]) -> str:
    """The referrers tag schema's index of ``subject``, tagged ``sha256-<hex>``."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [a.descriptor() for a in artifacts],
    }
    return p.push_manifest(repo, fallback_tag(subject), dumps(doc), OCI_INDEX)


def spdx_sbom(name: str) -> bytes:
    return dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": name,
            "documentNamespace": f"https://example.invalid/spdx/{name}",
            "creationInfo": {"created": "2024-05-01T10:00:00Z", "creators": ["Tool: test"]},
            "packages": [{"name": "musl", "SPDXID": "SPDXRef-musl", "versionInfo": "1.2.5"}],
        }
    )


def in_toto_statement(subject: str) -> bytes:
    return dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "app", "digest": {"sha256": subject.removeprefix("sha256:")}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "https://example.invalid/build"}},
        }
    )


def push_cosign_signature(p: Pusher, repo: str, subject: PushedImage | PushedIndex) -> str | None:
    """The real cosign 2024 signature manifest (one SimpleSigning layer) under
    ``sha256-<subject hex>.sig``; None without the shared fixtures."""
    src = realworld_dir()
    if src is None:
        return None
    p.push_blob(repo, (src / "artifact-cosign-signature-config-2024.json").read_bytes())
    p.push_blob(repo, (src / "artifact-cosign-simplesigning-payload-2024.json").read_bytes())
    body = (src / "artifact-cosign-signature-2024.json").read_bytes()
    return p.push_manifest(repo, fallback_tag(subject.digest) + ".sig", body, OCI_MANIFEST)


@dataclass
class Corpus:
    repo: str
    signed: PushedImage  # a cosign .sig tag
    sbom: PushedImage  # fallback index: an SPDX SBOM and a notation signature
    spdx: Artifact
    notation: Artifact
    mixed: PushedImage  # fallback index (an in-toto attestation) and a cosign .sig tag
    attestation: Artifact
    multi: PushedIndex  # two referrers on its arm64 child
    child_sbom: Artifact
    child_attestation: Artifact
    plain: PushedImage  # nothing refers to it
    cosign_signature: str  # the .sig manifest's digest (on signed and on mixed)
    fallback_indexes: dict[str, str] = field(default_factory=dict)  # subject -> index digest


def push_referrers_corpus(p: Pusher, repo: str) -> Corpus | None:
    signed = push_image(p, repo, "signed", created="2024-05-01T10:00:00Z")
    cosign = push_cosign_signature(p, repo, signed)
    if cosign is None:
        return None
    sbom = push_image(p, repo, "sbom", created="2024-05-02T10:00:00Z")
    spdx = push_artifact_for(p, repo, sbom, SPDX, spdx_sbom("sbom"), created="2024-05-02T11:00:00Z")
    notation = push_artifact_for(
        p,
        repo,
        sbom,
        NOTATION,
        b'{"payload":"eyJ0YXJnZXRBcnRpZmFjdCI6e319","protected":"e30","signature":"c2ln"}',
        layer_media_type="application/jose+json",
    )
    mixed = push_image(p, repo, "mixed", created="2024-05-03T10:00:00Z")
    attestation = push_artifact_for(
        p, repo, mixed, IN_TOTO, in_toto_statement(mixed.digest), created="2024-05-03T11:00:00Z"
    )
    push_cosign_signature(p, repo, mixed)
    amd64 = push_image(p, repo, None, architecture="amd64", created="2024-05-04T10:00:00Z")
    arm64 = push_image(
        p, repo, None, architecture="arm64", variant="v8", created="2024-05-04T10:00:00Z"
    )
    multi = push_index(p, repo, "multi", [amd64, arm64])
    child_sbom = push_artifact_for(
        p, repo, arm64, CYCLONEDX, dumps({"bomFormat": "CycloneDX", "specVersion": "1.5"})
    )
    child_attestation = push_artifact_for(
        p, repo, arm64, IN_TOTO, in_toto_statement(arm64.digest), created="2024-05-04T12:00:00Z"
    )
    plain = push_image(p, repo, "plain", created="2024-05-05T10:00:00Z")
    corpus = Corpus(
        repo=repo,
        signed=signed,
        sbom=sbom,
        spdx=spdx,
        notation=notation,
        mixed=mixed,
        attestation=attestation,
        multi=multi,
        child_sbom=child_sbom,
        child_attestation=child_attestation,
        plain=plain,
        cosign_signature=cosign,
    )
    for subject, artifacts in (
        (sbom.digest, [spdx, notation]),
        (mixed.digest, [attestation]),
        (arm64.digest, [child_sbom, child_attestation]),
    ):
        corpus.fallback_indexes[subject] = push_fallback_index(p, repo, subject, artifacts)
    return corpus
