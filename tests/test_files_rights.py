"""Files inside images on a token registry: an index is shared by layer digest, but a
caller is shown it only where the registry lets them read that layer — the same
answer as a blob download, even after an admin had the layer indexed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import gateway_for
from tests.support.token_world import World, basic
from tests.support.token_world import world as world  # noqa: PLC0414 - the module's fixture


@pytest.fixture(scope="module")
def client(world: World) -> Any:
    with gateway_for(world.url, access_ttl=300, cache_ttl=300) as made:
        yield made


def same_as_download(client: TestClient, repo: str, digest: str, who: str | None) -> int:
    """The status of a layer listing, checked equal to the blob download's."""
    headers = basic(who) if who else {}
    listing = client.get(f"/api/repositories/{repo}/layers/{digest}/files", headers=headers)
    download = client.head(f"/api/repositories/{repo}/blobs/{digest}", headers=headers)
    assert listing.status_code == download.status_code, (repo, who, listing.text)
    if listing.status_code >= 400:
        assert "secret" not in listing.text.lower().replace("secret/vault", "")
        assert "entries" not in listing.json()
    return listing.status_code


def test_a_reader_cannot_list_a_layer_an_admin_indexed(client: TestClient, world: World) -> None:
    secret_layer = world.secret.layers[0][0]
    admin = client.get(
        f"/api/repositories/secret/vault/layers/{secret_layer}/files",
        headers=basic("admin"),
        params={"recursive": "true"},
    )
    assert admin.status_code == 200, admin.text
    assert admin.json()["total"] > 0
    assert same_as_download(client, "secret/vault", secret_layer, "reader") in (401, 403, 404)
    assert same_as_download(client, "secret/vault", secret_layer, None) in (401, 403, 404)
    # named under a repository the reader may pull, it is not that repository's blob
    assert same_as_download(client, "team/app", secret_layer, "reader") == 404
    image = client.get("/api/repositories/secret/vault/images/1.0/files", headers=basic("reader"))
    assert image.status_code in (401, 403, 404)
    image = client.get(
        "/api/repositories/secret/vault/images/1.0/file/preview",
        headers=basic("reader"),
        params={"path": "/layer0/README"},
    )
    assert image.status_code in (401, 403, 404)


def test_a_reader_lists_and_reads_their_own_repository(client: TestClient, world: World) -> None:
    layer = world.team.layers[0][0]
    assert same_as_download(client, "team/app", layer, "reader") == 200
    preview = client.get(
        "/api/repositories/team/app/images/1.0/file/preview",
        headers=basic("reader"),
        params={"path": "/layer0/README"},
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["text"].startswith("layer 0 of ")
    diff = client.get(
        "/api/repositories/team/app/diff",
        headers=basic("reader"),
        params={"from": "1.0", "to": "1.0", "from_repository": "secret/vault"},
    )
    assert diff.status_code in (401, 403, 404)
