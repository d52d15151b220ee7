"""OCI 1.1 referrers through /v2 in push mode, on distribution 3.0 (no referrers API).

The gateway answers ``OCI-Subject`` to a manifest PUT with a ``subject`` and keeps the
subject's referrers tag schema index in the registry itself; it serves
``GET /v2/<name>/referrers/<digest>`` from that index (or from the registry's own API,
on the go-containerregistry registry that has one). oras attaches and discovers through
the gateway without writing fallback tags of its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.view import Change
from harness.images import OCI_MANIFEST, PushedImage, Pusher, dumps, push_image
from harness.referrers import SPDX, Artifact, push_artifact_blobs, push_artifact_for
from harness.referrers_registry import ReferrersRegistry
from harness.registry import RegistryProcess, free_port
from tests.support.callers import basic
from tests.support.clients import oras
from tests.support.gateway_server import GatewayServer

INDEX = "application/vnd.oci.image.index.v1+json"
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


@dataclass
class Site:
    registry: RegistryProcess
    gateway: GatewayServer

    @property
    def gateway_host(self) -> str:
        return self.gateway.url.removeprefix("http://")

    def gw(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, trust_env=False, timeout=30)

    def reg(self) -> httpx.Client:
        return httpx.Client(base_url=self.registry.url, trust_env=False, timeout=30)


@pytest.fixture(scope="module")
def site(registry_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    registry = registry_factory()  # distribution 3.0
    gateway = GatewayServer(
        registry.url,
        free_port(),
        v2_mode="push",
        delete_enabled=True,
        data_dir=tmp_path_factory.mktemp("gw-data"),
    ).start()
    try:
        yield Site(registry, gateway)
    finally:
        gateway.stop()


def index_tag(digest: str) -> str:
    return digest.replace(":", "-")


def referrers(client: httpx.Client, repo: str, digest: str, **params: str) -> httpx.Response:
    r = client.get(f"/v2/{repo}/referrers/{digest}", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == INDEX
    return r


def listed(response: httpx.Response) -> list[str]:
    doc = response.json()
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == INDEX
    return [d["digest"] for d in doc["manifests"]]


def referrer_layer(seed: str) -> bytes:
    return dumps({"seed": seed})


def push_referrer(
    gateway_url: str,
    repo: str,
    subject: PushedImage,
    artifact_type: str,
    seed: str,
    *,
    blobs: bool = True,
) -> tuple[Artifact, httpx.Response]:
    """An artifact pushed through the gateway (its blobs too unless ``blobs`` is false:
    ``referrer_layer``'s pushed already); the PUT's own answer too."""
    with Pusher(gateway_url) as p:
        artifact = push_artifact_for(
            p,
            repo,
            subject,
            artifact_type,
            referrer_layer(seed),
            created="2024-06-01T10:00:00Z",
            blobs=blobs,
        )
        answer = p.request(
            "PUT",
            f"/v2/{repo}/manifests/{artifact.digest}",
            content=artifact.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
    assert answer.status_code == 201, answer.text
    return artifact, answer


def test_a_push_with_a_subject_is_answered_and_indexed_in_the_registry(site: Site) -> None:
    repo = "ref/put"
    with Pusher(site.registry.url) as p:
        subject = push_image(p, repo, "1.0", n_layers=1)
    artifact, answer = push_referrer(site.gateway.url, repo, subject, SBOM, "one")
    assert answer.headers["oci-subject"] == subject.digest
    with site.reg() as reg:  # the index lives in the registry: direct clients see it
        r = reg.get(f"/v2/{repo}/manifests/{index_tag(subject.digest)}", headers={"Accept": INDEX})
        assert r.status_code == 200
        [entry] = r.json()["manifests"]
        assert entry == {
            "mediaType": OCI_MANIFEST,
            "digest": artifact.digest,
            "size": len(artifact.manifest),
            "artifactType": SBOM,
            "annotations": {"org.opencontainers.image.created": "2024-06-01T10:00:00Z"},
        }
        # the registry itself still has no API: the gateway answers in its stead
        assert reg.get(f"/v2/{repo}/referrers/{subject.digest}").status_code == 404
    with site.gw() as gw:
        assert listed(referrers(gw, repo, subject.digest)) == [artifact.digest]
        # pushed again: listed once
        push_referrer(site.gateway.url, repo, subject, SBOM, "one")
        assert listed(referrers(gw, repo, subject.digest)) == [artifact.digest]


def test_a_manifest_without_a_subject_gets_no_oci_subject(site: Site) -> None:
    with Pusher(site.gateway.url) as p:
        image = push_image(p, "ref/plain", "1.0", n_layers=1)
        r = p.request(
            "PUT",
            "/v2/ref/plain/manifests/again",
            content=image.manifest,
            headers={"Content-Type": image.media_type},
        )
    assert r.status_code == 201 and "oci-subject" not in r.headers
    with site.reg() as reg:
        tags = reg.get("/v2/ref/plain/tags/list").json()["tags"]
    assert sorted(tags) == ["1.0", "again"]


def test_unknown_subjects_and_the_artifact_type_filter(site: Site) -> None:
    repo = "ref/filter"
    with Pusher(site.registry.url) as p:
        subject = push_image(p, repo, "1.0", n_layers=1)
    sbom, _ = push_referrer(site.gateway.url, repo, subject, SBOM, "sbom")
    signature, _ = push_referrer(site.gateway.url, repo, subject, SIGNATURE, "sig")
    with site.gw() as gw:
        everything = referrers(gw, repo, subject.digest)
        assert "oci-filters-applied" not in everything.headers
        assert sorted(listed(everything)) == sorted([sbom.digest, signature.digest])
        only = referrers(gw, repo, subject.digest, artifactType=SIGNATURE)
        assert only.headers["oci-filters-applied"] == "artifactType"
        assert listed(only) == [signature.digest]
        none = referrers(gw, repo, subject.digest, artifactType="application/x-nothing")
        assert listed(none) == []
        # a subject nothing refers to, and a repository that does not exist: empty
        assert listed(referrers(gw, repo, "sha256:" + "0" * 64)) == []
        assert listed(referrers(gw, "ref/nowhere", "sha256:" + "1" * 64)) == []
        # a digest of another algorithm is handed on, not refused
        assert listed(referrers(gw, repo, "sha512:" + "2" * 128)) == []
        bad = gw.get(f"/v2/{repo}/referrers/sha256:short")
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_referrers_pushed_at_once_all_end_up_in_the_index(site: Site) -> None:
    """Six referrers' manifests pushed at once through the gateway, each twice: every one
    ends up in the subject's index. Their blobs are pushed first, one after the other:
    distribution 3.0.0 writes a blob's link file in place on every upload, so six
    uploads of the same (empty) config at once make the registry itself refuse a
    manifest now and then (``DIGEST_INVALID``, through the gateway or not) — not what
    is tested here."""
    repo = "ref/race"
    with Pusher(site.registry.url) as p:
        subject = push_image(p, repo, "1.0", n_layers=1)
        for i in range(6):
            push_artifact_blobs(p, repo, referrer_layer(f"race-{i}"))
    pushed: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def one(i: int) -> None:
        try:
            start.wait()
            artifact, _ = push_referrer(
                site.gateway.url, repo, subject, SBOM, f"race-{i}", blobs=False
            )
            pushed.append(artifact.digest)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(pushed) == 6
    with site.reg() as reg:
        r = reg.get(f"/v2/{repo}/manifests/{index_tag(subject.digest)}", headers={"Accept": INDEX})
        assert sorted(d["digest"] for d in r.json()["manifests"]) == sorted(pushed)


def test_deleting_a_referrer_through_the_gateway_unlists_it(site: Site) -> None:
    repo = "ref/delete"
    with Pusher(site.registry.url) as p:
        subject = push_image(p, repo, "1.0", n_layers=1)
    first, _ = push_referrer(site.gateway.url, repo, subject, SBOM, "first")
    second, _ = push_referrer(site.gateway.url, repo, subject, SIGNATURE, "second")
    with site.gw() as gw:
        assert gw.delete(f"/v2/{repo}/manifests/{first.digest}").status_code == 202
        assert listed(referrers(gw, repo, subject.digest)) == [second.digest]
        assert gw.delete(f"/v2/{repo}/manifests/{second.digest}").status_code == 202
        assert listed(referrers(gw, repo, subject.digest)) == []
    with site.reg() as reg:  # the emptied index is gone, tag and all
        tags = reg.get(f"/v2/{repo}/tags/list").json()["tags"]
        assert tags == ["1.0"]


def test_the_index_is_written_through_the_view_which_tells_its_subscribers(
    registry_factory: Any, make_gateway: Any
) -> None:
    """The referrers index's writes are the view's writes: each drops the repository's
    cached lists at once and reaches the subscribers (usage, the tag index, kept answers,
    activity, search) as a change saying what was written, by whom."""
    users = {"ada": "ada-Pw-7f21"}
    registry = registry_factory(auth="htpasswd", htpasswd_users=users)
    repo = "ref/view"
    with Pusher(registry.url, "ada", users["ada"]) as p:
        subject = push_image(p, repo, "1.0", n_layers=1)
        artifact = push_artifact_for(p, repo, subject, SBOM, dumps({"seed": "view"}))
    ada = basic("ada", users["ada"])
    tag = index_tag(subject.digest)
    with make_gateway(registry.url, v2_mode="push", delete_enabled=True) as gw:
        seen: list[Change] = []
        gw.app.state.lr.registry.subscribe(seen.extend)
        assert gw.get(f"/v2/{repo}/tags/list", headers=ada).json()["tags"] == ["1.0"]  # cached
        put = gw.put(
            f"/v2/{repo}/manifests/{artifact.digest}",
            content=artifact.manifest,
            headers={**ada, "Content-Type": OCI_MANIFEST},
        )
        assert put.status_code == 201 and put.headers["oci-subject"] == subject.digest
        index_pushes = [c for c in seen if c.tag == tag]
        [pushed] = index_pushes
        assert (pushed.source, pushed.repositories, pushed.action) == ("gateway", (repo,), "push")
        assert (pushed.media_type, pushed.actor) == (INDEX, "ada")
        # the cached tag list went with the write: the index's tag is listed at once
        assert gw.get(f"/v2/{repo}/tags/list", headers=ada).json()["tags"] == ["1.0", tag]

        seen.clear()
        assert gw.delete(f"/v2/{repo}/manifests/{artifact.digest}", headers=ada).status_code == 202
        deletes = [(c.action, c.digest, c.actor) for c in seen if c.source == "gateway"]
        assert deletes[0] == ("delete", artifact.digest, "ada")  # the referrer itself
        assert deletes[1:] == [("delete", pushed.digest, "ada")]  # its emptied index
        assert gw.get(f"/v2/{repo}/tags/list", headers=ada).json()["tags"] == ["1.0"]


def test_oras_attaches_and_discovers_through_the_gateway(site: Site, tmp_path: Path) -> None:
    repo = "ref/oras"
    with Pusher(site.registry.url) as p:
        subject = push_image(p, repo, "1.0", n_layers=1)
    client = oras(tmp_path)
    (tmp_path / "sbom.json").write_text('{"spdxVersion": "SPDX-2.3"}')
    target = f"{site.gateway_host}/{repo}:1.0"
    attached = client.run(
        "attach", "--plain-http", "-d", "--artifact-type", SPDX,
        "--annotation", "org.example.kind=sbom",
        target, "sbom.json:application/spdx+json",
    )  # fmt: skip
    assert attached.returncode == 0, attached.stderr
    # oras was told OCI-Subject: it wrote no fallback tag of its own (its debug log
    # names every URL it asked for; against distribution alone it writes that tag)
    assert "/manifests/sha256:" in attached.stderr
    assert f"manifests/{index_tag(subject.digest)}" not in attached.stderr
    found = json.loads(client.ok("discover", "--plain-http", "--format", "json", target))
    [referrer] = found["referrers"]
    assert referrer["artifactType"] == SPDX
    assert referrer["annotations"]["org.example.kind"] == "sbom"
    # a client of the registry alone finds it through the tag schema the gateway kept
    direct = f"{site.registry.host}/{repo}:1.0"
    tagged = json.loads(
        client.ok(
            "discover",
            "--plain-http",
            "--format",
            "json",
            "--distribution-spec",
            "v1.1-referrers-tag",
            direct,
        )  # fmt: skip
    )
    assert [r["digest"] for r in tagged["referrers"]] == [referrer["digest"]]


# -- a registry with the referrers API (go-containerregistry's) ----------------------------


@pytest.fixture(scope="module")
def api_site(
    referrers_api_registry: ReferrersRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ReferrersRegistry, str]]:
    registry = referrers_api_registry
    gateway = GatewayServer(
        registry.url,
        free_port(),
        v2_mode="push",
        delete_enabled=True,
        data_dir=tmp_path_factory.mktemp("gw-data"),
    ).start()
    try:
        yield registry, gateway.url
    finally:
        gateway.stop()


def test_a_registry_with_the_api_answers_itself(
    api_site: tuple[ReferrersRegistry, str],
) -> None:
    registry, gateway_url = api_site
    repo = "ref/api"
    with Pusher(registry.url) as p:
        subject = push_image(p, repo, "1.0", n_layers=1)
    artifact, answer = push_referrer(gateway_url, repo, subject, SBOM, "api")
    assert answer.headers["oci-subject"] == subject.digest  # the registry's own
    with httpx.Client(base_url=gateway_url, trust_env=False) as gw:
        assert listed(referrers(gw, repo, subject.digest)) == [artifact.digest]
        filtered = referrers(gw, repo, subject.digest, artifactType=SIGNATURE)
        assert listed(filtered) == []
    with httpx.Client(base_url=registry.url, trust_env=False) as reg:
        tags = reg.get(f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["1.0"]  # no fallback index: the registry keeps referrers itself
