"""What the index keeps of a manifest, an index and a config: the facts searched.

Pure functions over the bytes the registry served (never re-serialised). A document
whose bytes do not hash to the sha256 digest it is filed under is refused
(``DocumentRefused``): the index is shared by every caller, and content filed under the
wrong digest would poison every search for it. Bytes that do hash to it but are no
manifest this reads (schema 1, not JSON, a confusion of index and manifest) are what
that digest is: ``Kind.OTHER``, nothing inside — recorded, so it is not read again.

Kept per document, bounded: an index's children (with their platform; an attestation
with the platform of the image it attests, so a match in it points at that image) and an
image manifest's config and layers (at most ``MAX_PARTS`` each), the config's labels (at
most ``MAX_LABELS``; a value longer than ``MAX_LABEL_VALUE`` is kept as the key alone,
never cut) and its platform.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

from gateway.errors import UpstreamInvalid
from gateway.models import media_types as mt
from gateway.models import oci
from gateway.models.referrer_kinds import kind_of_type
from gateway.registry.names import SHA256_RE, is_digest

from .sbom import CYCLONEDX_PREDICATES, SPDX_PREDICATES

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what the registry accepts on push
MAX_PARTS = 1000
MAX_LABELS = 256
MAX_LABEL_KEY = 256
MAX_LABEL_VALUE = 1024
# BuildKit's attestation layers, and cosign's (``.att``: DSSE envelopes), say their
# statement's predicate type in these annotations.
PREDICATE_TYPE_ANNOTATIONS = ("in-toto.io/predicate-type", "predicateType")


class Kind(IntEnum):
    """What a digest is, as far as the index knows."""

    UNKNOWN = 0  # a blob, or a manifest whose documents are not read yet
    MANIFEST = 1
    INDEX = 2
    OTHER = 3  # a manifest of a type not read (schema1)


class Role(IntEnum):
    """How a document names another digest."""

    CHILD = 1
    ATTESTATION = 2
    CONFIG = 3
    LAYER = 4


#: ``match.kind`` of a digest found in each role.
ROLE_MATCH = {Role.CHILD: "child", Role.ATTESTATION: "child", Role.CONFIG: "config",
              Role.LAYER: "layer"}  # fmt: skip


class DocumentRefused(ValueError):
    """The bytes are not a manifest of that digest (or are too large to be one)."""


@dataclass(frozen=True)
class Part:
    digest: str
    role: Role
    platform: str | None = None  # children and attestations
    attests: str | None = None  # an attestation: the child it describes


@dataclass(frozen=True)
class Facts:
    """What one manifest or index (with its config) contributes to the index."""

    digest: str
    kind: Kind
    platform: str | None = None  # an image manifest's, from its config
    parts: tuple[Part, ...] = ()
    labels: tuple[tuple[str, str | None], ...] = ()
    truncated: bool = False  # some parts or labels were left out (bounds)
    wants_config: bool = False  # an image config that was not given: to read still


def sha256_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def kind_of_media_type(media_type: str | None) -> Kind:
    base = mt.base(media_type)
    if base in mt.INDEX_TYPES:
        return Kind.INDEX
    if base in mt.IMAGE_MANIFEST_TYPES:
        return Kind.MANIFEST
    return Kind.UNKNOWN


def facts_of(
    digest: str, manifest: bytes, media_type: str | None = None, config: bytes | None = None
) -> Facts:
    """The facts of the manifest or index ``manifest`` (and, for an image manifest, its
    ``config`` blob when it was read). Raises ``DocumentRefused`` unless the bytes are
    verifiably that digest's (sha256, at most 4 MiB, as the registry stores them)."""
    if SHA256_RE.fullmatch(digest) is None:
        raise DocumentRefused(f"{digest[:80]}: only sha256 content can be verified")
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise DocumentRefused(f"{digest}: a manifest of more than 4 MiB")
    if sha256_of(manifest) != digest:
        raise DocumentRefused(f"{digest}: the bytes do not hash to it")
    try:
        kind = oci.manifest_media_type(manifest, media_type)
        if kind in mt.INDEX_TYPES:
            return _index_facts(digest, oci.parse_index(manifest))
        if kind in mt.IMAGE_MANIFEST_TYPES:
            return _image_facts(digest, oci.parse_image_manifest(manifest), config)
    except UpstreamInvalid:
        pass  # that digest's content, not one this reads
    return Facts(digest, Kind.OTHER)


def _index_facts(digest: str, index: oci.Index) -> Facts:
    platforms = {
        d.digest: d.platform.label()
        for d in index.manifests
        if d.platform is not None and not d.is_attestation
    }
    parts: list[Part] = []
    for d in index.manifests:
        if not is_digest(d.digest):
            continue
        if d.is_attestation:
            attested = d.annotations.get(mt.ATTESTATION_DIGEST_ANNOTATION, "")
            platform = platforms.get(attested) or _label(d.platform)
            subject = attested if is_digest(attested) else None
            parts.append(Part(d.digest, Role.ATTESTATION, platform, subject))
        else:
            parts.append(Part(d.digest, Role.CHILD, _label(d.platform)))
    unique = list(dict.fromkeys(parts))
    return Facts(digest, Kind.INDEX, None, tuple(unique[:MAX_PARTS]), (), len(unique) > MAX_PARTS)


def _image_facts(digest: str, manifest: oci.ImageManifest, config: bytes | None) -> Facts:
    parts = [Part(manifest.config.digest, Role.CONFIG)] if is_digest(manifest.config.digest) else []
    layers = list(dict.fromkeys(d.digest for d in manifest.layers if is_digest(d.digest)))
    parts += [Part(layer, Role.LAYER) for layer in layers[:MAX_PARTS]]
    truncated = len(layers) > MAX_PARTS
    platform: str | None = None
    labels: list[tuple[str, str | None]] = []
    image_config = manifest.config.media_type in mt.IMAGE_CONFIG_TYPES | {""}
    if config is not None and image_config:
        if sha256_of(config) != manifest.config.digest:
            raise DocumentRefused(f"{digest}: its config's bytes do not hash to its digest")
        parsed = oci.parse_config(config)
        if parsed.os or parsed.architecture:
            platform = parsed.platform().label()
        for key, value in sorted(parsed.config.labels.items()):
            if len(labels) >= MAX_LABELS:
                truncated = True
                break
            if not key or len(key) > MAX_LABEL_KEY or not key.isprintable():
                continue
            labels.append((key, value if len(value) <= MAX_LABEL_VALUE else None))
    wants = image_config and config is None
    return Facts(digest, Kind.MANIFEST, platform, tuple(parts), tuple(labels), truncated, wants)


def _label(platform: oci.Platform | None) -> str | None:
    return platform.label() if platform is not None else None


# -- where SBOMs are (for whoever reads referrers and attestations) ---------------------


def _sbom_json(media_type: str | None) -> bool:
    base = mt.base(media_type)
    return kind_of_type(base) == "sbom" and base.endswith("json")


def sbom_layers(manifest: oci.ImageManifest) -> list[oci.Descriptor]:
    """The layers of a referrer or of a BuildKit attestation manifest that hold an SBOM
    worth reading: an in-toto statement whose predicate type (annotation) is SPDX or
    CycloneDX, or a layer whose media type (or, failing that, the artifact's type) is
    one of theirs, in JSON."""
    chosen: list[oci.Descriptor] = []
    artifact_type = manifest.artifact_type or manifest.config.media_type
    for layer in manifest.layers:
        predicate = next(
            (layer.annotations[k] for k in PREDICATE_TYPE_ANNOTATIONS if k in layer.annotations),
            None,
        )
        if predicate is not None:
            if predicate.startswith(SPDX_PREDICATES + CYCLONEDX_PREDICATES):
                chosen.append(layer)
            continue
        if _sbom_json(layer.media_type) or _sbom_json(artifact_type):
            chosen.append(layer)
    return chosen
