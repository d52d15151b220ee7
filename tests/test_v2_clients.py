"""Real clients through /v2 on registries that need a login: skopeo, crane and oras.

A distribution 3.0 registry with htpasswd or token auth (``admin`` may do everything,
``reader`` pull ``team/*``; on the token registry anonymous callers pull ``public/*``),
behind a served gateway in push mode with deletes on. The clients copy in and out,
list, resolve, tag and delete through the gateway, logged in (``crane auth login``,
``oras login``) or with credentials on the command line (``--creds``, ``-u/-p``).

The base endpoint's challenge is what makes this work on a token registry: its token
server grants anonymous tokens, so ``GET /v2/`` passed on as the registry answers it
would say 200 to a caller without credentials, and docker, skopeo, crane and oras would
then never send theirs ("the registry requires a login" on every private pull).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.images import PushedImage, Pusher, push_image
from harness.registry import RegistryProcess, free_port
from tests.support.callers import Users, basic
from tests.support.clients import Client, crane, oras, skopeo
from tests.support.gateway_server import GatewayServer

USERS = Users({"admin": "admin-Pw-c1a5", "reader": "reader-Pw-77e0"})
EMPTY_BASIC = basic("", "")  # Basic Og==, what skopeo --no-creds answers a challenge with


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    if user == "admin":
        return list(actions)
    if rtype != "repository":
        return []
    if user == "reader" and name.startswith("team/"):
        return [a for a in actions if a == "pull"]
    if user is None and name.startswith("public/"):
        return [a for a in actions if a == "pull"]
    return []


@dataclass
class Site:
    auth: str
    registry: RegistryProcess
    gateway: GatewayServer
    private: PushedImage  # secret/app:1.0, admin only
    public: PushedImage  # public/base:1.0, anonymous pull on the token registry

    @property
    def host(self) -> str:
        return self.gateway.url.removeprefix("http://")


@pytest.fixture(scope="module", params=["htpasswd", "token"])
def site(
    request: pytest.FixtureRequest,
    registry_factory: Any,
    token_server_factory: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    auth: str = request.param
    if auth == "token":
        tokens = token_server_factory(USERS, grant)
        registry = registry_factory(auth="token", token=tokens)
    else:
        registry = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    with Pusher(registry.url, "admin", USERS["admin"]) as p:
        private = push_image(p, "secret/app", "1.0", n_layers=2)
        public = push_image(p, "public/base", "1.0", n_layers=1)
        push_image(p, "team/app", "1.0", n_layers=1)
    gateway = GatewayServer(
        registry.url,
        free_port(),
        v2_mode="push",
        delete_enabled=True,
        data_dir=tmp_path_factory.mktemp("gw-data"),
    ).start()
    try:
        yield Site(auth, registry, gateway, private, public)
    finally:
        gateway.stop()


def test_the_base_endpoint_challenges_callers_without_credentials(site: Site) -> None:
    with httpx.Client(base_url=site.gateway.url, trust_env=False) as gw:
        for method in ("GET", "HEAD"):
            for headers in ({}, EMPTY_BASIC):
                r = gw.request(method, "/v2/", headers=headers)
                assert r.status_code == 401, (method, headers, r.text)
                assert r.headers["www-authenticate"].startswith("Basic realm=")
            assert gw.request(method, "/v2/", auth=("admin", USERS["admin"])).status_code == 200
            assert gw.request(method, "/v2/", auth=("admin", "wrong")).status_code == 401
        if site.auth == "token":
            # empty Basic credentials (skopeo --no-creds) are an anonymous caller, who
            # may pull what anonymous callers may pull
            r = gw.get("/v2/public/base/tags/list", headers=EMPTY_BASIC)
            assert r.status_code == 200 and r.json()["tags"] == ["1.0"]
        r = gw.get("/v2/secret/app/tags/list", headers=EMPTY_BASIC)
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_private_pulls_with_credentials_and_anonymous_public_ones(
    site: Site, tmp_path: Path
) -> None:
    private = f"{site.host}/secret/app:1.0"
    sk = skopeo(tmp_path / "skopeo")
    out = sk.ok("inspect", "--raw", "--tls-verify=false", "--creds", f"admin:{USERS['admin']}",
                f"docker://{private}")  # fmt: skip
    assert out.encode() == site.private.manifest
    denied = sk.run("inspect", "--raw", "--tls-verify=false", "--no-creds", f"docker://{private}")
    assert denied.returncode != 0

    cr = crane(tmp_path / "crane")
    cr.ok("auth", "login", site.host, "-u", "admin", "-p", USERS["admin"])
    assert cr.ok("digest", "--insecure", private).strip() == site.private.digest

    orc = oras(tmp_path / "oras")
    fetched = orc.ok("manifest", "fetch", "--plain-http", "-u", "admin", "-p", USERS["admin"],
                     private)  # fmt: skip
    assert fetched.encode() == site.private.manifest
    assert orc.run("manifest", "fetch", "--plain-http", private).returncode != 0

    if site.auth == "token":  # anonymous callers pull public/* (htpasswd has no anonymous)
        public = f"{site.host}/public/base:1.0"
        out = sk.ok("inspect", "--raw", "--tls-verify=false", "--no-creds", f"docker://{public}")
        assert out.encode() == site.public.manifest
        anonymous = crane(tmp_path / "crane-anonymous")
        assert anonymous.ok("digest", "--insecure", public).strip() == site.public.digest
        assert orc.ok("manifest", "fetch", "--plain-http", public).encode() == site.public.manifest


def _crane_round_trip(cr: Client, host: str, tmp_path: Path, source: PushedImage) -> None:
    src = f"{host}/secret/app:1.0"
    cr.ok("auth", "login", host, "-u", "admin", "-p", USERS["admin"])
    cr.ok("copy", "--insecure", src, f"{host}/team/crane:1.0")  # across repositories
    assert cr.ok("digest", "--insecure", f"{host}/team/crane:1.0").strip() == source.digest
    tarball = tmp_path / "out.tar"
    cr.ok("pull", "--insecure", src, str(tarball))  # copy out
    cr.ok("push", "--insecure", str(tarball), f"{host}/team/crane-tar:1.0")  # copy in
    config = json.loads(cr.ok("config", "--insecure", f"{host}/team/crane-tar:1.0"))
    assert config == json.loads(source.config)
    cr.ok("tag", "--insecure", f"{host}/team/crane:1.0", "latest")
    assert cr.ok("ls", "--insecure", f"{host}/team/crane").split() == ["1.0", "latest"]
    cr.ok("delete", "--insecure", f"{host}/team/crane@{source.digest}")
    assert cr.run("digest", "--insecure", f"{host}/team/crane:1.0").returncode != 0


def _oras_round_trip(orc: Client, host: str, tmp_path: Path, source: PushedImage) -> None:
    src = f"{host}/secret/app:1.0"
    orc.ok("login", "--plain-http", host, "-u", "admin", "-p", USERS["admin"])
    orc.ok("cp", "--from-plain-http", "--to-plain-http", src, f"{host}/team/oras:1.0")
    resolved = orc.ok("resolve", "--plain-http", f"{host}/team/oras:1.0").strip()
    assert resolved == source.digest
    (tmp_path / "notes.txt").write_text("pushed through the gateway\n")
    orc.ok("push", "--plain-http", f"{host}/team/oras-files:1.0", "notes.txt")  # copy in
    out = tmp_path / "pulled"
    orc.ok("pull", "--plain-http", "-o", str(out), f"{host}/team/oras-files:1.0")  # copy out
    assert (out / "notes.txt").read_text() == "pushed through the gateway\n"
    orc.ok("tag", "--plain-http", f"{host}/team/oras:1.0", "latest")
    assert orc.ok("repo", "tags", "--plain-http", f"{host}/team/oras").split() == ["1.0", "latest"]
    orc.ok("manifest", "delete", "--plain-http", "--force", f"{host}/team/oras@{source.digest}")
    assert orc.run("resolve", "--plain-http", f"{host}/team/oras:1.0").returncode != 0


def test_crane_copies_lists_tags_and_deletes_through_the_gateway(
    site: Site, tmp_path: Path
) -> None:
    _crane_round_trip(crane(tmp_path), site.host, tmp_path, site.private)


def test_oras_copies_lists_tags_and_deletes_through_the_gateway(site: Site, tmp_path: Path) -> None:
    _oras_round_trip(oras(tmp_path), site.host, tmp_path, site.private)
