"""What a referrer is: a signature, an SBOM, an attestation, or something else.

The kind comes from the artifact type (the manifest's ``artifactType``, else its config
media type), then from its layers' media types, and for cosign's tags from the tag's
suffix (``.sig``, ``.att``, ``.sbom``), which says it outright:

- signature: cosign (``application/vnd.dev.cosign.artifact.sig.v1+json``, and the
  SimpleSigning payload ``application/vnd.dev.cosign.simplesigning.v1+json`` its layers
  carry), notation (``application/vnd.cncf.notary.signature``), sigstore bundles;
- sbom: SPDX (``application/spdx+json``, ``text/spdx``…), CycloneDX
  (``application/vnd.cyclonedx+json``, ``+xml``), syft's own format;
- attestation: in-toto statements and DSSE envelopes (``application/vnd.in-toto+json``,
  ``application/vnd.dsse.envelope.v1+json``), cosign's attestation artifact type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Kind = Literal["signature", "sbom", "attestation", "other"]
KINDS: tuple[Kind, ...] = ("signature", "sbom", "attestation", "other")

_EXACT: dict[str, Kind] = {
    "application/vnd.dev.cosign.artifact.sig.v1+json": "signature",
    "application/vnd.dev.cosign.simplesigning.v1+json": "signature",
    "application/vnd.cncf.notary.signature": "signature",
    "application/vnd.cncf.notary.v2.signature": "signature",
    "application/jose+json": "signature",
    "application/cose": "signature",
    "application/vnd.dev.cosign.artifact.sbom.v1+json": "sbom",
    "application/spdx+json": "sbom",
    "application/spdx": "sbom",
    "text/spdx": "sbom",
    "text/spdx+xml": "sbom",
    "application/vnd.syft+json": "sbom",
    "application/vnd.dev.cosign.artifact.att.v1+json": "attestation",
    "application/vnd.in-toto+json": "attestation",
    "application/vnd.dsse.envelope.v1+json": "attestation",
}
# Families named by a prefix (versions and encodings vary).
_PREFIXES: tuple[tuple[str, Kind], ...] = (
    ("application/vnd.dev.sigstore.bundle", "signature"),
    ("application/vnd.cyclonedx", "sbom"),
    ("application/vnd.spdx", "sbom"),
    ("application/vnd.in-toto", "attestation"),
)
_SUFFIXES: dict[str, Kind] = {".sig": "signature", ".att": "attestation", ".sbom": "sbom"}


def kind_of_type(media_type: str | None) -> Kind:
    """The kind one artifact or media type names (``other`` when it names none)."""
    if not media_type:
        return "other"
    base = media_type.split(";", 1)[0].strip().lower()
    exact = _EXACT.get(base)
    if exact is not None:
        return exact
    return next((kind for prefix, kind in _PREFIXES if base.startswith(prefix)), "other")


def kind_of(
    artifact_type: str | None, layer_types: Iterable[str] = (), suffix: str | None = None
) -> Kind:
    """A referrer's kind: a cosign tag's suffix first, then its artifact type, then the
    first of its layers' media types that names a kind."""
    if suffix:
        by_suffix = _SUFFIXES.get(suffix)
        if by_suffix is not None:
            return by_suffix
    kind = kind_of_type(artifact_type)
    if kind != "other":
        return kind
    return next(
        (k for k in map(kind_of_type, layer_types) if k != "other"),
        "other",
    )


def counts(kinds: Iterable[Kind]) -> dict[str, int]:
    """``{"signature": 1, "sbom": 1}``: referrers counted by kind, in ``KINDS`` order;
    ``{}`` when there are none."""
    tally: dict[str, int] = {}
    for kind in kinds:
        tally[kind] = tally.get(kind, 0) + 1
    return {k: tally[k] for k in KINDS if k in tally}
