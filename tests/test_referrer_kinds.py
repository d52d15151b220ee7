"""What kind of referrer an artifact is (gateway/models/referrer_kinds.py): from the
artifact type, its layers' media types, and cosign's tag suffixes; counted by kind."""

from __future__ import annotations

import json

import pytest

from gateway.models.referrer_kinds import counts, kind_of, kind_of_type
from harness.realworld import realworld_dir


@pytest.mark.parametrize(
    ("media_type", "kind"),
    [
        ("application/vnd.dev.cosign.artifact.sig.v1+json", "signature"),
        ("application/vnd.cncf.notary.signature", "signature"),
        ("application/vnd.dev.sigstore.bundle.v0.3+json", "signature"),
        ("application/spdx+json", "sbom"),
        ("text/spdx", "sbom"),
        ("application/vnd.cyclonedx+json", "sbom"),
        ("application/vnd.cyclonedx+xml; version=1.5", "sbom"),
        ("application/vnd.in-toto+json", "attestation"),
        ("application/vnd.dsse.envelope.v1+json", "attestation"),
        ("Application/SPDX+JSON", "sbom"),
        ("application/vnd.cncf.helm.config.v1+json", "other"),
        ("application/vnd.oci.empty.v1+json", "other"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_kind_of_an_artifact_type(media_type: str | None, kind: str) -> None:
    assert kind_of_type(media_type) == kind


def test_the_layers_decide_when_the_artifact_type_does_not() -> None:
    assert kind_of("application/vnd.oci.empty.v1+json", ["application/spdx+json"]) == "sbom"
    assert kind_of(None, ["application/octet-stream", "application/vnd.in-toto+json"]) == (
        "attestation"
    )
    assert kind_of("application/vnd.cncf.notary.signature", ["application/spdx+json"]) == (
        "signature"
    )
    assert kind_of(None, ["application/octet-stream"]) == "other"


def test_a_cosign_suffix_says_it_outright() -> None:
    # An attestation tag's layers are DSSE envelopes, an SBOM tag's are SPDX or CycloneDX;
    # the suffix wins over whatever they are.
    assert kind_of("application/vnd.dsse.envelope.v1+json", suffix=".att") == "attestation"
    assert kind_of("text/plain", suffix=".sbom") == "sbom"
    assert kind_of("application/octet-stream", suffix=".sig") == "signature"
    assert kind_of("application/spdx+json", suffix="") == "sbom"


def test_the_real_cosign_signatures_are_signatures() -> None:
    src = realworld_dir()
    if src is None:
        pytest.skip("real-world fixtures not found (set LR_SHARED_DIR)")
    for name in (
        "artifact-cosign-signature-2024.json",
        "artifact-cosign-signature-dockerhub-2023.json",
    ):
        doc = json.loads((src / name).read_text())
        layer_types = [layer["mediaType"] for layer in doc["layers"]]
        assert kind_of(doc.get("artifactType"), layer_types) == "signature"
        assert kind_of(doc["config"]["mediaType"], layer_types) == "signature"


def test_counts_by_kind_in_a_fixed_order() -> None:
    assert counts([]) == {}
    tally = counts(["sbom", "signature", "other", "signature", "attestation"])
    assert list(tally.items()) == [("signature", 2), ("sbom", 1), ("attestation", 1), ("other", 1)]
