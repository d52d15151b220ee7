"""gateway.search.documents: what the index keeps of manifests, indexes and configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.models import oci
from gateway.search.documents import (
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_PARTS,
    DocumentRefused,
    Facts,
    Kind,
    Part,
    Role,
    facts_of,
    sbom_layers,
    sha256_of,
)
from harness.images import DOCKER_CONFIG, OCI_CONFIG, dumps, make_config
from harness.realworld import realworld_dir
from tests.support.search_corpus import (
    CYCLONEDX,
    SPDX,
    Corpus,
    Image,
    build_search_corpus,
)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_search_corpus("docs")


def _facts_of_image(corpus: Corpus, image: Image, with_config: bool = True) -> Facts:
    mt, body = corpus.manifests[image.digest]
    config = corpus.blobs[image.config_digest] if with_config else None
    return facts_of(image.digest, body, mt, config)


def test_an_image_manifest_gives_its_config_layers_labels_and_platform(corpus: Corpus) -> None:
    image = corpus.images[corpus.digest("web", "2.0-rc1")]
    facts = _facts_of_image(corpus, image)
    assert facts.kind == Kind.MANIFEST
    assert facts.platform == "linux/amd64"
    assert facts.parts == (
        Part(image.config_digest, Role.CONFIG),
        *(Part(layer, Role.LAYER) for layer in image.layers),
    )
    assert dict(facts.labels) == image.labels
    assert ("stage", "") in facts.labels
    assert not facts.wants_config


def test_without_its_config_a_manifest_still_wants_it(corpus: Corpus) -> None:
    facts = _facts_of_image(corpus, corpus.images[corpus.digest("web", "1.0")], False)
    assert facts.wants_config and facts.platform is None and facts.labels == ()


def test_a_helm_chart_needs_no_config_and_has_no_platform(corpus: Corpus) -> None:
    chart = corpus.images[corpus.digest("tools", "chart-0.1.0")]
    facts = _facts_of_image(corpus, chart, with_config=False)
    assert not facts.wants_config and facts.platform is None
    assert facts.parts[0].role == Role.CONFIG


def test_an_index_gives_children_and_attestations_with_the_attested_platform(
    corpus: Corpus,
) -> None:
    index = corpus.indexes[corpus.digest("api", "3.0.0")]
    mt, body = corpus.manifests[index.digest]
    facts = facts_of(index.digest, body, mt)
    amd64, arm64 = index.children
    att_amd64, att_arm64 = index.attestations
    assert facts.kind == Kind.INDEX and facts.platform is None
    assert facts.parts == (
        Part(amd64.digest, Role.CHILD, "linux/amd64"),
        Part(arm64.digest, Role.CHILD, "linux/arm64/v8"),
        Part(att_amd64.digest, Role.ATTESTATION, "linux/amd64", amd64.digest),
        Part(att_arm64.digest, Role.ATTESTATION, "linux/arm64/v8", arm64.digest),
    )


def test_a_docker_list_without_a_content_type(corpus: Corpus) -> None:
    index = corpus.indexes[corpus.digest("worker", "v1-rc.1")]
    facts = facts_of(index.digest, corpus.manifests[index.digest][1])
    assert [p.platform for p in facts.parts] == ["linux/amd64", "linux/arm/v7"]


def test_bytes_of_another_digest_are_refused(corpus: Corpus) -> None:
    image = corpus.images[corpus.digest("web", "1.0")]
    mt, body = corpus.manifests[image.digest]
    with pytest.raises(DocumentRefused, match="do not hash"):
        facts_of("sha256:" + "0" * 64, body, mt)
    with pytest.raises(DocumentRefused, match="config"):
        facts_of(image.digest, body, mt, b'{"architecture": "evil"}')


@pytest.mark.parametrize(
    ("why", "body"),
    [
        ("not JSON", b"\x00garbage"),
        ("a config, not a manifest", b'{"architecture": "amd64", "os": "linux"}'),
        ("both an index and a manifest", b'{"schemaVersion": 2, "manifests": [], "layers": []}'),
        ("schema 1", b'{"schemaVersion": 1, "name": "x", "fsLayers": []}'),
    ],
)
def test_what_is_that_digest_but_no_manifest_read_here_is_other(why: str, body: bytes) -> None:
    assert facts_of(sha256_of(body), body) == Facts(sha256_of(body), Kind.OTHER)


def test_what_cannot_be_verified_is_refused() -> None:
    big = b" " * (4 * 1024 * 1024 + 1)
    with pytest.raises(DocumentRefused, match="4 MiB"):
        facts_of(sha256_of(big), big)
    with pytest.raises(DocumentRefused, match="sha256"):
        facts_of("sha512:" + "a" * 128, b"{}")


def test_parts_are_bounded() -> None:
    layers = [
        {"mediaType": "x", "digest": f"sha256:{i:064x}", "size": 1} for i in range(MAX_PARTS + 5)
    ]
    manifest = dumps(
        {
            "schemaVersion": 2,
            "config": {"mediaType": "x", "digest": "sha256:" + "f" * 64, "size": 1},
            "layers": layers + [{"mediaType": "x", "digest": "not-a-digest", "size": 1}],
        }
    )
    facts = facts_of(sha256_of(manifest), manifest)
    assert len(facts.parts) == MAX_PARTS + 1 and facts.truncated  # the config, then layers


def test_labels_are_bounded_never_cut() -> None:
    labels = {f"k{i:04d}": "v" for i in range(MAX_LABELS + 10)}
    labels["a-long-one"] = "x" * (MAX_LABEL_VALUE + 1)
    config = make_config(
        os="linux", architecture="amd64", variant=None, created="2024-01-01T00:00:00Z",
        diff_ids=[], env=None, labels=labels, cmd=None, entrypoint=None,
        exposed_ports=None, empty_history=0,
    )  # fmt: skip
    manifest = dumps(
        {
            "schemaVersion": 2,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_of(config), "size": len(config)},
            "layers": [],
        }
    )
    facts = facts_of(sha256_of(manifest), manifest, None, config)
    assert len(facts.labels) == MAX_LABELS and facts.truncated
    assert ("a-long-one", None) in facts.labels  # the key stays findable, the value is not cut


def test_sbom_layers_of_attestations_and_referrers(corpus: Corpus) -> None:
    index = corpus.indexes[corpus.digest("api", "3.0.0")]
    attestation = oci.parse_image_manifest(corpus.manifests[index.attestations[0].digest][1])
    chosen = sbom_layers(attestation)
    assert [d.annotations["in-toto.io/predicate-type"] for d in chosen] == [
        "https://spdx.dev/Document"
    ]  # the provenance statement is not an SBOM
    for repo, media_type in (("web", SPDX), ("worker", CYCLONEDX)):
        sbom = corpus.sboms[corpus.repo(repo)][0]
        referrer = oci.parse_image_manifest(corpus.manifests[sbom.source][1])
        assert [d.media_type for d in sbom_layers(referrer)] == [media_type]
    signature_tag = next(t for t in corpus.tags[corpus.repo("tools")] if t.endswith(".sig"))
    signature = corpus.manifests[corpus.tags[corpus.repo("tools")][signature_tag]][1]
    assert sbom_layers(oci.parse_image_manifest(signature)) == []
    cosign_att = oci.ImageManifest.model_validate(
        {
            "schemaVersion": 2,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:" + "1" * 64, "size": 1},
            "layers": [
                {
                    "mediaType": "application/vnd.dsse.envelope.v1+json",
                    "digest": "sha256:" + "2" * 64,
                    "size": 1,
                    "annotations": {"predicateType": "https://cyclonedx.org/bom"},
                }
            ],
        }
    )
    assert len(sbom_layers(cosign_att)) == 1


# -- real-world documents -----------------------------------------------------------------


@pytest.fixture(scope="module")
def realworld() -> Path:
    path = realworld_dir()
    if path is None:
        pytest.skip("../shared/fixtures/realworld not found (set LR_SHARED_DIR)")
    return path


def test_real_manifests_with_their_real_configs(realworld: Path) -> None:
    for manifest_file, config_file, platform in (
        (
            "manifest-oci-alpine-derived-mediatype-first.json",
            "config-alpine-derived-buildkit-buildinfo.json",
            "linux/amd64",
        ),
        (
            "manifest-docker-windows-foreign-layers.json",
            "config-windows-dotnet-framework-runtime-4.8-ltsc2022.json",
            "windows/amd64",
        ),
    ):
        body = (realworld / manifest_file).read_bytes()
        config = (realworld / config_file).read_bytes()
        facts = facts_of(sha256_of(body), body, None, config)
        doc = json.loads(body)
        assert facts.platform == platform and not facts.wants_config
        assert [p.digest for p in facts.parts] == [doc["config"]["digest"]] + [
            layer["digest"] for layer in doc["layers"]
        ]  # foreign layers too: a digest search finds the images using them


def test_real_configs_labels(realworld: Path) -> None:
    for name in (
        "config-tsuru-nginx-1.20.1-mixed-buildkit.json",
        "config-rhosp12-nova-api-healthcheck-derived.json",
        "config-hello-world-2021-amd64.json",  # Labels: null
    ):
        config = (realworld / name).read_bytes()
        media_type = DOCKER_CONFIG
        manifest = dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": media_type, "digest": sha256_of(config), "size": 1},
                "layers": [],
            }
        )
        facts = facts_of(sha256_of(manifest), manifest, None, config)
        labels = json.loads(config)["config"].get("Labels") or {}
        assert dict(facts.labels) == labels, name


def test_real_indexes(realworld: Path) -> None:
    body = (realworld / "index-oci-nginx-1.29.5-amd64-attestation.json").read_bytes()
    facts = facts_of(sha256_of(body), body)
    assert [(p.role, p.platform) for p in facts.parts] == [
        (Role.CHILD, "linux/amd64"),
        (Role.ATTESTATION, "linux/amd64"),  # not unknown/unknown: the image it attests
    ]
    body = (realworld / "list-docker-hello-world-2022.json").read_bytes()
    facts = facts_of(sha256_of(body), body)
    assert len(facts.parts) == 11
    assert "linux/arm/v5" in {p.platform for p in facts.parts}
