"""Search on a registry with the OCI referrers API (go-containerregistry's, a Go peer):
SBOMs found through the API, and an SBOM pushed later by digest through the gateway's
``/v2`` — which changes no tag — found within a second (the push names a manifest with
a ``subject``: that subject's SBOMs are read again)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from harness.images import Pusher
from harness.referrers_registry import ReferrersRegistry
from harness.waiting import eventually
from tests.conftest import gateway_for
from tests.support.callers import basic
from tests.support.search_corpus import Corpus, build_search_corpus, push_search_corpus
from tests.support.search_truth import Row, expected

PREFIX = "refapi"
SERVICE = {"registry_username": "walker", "registry_password": "walker-pw", "v2_mode": "push"}


def found(client: TestClient, **params: str) -> list[Row]:
    body = client.get("/api/search", params={"n": "1000", **params}).json()
    return [
        (r["repository"], r["tag"], r["digest"], r["platform"], r["match"]["kind"],
         r["match"]["value"])
        for r in body["results"]
        if r["repository"].startswith(PREFIX + "/")
    ]  # fmt: skip


def test_sboms_through_the_referrers_api_and_one_pushed_later(
    referrers_api_registry: ReferrersRegistry,
) -> None:
    corpus = build_search_corpus(PREFIX)
    with Pusher(referrers_api_registry.url) as p:
        push_search_corpus(p, corpus)
    with gateway_for(referrers_api_registry.url, **SERVICE) as client:

        def walked() -> bool:
            body: dict[str, Any] = client.get("/api/search", params={"tag": "*"}).json()
            return bool(body["complete"])

        eventually(walked, within=30, what="the walk")
        assert client.app.state.lr.registry.referrers_api is True  # type: ignore[attr-defined]
        for text in ("openssl@3.0.7", "log4j-core", "base-files", "musl@1.2.4"):
            assert found(client, package=text) == expected(corpus, "package", text), text

        # An SBOM for worker:v1 pushed by digest through /v2: no tag changes.
        late = Corpus(PREFIX)
        subject = corpus.images[corpus.digest("worker", "v1")]
        sbom = late.sbom_referrer("worker", subject, [("left-pad", "1.3.0", "")], "SPDX-2.3")
        repo = corpus.repo("worker")
        with Pusher(referrers_api_registry.url) as p:
            p.push_blob(repo, late.blobs[sbom.blob])
            p.push_blob(repo, b"{}")
        media_type, body = late.manifests[sbom.source]
        put = client.put(
            f"/v2/{repo}/manifests/{sbom.source}",
            content=body,
            headers={"Content-Type": media_type, **basic("pusher", "pusher-pw")},
        )
        assert put.status_code == 201, put.text
        index = corpus.digest("worker", "v1-rc.1")  # the image is a child of this one too
        want = [
            (repo, "v1", subject.digest, "linux/amd64", "package", "left-pad@1.3.0"),
            (repo, "v1-rc.1", index, "linux/amd64", "package", "left-pad@1.3.0"),
        ]
        eventually(lambda: found(client, package="left-pad") == want, within=1.0)
