"""``/v2`` as an SPA uses it, warm: what is named by its digest is kept by the browser
(``Cache-Control``, ``private`` unless anonymous), and what the view holds — manifests,
configs — is answered before routing with the very bytes and headers of the routed
answer, for a caller the registry let in; everyone else goes the long way.

Against real registries: an open one, and the token world (an admin, a reader of
``team/*``, anonymous on ``public/*``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.images import OCI_MANIFEST, Pusher, push_image
from harness.registry import RegistryProcess
from tests.conftest import gateway_for
from tests.support.token_world import SECRET_MARKER, World, basic
from tests.support.token_world import world as world

ACCEPT = {"Accept": OCI_MANIFEST}
YEAR = "max-age=31536000, immutable"
PER_REQUEST = ("x-request-id", "x-upstream-requests", "x-upstream-bytes", "date")


@pytest.fixture(scope="module")
def open_registry(registry_factory: Any) -> RegistryProcess:
    registry: RegistryProcess = registry_factory()
    return registry


def _same(routed: httpx.Response, lane: httpx.Response) -> None:
    assert lane.status_code == routed.status_code
    assert lane.content == routed.content
    pick = {k: v for k, v in routed.headers.items() if k not in PER_REQUEST}
    assert {k: v for k, v in lane.headers.items() if k not in PER_REQUEST} == pick


def test_an_spa_reading_v2_is_answered_from_the_view(open_registry: RegistryProcess) -> None:
    with Pusher(open_registry.url) as p:
        image = push_image(p, "spa/app", "1.0", n_layers=1)
    with gateway_for(open_registry.url, v2_mode="pull") as client:
        # The tag list, the manifest by tag, then by digest, the config, as an SPA asks.
        assert client.get("/v2/spa/app/tags/list").json()["tags"] == ["1.0"]
        by_tag = client.get("/v2/spa/app/manifests/1.0", headers=ACCEPT)
        assert by_tag.status_code == 200 and by_tag.content == image.manifest
        assert by_tag.headers["cache-control"] == "no-store"  # a tag moves
        manifest = f"/v2/spa/app/manifests/{image.digest}"
        config = f"/v2/spa/app/blobs/{image.config_digest}"
        routed = [client.get(manifest, headers=ACCEPT), client.get(config)]
        for answer in routed:
            assert answer.status_code == 200
            assert answer.headers["cache-control"] == "public, " + YEAR
        assert routed[1].content == image.config
        # Again: every part is held, nothing asked of the registry, the same answers.
        for path, first in zip((manifest, config), routed, strict=True):
            again = client.get(path, headers=ACCEPT)
            assert again.headers["x-upstream-requests"] == "0"
            _same(first, again)
            head = client.head(path, headers=ACCEPT)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == first.headers["content-length"]
            etag = {"If-None-Match": first.headers["etag"], **ACCEPT}
            assert client.get(path, headers=etag).status_code == 304
        # A layer is never held: streamed from the registry, kept by the browser.
        layer = client.get(f"/v2/spa/app/blobs/{image.layers[0][0]}")
        assert layer.content == image.layer_data[0]
        assert layer.headers["x-upstream-requests"] != "0"
        assert layer.headers["cache-control"] == "public, " + YEAR
        # Another Accept is the registry's negotiation: the long way.
        other = client.get(manifest, headers={"Accept": "application/json"})
        assert other.headers["x-upstream-requests"] != "0"


def test_held_content_is_each_callers_own(world: World) -> None:
    s = world.secret
    with gateway_for(world.url, v2_mode="pull") as client:
        for path in (
            f"/v2/secret/vault/manifests/{s.digest}",
            f"/v2/secret/vault/blobs/{s.config_digest}",
        ):
            admin = client.get(path, headers={**ACCEPT, **basic("admin")})
            assert admin.status_code == 200
            assert admin.headers["cache-control"] == "private, " + YEAR
            again = client.get(path, headers={**ACCEPT, **basic("admin")})
            assert again.headers["x-upstream-requests"] == "0"
            for headers in (basic("reader"), {}):
                refused = client.get(path, headers={**ACCEPT, **headers})
                assert refused.status_code in (401, 403, 404), refused.text
                assert SECRET_MARKER.encode() not in refused.content
                assert s.manifest not in refused.content and s.config not in refused.content
        # The secret digests named under a repository the reader may read.
        assert client.get("/v2/team/app/tags/list", headers=basic("reader")).status_code == 200
        for path in (f"/v2/team/app/manifests/{s.digest}", f"/v2/team/app/blobs/{s.config_digest}"):
            refused = client.get(path, headers={**ACCEPT, **basic("reader")})
            assert refused.status_code in (401, 403, 404), refused.text
            assert s.manifest not in refused.content and s.config not in refused.content
