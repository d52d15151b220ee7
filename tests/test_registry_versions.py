"""Where distribution 2.8 and 3.0 differ, and the gateway answers alike over both.

The suite runs against distribution 3.0 (what ``registry:3`` users run); this module is
the compatibility subset that keeps Debian's 2.8 honest too. For each difference it
shows the registry's own answer (so a registry upgrade that changes it is noticed) and
the gateway's, which must not depend on it:

- tag lists: 2.8 ignores ``n``/``last`` and answers every tag unsorted, ``"tags": null``
  once all were deleted; 3.0 sorts, pages with ``Link`` and answers ``[]``;
- tag deletes: 3.0 deletes a tag natively, 2.8 answers 400 ``DIGEST_INVALID`` (the
  gateway then moves the tag to a placeholder and deletes that);
- catalog limits: a non-numeric ``n`` is ignored by 2.8, 400 on 3.0;
- error codes: a malformed digest in a manifest path is a 500 on both (3.1 fixed it);
- token auth: 2.8 reads libtrust key ids, 3.0 RFC 7638 thumbprints (test_support_kit);
- notifications: ``events.v1+json`` from 2.8, ``events.v2+json`` from 3.0 (test_events).

Also 3.0's own quirk: with deletes disabled it still deletes a tag (3.1 refuses).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from harness.images import OCI_MANIFEST, Pusher, push_image, tag_existing
from harness.registry import RegistryProcess

TAGS = ["b", "a", "c", "10", "2"]
SORTED = ["10", "2", "a", "b", "c"]


@dataclass
class Site:
    version: str
    registry: RegistryProcess
    gateway: TestClient

    def raw(self) -> httpx.Client:
        return httpx.Client(base_url=self.registry.url, trust_env=False, timeout=10)


@pytest.fixture(scope="module", params=["2.8", "3.0"])
def site(request: pytest.FixtureRequest, registry_factory: Any) -> Iterator[Site]:
    from tests.conftest import gateway_for

    version: str = request.param
    registry = registry_factory(version=version)
    with Pusher(registry.url) as p:
        for tag in TAGS:
            push_image(p, "kit/app", tag, n_layers=1, seed=tag)
        gone = push_image(p, "kit/gone", "x", n_layers=1)
        p.delete_manifest("kit/gone", gone.digest)
    with gateway_for(registry.url, delete_enabled=True, catalog_page_size=2) as client:
        yield Site(version, registry, client)


def test_tag_lists_are_sorted_and_paged_alike(site: Site) -> None:
    with site.raw() as raw:
        everything = raw.get("/v2/kit/app/tags/list").json()["tags"]
        paged = raw.get("/v2/kit/app/tags/list", params={"n": 2})
    if site.version == "2.8":
        assert sorted(everything) == SORTED and everything != SORTED  # as stored
        assert len(paged.json()["tags"]) == len(TAGS) and "link" not in paged.headers
    else:
        assert everything == SORTED
        assert paged.json()["tags"] == SORTED[:2] and 'rel="next"' in paged.headers["link"]
    gw = site.gateway
    walked = gw.get("/v2/kit/app/tags/list")
    assert walked.json()["tags"] == SORTED
    # the gateway asks for pages of 2 (its page size here) and follows 3.0's Links
    assert walked.headers["x-upstream-requests"] == ("1" if site.version == "2.8" else "3")
    first = gw.get("/v2/kit/app/tags/list", params={"n": 2})
    assert first.json()["tags"] == SORTED[:2]
    assert first.headers["link"] == '</v2/kit/app/tags/list?last=2&n=2>; rel="next"'
    rest = gw.get("/v2/kit/app/tags/list", params={"n": 2, "last": "b"})
    assert rest.json()["tags"] == ["c"] and "link" not in rest.headers
    api = gw.get("/api/repositories/kit/app/tags", params={"n": 3}).json()
    assert [t["name"] for t in api["tags"]] == SORTED[:3] and api["total"] == len(TAGS)


def test_an_emptied_repository_has_no_tags_on_both(site: Site) -> None:
    with site.raw() as raw:
        tags = raw.get("/v2/kit/gone/tags/list").json()["tags"]
    assert tags == (None if site.version == "2.8" else [])
    gw = site.gateway
    assert gw.get("/v2/kit/gone/tags/list").json() == {"name": "kit/gone", "tags": []}
    listed = gw.get("/api/repositories", params={"q": "kit/gone"}).json()["repositories"]
    assert listed == [
        {"name": "kit/gone", "tag_count": 0, "error": None, "bytes": None, "last_changed": None}
    ]


def test_a_tag_delete_keeps_its_siblings_on_both(site: Site) -> None:
    with Pusher(site.registry.url) as p:
        image = push_image(p, "kit/del", "x", n_layers=1)
        tag_existing(p, "kit/del", "y", image)
    with site.raw() as raw:
        native = raw.delete("/v2/kit/del/manifests/nope")
    if site.version == "2.8":  # no tag deletes: a digest is required
        assert native.status_code == 400
        assert native.json()["errors"][0]["code"] == "DIGEST_INVALID"
    else:
        assert native.status_code == 404  # a tag delete, of a tag that does not exist
    r = site.gateway.delete("/api/repositories/kit/del/tags/x")
    assert r.status_code == 202, r.text
    assert r.json() == {
        "untagged": ["x"],
        "method": "placeholder" if site.version == "2.8" else "native",
    }
    with site.raw() as raw:
        assert raw.get("/v2/kit/del/tags/list").json()["tags"] == ["y"]
        kept = raw.get("/v2/kit/del/manifests/y", headers={"Accept": OCI_MANIFEST})
    assert kept.headers["docker-content-digest"] == image.digest


def test_a_tag_delete_through_v2_is_the_registrys_answer(site: Site) -> None:
    with Pusher(site.registry.url) as p:
        image = push_image(p, "kit/v2del", "x", n_layers=1)
        tag_existing(p, "kit/v2del", "y", image)
    gw = site.gateway
    assert gw.get("/v2/kit/v2del/tags/list").json()["tags"] == ["x", "y"]  # now cached
    r = gw.delete("/v2/kit/v2del/manifests/x")
    if site.version == "2.8":
        assert r.status_code == 400
        assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
        assert gw.get("/v2/kit/v2del/tags/list").json()["tags"] == ["x", "y"]
    else:
        assert r.status_code == 202
        assert gw.get("/v2/kit/v2del/tags/list").json()["tags"] == ["y"]  # dropped at once


def test_catalog_limits_are_the_gateways_own(site: Site) -> None:
    with site.raw() as raw:
        too_many = raw.get("/v2/_catalog", params={"n": 1001})
        not_a_number = raw.get("/v2/_catalog", params={"n": "x"})
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"
    assert not_a_number.status_code == (200 if site.version == "2.8" else 400)
    gw = site.gateway
    for n in ("1001", "x", "-1"):
        r = gw.get("/v2/_catalog", params={"n": n})
        assert r.status_code == 400, n
        assert r.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"
    assert gw.get("/v2/_catalog", params={"n": 0}).json() == {"repositories": []}
    first = gw.get("/v2/_catalog", params={"n": 1})
    assert first.json()["repositories"] == ["kit/app"]
    assert first.headers["link"] == '</v2/_catalog?last=kit%2Fapp&n=1>; rel="next"'


def test_error_codes_are_the_same_over_both(site: Site) -> None:
    bad = "/v2/kit/app/manifests/sha256:abc"
    with site.raw() as raw:
        assert raw.get(bad, headers={"Accept": OCI_MANIFEST}).status_code == 500
    gw = site.gateway
    r = gw.get(bad, headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert r.headers["x-upstream-requests"] == "0"
    for path, status, code in (
        ("/v2/kit/app/manifests/nope", 404, "MANIFEST_UNKNOWN"),
        ("/v2/kit/app/manifests/sha256:" + "0" * 64, 404, "MANIFEST_UNKNOWN"),
        ("/v2/kit/nope/tags/list", 404, "NAME_UNKNOWN"),
        ("/v2/kit/app/blobs/sha256:" + "0" * 64, 404, "BLOB_UNKNOWN"),
    ):
        r = gw.get(path, headers={"Accept": OCI_MANIFEST})
        assert (r.status_code, r.json()["errors"][0]["code"]) == (status, code), path


def test_distribution_3_0_deletes_tags_even_with_deletes_disabled(registry_factory: Any) -> None:
    """A 3.0 quirk (3.1 refuses, as 2.8 does): measured, so that a gateway with deletes
    on in front of such a registry is known to remove tags there."""
    answers = {}
    for version in ("3.0", "3.1"):
        registry = registry_factory(version=version, delete_enabled=False)
        with Pusher(registry.url) as p:
            image = push_image(p, "kit/off", "x", n_layers=1)
            tag_existing(p, "kit/off", "y", image)
        with httpx.Client(base_url=registry.url, trust_env=False) as raw:
            answers[version] = raw.delete("/v2/kit/off/manifests/x").status_code
            assert raw.delete(f"/v2/kit/off/manifests/{image.digest}").status_code == 405
        registry.stop()
    assert answers == {"3.0": 202, "3.1": 405}
