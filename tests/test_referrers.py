"""Referrers against a real distribution 3.0 registry (no referrers API): the fallback
index ``sha256-<hex>``, cosign's ``.sig`` tags, kinds, filters, counts and hidden tags.

The corpus (tests/support/referrers.py) is pushed through the v2 API into a registry of
this module's own, as signing and SBOM tools push to a registry without the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import Pusher, push_image
from harness.realworld import realworld_dir
from harness.registry import RegistryProcess
from tests.support.assertions import assert_envelope
from tests.support.referrers import (
    CYCLONEDX,
    IN_TOTO,
    NOTATION,
    SIMPLESIGNING,
    SPDX,
    Corpus,
    fallback_tag,
    push_referrers_corpus,
)

REPO = "ref/app"
PLAIN_REPO = "ref/plain"


@pytest.fixture(scope="module")
def corpus_registry(registry_factory: Any) -> Iterator[tuple[RegistryProcess, Corpus]]:
    reg: RegistryProcess = registry_factory()
    with Pusher(reg.url) as p:
        corpus = push_referrers_corpus(p, REPO)
        if corpus is None:
            pytest.skip("real-world fixtures not found (set LR_SHARED_DIR)")
        for i in range(3):
            push_image(p, PLAIN_REPO, f"1.{i}", created=f"2024-06-0{i + 1}T10:00:00Z")
        yield reg, corpus


@pytest.fixture(scope="module")
def client(corpus_registry: tuple[RegistryProcess, Corpus]) -> Iterator[TestClient]:
    from tests.conftest import gateway_for

    with gateway_for(corpus_registry[0].url) as c:
        yield c


@pytest.fixture
def corpus(corpus_registry: tuple[RegistryProcess, Corpus]) -> Corpus:
    return corpus_registry[1]


def referrers(client: TestClient, ref: str, **params: str) -> dict[str, Any]:
    r = client.get(f"/api/repositories/{REPO}/images/{ref}/referrers", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# -- lists and kinds ---------------------------------------------------------------------


def test_cosign_sig_tag_is_a_signature_per_layer(client: TestClient, corpus: Corpus) -> None:
    body = referrers(client, "signed")
    assert body["subject"] == corpus.signed.digest
    assert body["source"] == "cosign"
    [sig] = body["referrers"]
    assert sig["digest"] == corpus.cosign_signature
    assert sig["kind"] == "signature"
    assert sig["artifact_type"] == SIMPLESIGNING
    assert sig["tag"] == fallback_tag(corpus.signed.digest) + ".sig"
    # one object described: the signature manifest (digest, media type and size by the
    # image-size rule: manifest + config + layers), not the manifest's digest with the
    # payload layer's size
    src = realworld_dir()
    assert src is not None
    manifest = (src / "artifact-cosign-signature-2024.json").read_bytes()
    doc = json.loads(manifest)
    assert sig["media_type"] == doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    layers = sum(layer["size"] for layer in doc["layers"])
    assert sig["size"] == len(manifest) + doc["config"]["size"] + layers
    assert sig["size"] != 250  # the payload layer's size alone, as it was
    assert sig["created"] is None  # cosign's config is dated 0001-01-01
    assert "dev.cosignproject.cosign/signature" in sig["annotations"]


def test_fallback_index_lists_an_spdx_sbom_and_a_notation_signature(
    client: TestClient, corpus: Corpus
) -> None:
    body = referrers(client, "sbom")
    assert body["subject"] == corpus.sbom.digest
    assert body["source"] == "tag"
    by_digest = {r["digest"]: r for r in body["referrers"]}
    assert list(by_digest) == [corpus.spdx.digest, corpus.notation.digest]
    sbom = by_digest[corpus.spdx.digest]
    assert sbom["kind"] == "sbom" and sbom["artifact_type"] == SPDX
    assert sbom["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert sbom["size"] == corpus.spdx.size  # manifest + config + layers, as for an image
    assert sbom["created"] == "2024-05-02T11:00:00Z"  # from the annotation
    assert sbom["tag"] is None
    notation = by_digest[corpus.notation.digest]
    assert notation["kind"] == "signature" and notation["artifact_type"] == NOTATION
    assert notation["created"] is None


def test_fallback_and_cosign_together_are_mixed(client: TestClient, corpus: Corpus) -> None:
    body = referrers(client, "mixed")
    assert body["source"] == "mixed"
    kinds = sorted((r["kind"], r["digest"]) for r in body["referrers"])
    assert kinds == [
        ("attestation", corpus.attestation.digest),
        ("signature", corpus.cosign_signature),
    ]


def test_an_image_with_no_referrers(client: TestClient, corpus: Corpus) -> None:
    body = referrers(client, "plain")
    assert body == {"subject": corpus.plain.digest, "source": "none", "referrers": []}


def test_a_child_of_an_index_by_platform_or_by_digest(client: TestClient, corpus: Corpus) -> None:
    arm64 = corpus.multi.children[1]
    by_platform = referrers(client, "multi", platform="linux/arm64")
    by_digest = referrers(client, arm64.digest)
    assert by_platform == by_digest
    assert by_platform["subject"] == arm64.digest and by_platform["source"] == "tag"
    assert [(r["digest"], r["kind"]) for r in by_platform["referrers"]] == [
        (corpus.child_sbom.digest, "sbom"),
        (corpus.child_attestation.digest, "attestation"),
    ]
    assert by_platform["referrers"][0]["artifact_type"] == CYCLONEDX
    # The index itself, and its other child, have none.
    assert referrers(client, "multi")["source"] == "none"
    assert referrers(client, "multi", platform="linux/amd64")["referrers"] == []


def test_artifact_type_filters(client: TestClient, corpus: Corpus) -> None:
    body = referrers(client, "sbom", artifact_type=SPDX)
    assert [r["digest"] for r in body["referrers"]] == [corpus.spdx.digest]
    assert referrers(client, "mixed", artifact_type=IN_TOTO)["source"] == "tag"
    assert referrers(client, "mixed", artifact_type=SIMPLESIGNING)["source"] == "cosign"
    none = referrers(client, "sbom", artifact_type="application/x-none")
    assert none["source"] == "none" and none["referrers"] == []


def test_bad_input_is_400(client: TestClient, corpus: Corpus) -> None:
    base = f"/api/repositories/{REPO}/images"
    r = client.get(f"{base}/sbom/referrers", params={"artifact_type": "not a type"})
    assert_envelope(r, 400, "VALIDATION_ERROR")
    r = client.get(f"{base}/sbom/referrers", params={"platform": "linux/arm64"})
    assert_envelope(r, 400, "VALIDATION_ERROR")  # a single image has no children
    r = client.get(f"{base}/sha256:xyz/referrers")
    assert_envelope(r, 400, "DIGEST_INVALID")
    r = client.get(f"{base}/nope/referrers")
    assert_envelope(r, 404, "MANIFEST_UNKNOWN")
    r = client.get(f"{base}/multi/referrers", params={"platform": "linux/s390x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "MANIFEST_UNKNOWN"


# -- counts and hidden tags ------------------------------------------------------------


def test_image_detail_counts_referrers_by_kind(client: TestClient, corpus: Corpus) -> None:
    def counts(ref: str) -> dict[str, int]:
        r = client.get(f"/api/repositories/{REPO}/images/{ref}")
        assert r.status_code == 200, r.text
        result: dict[str, int] = r.json()["referrers"]
        return result

    assert counts("signed") == {"signature": 1}
    assert counts("sbom") == {"signature": 1, "sbom": 1}
    assert counts("mixed") == {"signature": 1, "attestation": 1}
    assert counts("plain") == {}
    assert counts("multi") == {}
    assert counts(corpus.multi.children[1].digest) == {"sbom": 1, "attestation": 1}


def test_tag_list_hides_artifact_tags_unless_asked(client: TestClient, corpus: Corpus) -> None:
    r = client.get(f"/api/repositories/{REPO}/tags")
    assert r.status_code == 200, r.text
    page = r.json()
    names = [t["name"] for t in page["tags"]]
    assert names == ["mixed", "multi", "plain", "sbom", "signed"]
    # three fallback indexes, two cosign .sig tags
    assert page["hidden"] == 5 and page["total"] == 5
    everything = client.get(
        f"/api/repositories/{REPO}/tags", params={"include_artifacts": "true"}
    ).json()
    assert everything["hidden"] == 0 and everything["total"] == 10
    shown = {t["name"] for t in everything["tags"]}
    assert fallback_tag(corpus.sbom.digest) in shown
    assert fallback_tag(corpus.signed.digest) + ".sig" in shown
    # q filters first: hidden counts the artifact tags that match it.
    only = client.get(f"/api/repositories/{REPO}/tags", params={"q": ".sig"}).json()
    assert only["tags"] == [] and only["hidden"] == 2


def test_tag_rows_carry_referrer_counts(client: TestClient, corpus: Corpus) -> None:
    r = client.get(f"/api/repositories/{REPO}/tags", params={"details": "true"})
    assert r.status_code == 200, r.text
    counts = {t["name"]: t["referrers"] for t in r.json()["tags"]}
    assert counts == {
        "mixed": {"signature": 1, "attestation": 1},
        "multi": {},
        "plain": {},
        "sbom": {"signature": 1, "sbom": 1},
        "signed": {"signature": 1},
    }
    # Without details, no counts.
    bare = client.get(f"/api/repositories/{REPO}/tags").json()
    assert all(t["referrers"] is None for t in bare["tags"])


def test_no_referrers_costs_no_upstream_request_on_a_tag_page(
    corpus_registry: tuple[RegistryProcess, Corpus],
) -> None:
    from tests.conftest import gateway_for

    with gateway_for(corpus_registry[0].url) as c:
        # Learn once that the registry has no referrers API (one request, ever).
        first = c.get(f"/api/repositories/{REPO}/images/plain/referrers")
        assert first.status_code == 200 and first.json()["source"] == "none"
        r = c.get(f"/api/repositories/{PLAIN_REPO}/tags", params={"details": "true"})
        assert r.status_code == 200, r.text
        assert [t["referrers"] for t in r.json()["tags"]] == [{}, {}, {}]
        # The tag list, then one manifest and one config per tag: nothing else.
        assert r.headers["x-upstream-requests"] == str(1 + 3 * 2)
        # And no request at all when asked again (the warm path).
        again = c.get(f"/api/repositories/{PLAIN_REPO}/tags", params={"details": "true", "n": 2})
        assert again.status_code == 200
        assert again.headers["x-upstream-requests"] == "0"
        # The registry was asked about its referrers API once in all.
        assert c.app.state.lr.client.totals.by_kind.get("referrers") == 1
