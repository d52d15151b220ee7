"""Tests of the test kit itself, against the real registry binary."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from harness import go_peers
from harness.images import (
    ACCEPT_ALL,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    Pusher,
    PushError,
    push_image,
    push_index,
    sha256_digest,
)
from harness.realworld import rewrite_descriptor
from harness.registry import RegistryProcess, free_port
from harness.tokenserver import TokenServer, jwk_thumbprint, libtrust_key_id, parse_scope
from harness.waiting import eventually
from tests.support.fixtures import (
    FilledRegistry,
    RealWorldRegistry,
    require_peer,
    require_registry_binary,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _get(url: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.get(url, **kwargs)


# -- start_registry -------------------------------------------------------------------


def test_open_registry_push_restart_stop(registry_factory: Any) -> None:
    reg: RegistryProcess = registry_factory()
    assert reg.url == f"http://127.0.0.1:{reg.port}"
    config = json.loads(reg.config_path.read_text())
    assert config["http"]["addr"] == f"127.0.0.1:{reg.port}"
    assert config["http"]["secret"]
    assert config["storage"]["delete"] == {"enabled": True}
    assert config["health"]["storagedriver"] == {"enabled": False}
    r = _get(f"{reg.url}/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"

    with Pusher(reg.url) as p:
        image = push_image(p, "kit/app", "1.0")
    got = _get(f"{reg.url}/v2/kit/app/manifests/1.0", headers={"Accept": ACCEPT_ALL})
    assert got.content == image.manifest
    assert got.headers["Docker-Content-Digest"] == image.digest
    assert sha256_digest(got.content) == image.digest

    reg.stop()
    reg.stop()  # idempotent
    assert not reg.running()
    with pytest.raises(httpx.TransportError):
        _get(f"{reg.url}/v2/")
    port = reg.port
    reg.restart()
    assert reg.port == port and reg.running()
    got = _get(f"{reg.url}/v2/kit/app/tags/list")
    assert got.json() == {"name": "kit/app", "tags": ["1.0"]}


def test_registry_with_deletes_disabled(registry_factory: Any) -> None:
    reg: RegistryProcess = registry_factory(delete_enabled=False)
    with Pusher(reg.url) as p:
        image = push_image(p, "kit/nodelete", "1.0", n_layers=1)
        with pytest.raises(PushError) as err:
            p.delete_manifest("kit/nodelete", image.digest)
    assert err.value.status_code == 405
    assert "UNSUPPORTED" in err.value.body


def test_registry_on_a_taken_port_reports_the_log(registry_factory: Any) -> None:
    # A bare listening socket, not a registry: nothing else can answer /v2/ on that port
    # while the new registry process fails to bind.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(RuntimeError, match="address already in use"):
            registry_factory(port=taken.getsockname()[1])


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536


def test_htpasswd_mode(registry_factory: Any) -> None:
    reg: RegistryProcess = registry_factory(
        auth="htpasswd", htpasswd_users={"alice": "wonderland", "bob": "builder"}
    )
    assert (reg.root / "htpasswd").read_text().startswith("alice:$2y$")
    r = _get(f"{reg.url}/v2/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert _get(f"{reg.url}/v2/", auth=("alice", "wonderland")).status_code == 200
    assert _get(f"{reg.url}/v2/", auth=("alice", "wrong")).status_code == 401

    with Pusher(reg.url, "alice", "wonderland") as p:
        image = push_image(p, "private/app", "1.0", n_layers=1)
        assert p.tags("private/app") == ["1.0"]
    with Pusher(reg.url, "bob", "builder") as p:
        assert p.get_manifest("private/app", "1.0").content == image.manifest
    with Pusher(reg.url, "alice", "nope") as p:
        assert p.request("GET", "/v2/private/app/tags/list").status_code == 401
    with Pusher(reg.url) as p:
        assert p.request("GET", "/v2/private/app/tags/list").status_code == 401


# -- token mode -----------------------------------------------------------------------


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    if user == "admin":
        return actions
    if rtype != "repository":
        return []
    if name.startswith("public/") or (user == "reader" and name.startswith("team/")):
        return [a for a in actions if a == "pull"]
    return []


@pytest.fixture(scope="module")
def token_setup(
    registry_factory: Any, token_server_factory: Any
) -> Iterator[tuple[RegistryProcess, TokenServer]]:
    ts: TokenServer = token_server_factory({"admin": "admin-pw", "reader": "reader-pw"}, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=ts)
    with Pusher(reg.url, "admin", "admin-pw") as admin:
        push_image(admin, "public/tool", "1.0", n_layers=1)
        push_image(admin, "team/app", "1.0", n_layers=1)
        push_image(admin, "secret/app", "1.0", n_layers=1)
    yield reg, ts


def test_token_challenge_and_admin(token_setup: tuple[RegistryProcess, TokenServer]) -> None:
    reg, ts = token_setup
    r = _get(f"{reg.url}/v2/")
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{ts.realm}"' in challenge and f'service="{ts.service}"' in challenge
    with Pusher(reg.url, "admin", "admin-pw") as admin:
        assert admin.catalog() == ["public/tool", "secret/app", "team/app"]
        image = push_image(admin, "team/app", "tmp", n_layers=1, seed="to-delete")
        admin.delete_manifest("team/app", image.digest)
        assert admin.tags("team/app") == ["1.0"]
    catalog_requests = [q for q in ts.requests if "registry:catalog:*" in q["scopes"]]
    assert catalog_requests and catalog_requests[-1]["user"] == "admin"
    assert catalog_requests[-1]["authorization_present"] is True


def test_token_reader_and_anonymous(token_setup: tuple[RegistryProcess, TokenServer]) -> None:
    reg, _ = token_setup
    with Pusher(reg.url, "reader", "reader-pw") as reader:
        assert reader.tags("team/app") == ["1.0"]
        assert reader.tags("public/tool") == ["1.0"]
        r = reader.request("GET", "/v2/_catalog")
        assert r.status_code == 401
        assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
        assert 'scope="registry:catalog:*"' in r.headers["WWW-Authenticate"]
        assert reader.request("GET", "/v2/secret/app/tags/list").status_code == 401
        with pytest.raises(PushError):
            push_image(reader, "team/app", "2.0", n_layers=1)
    with Pusher(reg.url) as anonymous:
        assert anonymous.tags("public/tool") == ["1.0"]
        assert anonymous.request("GET", "/v2/team/app/tags/list").status_code == 401
        assert anonymous.request("GET", "/v2/_catalog").status_code == 401


def test_token_server_protocol(token_setup: tuple[RegistryProcess, TokenServer]) -> None:
    _, ts = token_setup
    scopes = [
        "repository:team/app:pull,push",
        "repository:secret/app:pull",
        "registry:catalog:*",
    ]
    query = [("service", ts.service), ("account", "reader")] + [("scope", s) for s in scopes]
    r = _get(ts.realm, params=query, auth=("reader", "reader-pw"))
    assert r.status_code == 200
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    public_key = x509.load_pem_x509_certificate(ts.certbundle.read_bytes()).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    # distribution 3.x reads the RFC 7638 JWK thumbprint (computed here from pyjwt's JWK)
    jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest())
    assert header["kid"] == thumbprint.decode().rstrip("=") == jwk_thumbprint(public_key)
    claims = jwt.decode(body["token"], public_key, algorithms=["RS256"], audience=ts.service)
    assert claims["aud"] == ts.service  # a string, not a list
    assert claims["iss"] == ts.issuer and claims["sub"] == "reader"
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    assert {"exp", "nbf", "iat", "jti"} <= claims.keys()

    assert _get(ts.realm, params=query, auth=("reader", "wrong")).status_code == 401
    assert _get(ts.realm, params=query, auth=("nobody", "x")).status_code == 401
    anonymous = _get(
        ts.realm, params=[("service", ts.service), ("scope", "repository:public/a:pull")]
    )
    assert anonymous.status_code == 200
    assert jwt.decode(anonymous.json()["token"], options={"verify_signature": False})["sub"] == ""
    assert ts.requests[-1]["user"] is None
    assert ts.requests[-1]["authorization_present"] is False


def test_token_server_signs_libtrust_key_ids_for_2_8(
    registry_factory: Any, token_server_factory: Any
) -> None:
    """distribution 2.8 reads libtrust key ids: a token server started for it signs so,
    and refuses to serve a 3.x registry too (one key id form per server)."""
    ts: TokenServer = token_server_factory({"admin": "admin-pw"}, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=ts, version="2.8")
    assert ts.key_id_form == "libtrust"
    public_key = x509.load_pem_x509_certificate(ts.certbundle.read_bytes()).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert ts.kid == libtrust_key_id(public_key) and len(ts.kid.split(":")) == 12
    with Pusher(reg.url, "admin", "admin-pw") as admin:
        push_image(admin, "team/app", "1.0", n_layers=1)
        assert admin.tags("team/app") == ["1.0"]
    with pytest.raises(ValueError, match="key ids"):
        registry_factory(auth="token", token=ts)


def test_without_go_the_peers_skip_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine without the Go toolchain (and nothing cached) a test that needs a
    Go peer skips with that reason; the cache is keyed by module@version."""
    monkeypatch.setenv("LR_GO", "none")
    monkeypatch.setenv("LR_GO_PEERS_DIR", str(tmp_path))
    assert go_peers.go_binary() is None
    with pytest.raises(go_peers.PeerUnavailable, match="Go toolchain is not installed"):
        go_peers.ensure("crane")
    with pytest.raises(pytest.skip.Exception, match="Go toolchain is not installed"):
        require_peer("registry-3.0")
    with pytest.raises(pytest.skip.Exception, match="Go toolchain"):
        require_registry_binary("3.0")
    path = go_peers.peer_path(go_peers.PEERS["registry-3.1"])
    assert path.parent.name.endswith("@v3.1.2") and path.is_relative_to(tmp_path)


def test_parse_scope() -> None:
    assert parse_scope("repository:a/b/c:pull,push") == ("repository", "a/b/c", ["pull", "push"])
    assert parse_scope("registry:catalog:*") == ("registry", "catalog", ["*"])
    assert parse_scope("repository:host:5000/x:pull") == ("repository", "host:5000/x", ["pull"])
    assert parse_scope("nonsense") is None


# -- standard content -----------------------------------------------------------------


def test_fill_standard_catalog_and_tags(registry: FilledRegistry) -> None:
    p, content = registry.pusher, registry.content
    assert p.catalog() == content.repositories
    assert p.catalog(n=10) == content.repositories  # paged through Link
    for repo in content.repositories:
        tags = p.tags(repo)
        if repo == content.emptied_repo:
            assert tags == []  # 3.x; 2.8 says null (test_registry_versions)
        else:
            assert tags == content.tags_of(repo), repo  # 3.x sorts them
    r = p.request("GET", f"/v2/{content.emptied_repo}/tags/list")
    assert r.json() == {"name": content.emptied_repo, "tags": []}
    names = set(content.repositories)
    assert {"schema2/app", "oci/app", "team/app/api", "team/app/web", "many/repo-034"} <= names
    assert len([n for n in names if n.startswith("many/")]) == 35


def test_fill_standard_documents_match_registry(registry: FilledRegistry) -> None:
    p, content = registry.pusher, registry.content
    for key, item in content.images.items():
        repo, tag = key.split(":", 1)
        r = p.get_manifest(repo, tag)
        assert r.status_code == 200, key
        assert r.content == item.manifest, key
        assert r.headers["Docker-Content-Digest"] == item.digest
        assert r.headers["Content-Type"] == item.media_type
        if isinstance(item, PushedImage):
            blob = p.request("GET", f"/v2/{repo}/blobs/{item.config_digest}")
            assert blob.content == item.config, key
            expected = len(item.manifest) + item.config_size + sum(s for _, _, s in item.layers)
            assert item.size == expected


def test_fill_standard_shapes(registry: FilledRegistry) -> None:
    images = registry.content.images
    s2 = images["schema2/app:1.0"]
    assert isinstance(s2, PushedImage) and s2.media_type == DOCKER_MANIFEST
    config = json.loads(s2.config)
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert sum(1 for h in config["history"] if h.get("empty_layer")) == 2
    assert sum(1 for h in config["history"] if not h.get("empty_layer")) == len(s2.layers)
    assert len(config["rootfs"]["diff_ids"]) == len(s2.layers)
    assert images["oci/app:latest"].digest == images["oci/app:1.0"].digest

    index = images["multi/oci-index:1.0.0"]
    assert isinstance(index, PushedIndex) and index.media_type == OCI_INDEX
    assert index.platforms == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    newest = max(index.children, key=lambda c: c.created)
    assert newest.architecture == "arm64"
    assert images["multi/oci-index:latest"].digest == index.digest
    assert index.size == len(index.manifest) + sum(c.size for c in index.children)

    docker_list = images["multi/docker-list:1.0"]
    assert isinstance(docker_list, PushedIndex) and docker_list.media_type == DOCKER_LIST
    assert all(c.media_type == DOCKER_MANIFEST for c in docker_list.children)

    attested = images["multi/attested:1.0"]
    assert isinstance(attested, PushedIndex)
    doc = json.loads(attested.manifest)
    atts = [m for m in doc["manifests"] if m["platform"]["os"] == "unknown"]
    assert len(atts) == 2
    for entry, child in zip(atts, attested.children, strict=True):
        assert entry["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
        assert entry["annotations"]["vnd.docker.reference.digest"] == child.digest
    assert attested.size == len(attested.manifest) + sum(
        c.size for c in attested.children + attested.attestations
    )

    helm = images["artifacts/helm-chart:15.0.2"]
    assert isinstance(helm, PushedImage) and helm.os == "" and helm.architecture == ""
    assert "mediaType" not in json.loads(helm.manifest)

    order = ["0.9", "1.9.0", "1.10.0-rc1", "1.10.0-rc2", "1.10.0", "v2", "v2.0.1"]
    versions = [images[f"versions/app:{t}"] for t in order]
    created = [v.created for v in versions if isinstance(v, PushedImage)]
    assert len(created) == len(order) and created == sorted(created)
    assert len({v.digest for v in versions}) == len(order)
    assert images["versions/app:latest"].digest == images["versions/app:v2.0.1"].digest


def test_broken_index_child_is_gone(registry: FilledRegistry) -> None:
    p, content = registry.pusher, registry.content
    r = p.get_manifest("broken/index", "1.0")
    assert r.status_code == 200 and r.content == content.broken_index.manifest
    assert p.get_manifest("broken/index", content.broken_child_digest).status_code == 404
    alive = content.broken_index.children[0].digest
    assert p.get_manifest("broken/index", alive).status_code == 200


def test_skopeo_inspects_pushed_image(registry: FilledRegistry) -> None:
    image = registry.content.images["oci/app:1.0"]
    ref = f"docker://{registry.process.host}/oci/app:1.0"
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", ref],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    info = json.loads(out.stdout)
    assert info["Digest"] == image.digest
    assert sorted(info["RepoTags"]) == ["1.0", "latest"]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert isinstance(image, PushedImage)
    assert info["Layers"] == [d for d, _, _ in image.layers]
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", ref],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert raw.stdout == image.manifest


# -- notifications --------------------------------------------------------------------


class _Listener:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                listener.received.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [e for _, body in self.received for e in body.get("events", [])]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    try:
        return bool(eventually(predicate, within=timeout))
    except AssertionError:
        return False


def test_notifications_reach_a_listener(registry_factory: Any) -> None:
    listener = _Listener()
    try:
        reg: RegistryProcess = registry_factory(
            notifications_url=listener.url, notifications_token="s3cret-token"
        )
        with Pusher(reg.url) as p:
            image = push_image(p, "notify/app", "1.0", n_layers=1)
            assert _wait_for(lambda: any(e["action"] == "push" for e in listener.events()))
            p.delete_manifest("notify/app", image.digest)
            assert _wait_for(lambda: any(e["action"] == "delete" for e in listener.events()))
        headers, _ = listener.received[0]
        assert headers["Authorization"] == "Bearer s3cret-token"
        # 3.x says v2 (2.8 said v1); the envelope is the same
        assert headers["Content-Type"].startswith(
            "application/vnd.docker.distribution.events.v2+json"
        )
        events = listener.events()
        push = next(e for e in events if e["action"] == "push")
        assert push["target"]["repository"] == "notify/app"
        assert push["target"]["digest"] == image.digest
        assert push["target"]["tag"] == "1.0"
        assert push["target"]["mediaType"] == OCI_MANIFEST
        # blob uploads carry application/octet-stream and are ignored by the config
        assert all(e["target"].get("mediaType") != "application/octet-stream" for e in events)
        # a delete by digest: one event naming the digest, then one per removed tag,
        # which names the tag only (3.x adds an empty digest, mediaType and size 0)
        assert _wait_for(
            lambda: len([e for e in listener.events() if e["action"] == "delete"]) == 2
        )
        deletes = [e["target"] for e in listener.events() if e["action"] == "delete"]
        named = ("digest", "repository", "tag")

        def said(target: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in target.items() if k in named and v}

        assert said(deletes[0]) == {
            "digest": image.digest,
            "repository": "notify/app",
        }
        assert said(deletes[1]) == {
            "repository": "notify/app",
            "tag": "1.0",
        }
        assert all(not d.get("mediaType") and not d.get("size") for d in deletes)
    finally:
        listener.stop()


# -- real-world documents and the seed script -----------------------------------------


def test_push_realworld(realworld_registry: RealWorldRegistry) -> None:
    pushed, p = realworld_registry.pushed, realworld_registry.pusher
    cosign = (
        "realworld/cosign:"
        "sha256-33735bd63cf84d7e388d9f6d297d348c523c044410f553bd878c6d7829612735.sig"
    )
    original = "sha256:36570d59b0a2ce9a2ae9da089e72b45c4b51c11bf9a45050dd8cd42e4cb638f4"
    assert pushed[cosign] == original
    assert pushed["realworld/windows:ltsc2022"].startswith("skipped: HTTP 500")
    for key, outcome in pushed.items():
        if outcome.startswith("skipped"):
            continue
        repo, tag = key.split(":", 1)
        r = p.get_manifest(repo, tag)
        assert r.status_code == 200, key
        assert sha256_digest(r.content) == outcome
    helm = p.get_manifest("realworld/helm/redis", "3.2.5").content
    assert b'"mediaType"' not in helm.split(b'"config"')[0]
    hello = p.get_manifest("realworld/hello-world", "latest").content
    assert b"application\\/vnd.docker.distribution.manifest.v2+json" in hello
    for entry in json.loads(hello)["manifests"]:
        child = p.get_manifest("realworld/hello-world", entry["digest"])
        assert child.status_code == 200 and len(child.content) == entry["size"]


def test_rewrite_descriptor_keeps_formatting() -> None:
    old = "sha256:" + "a" * 64
    new = "sha256:" + "b" * 64
    text = (
        '{\n   "layers": [\n      {\n         "size": 123456,\n'
        f'         "digest": "{old}"\n      }},\n'
        f'      {{"size": 7, "digest": "sha256:{"c" * 64}"}}\n   ],\n'
        f'   "annotations": {{"ref": "{old}", "x": "a\\/b"}}\n}}'
    )
    out = rewrite_descriptor(text, old, new, 42)
    assert out == text.replace("123456", "42").replace(old, new)
    assert hashlib.sha256(out.encode()).hexdigest() != hashlib.sha256(text.encode()).hexdigest()


def test_seed_script_runs_twice(registry_factory: Any) -> None:
    reg: RegistryProcess = registry_factory()
    outputs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "seed_registry.py"), reg.url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd="/",
        )
        outputs.append(out.stdout)
    assert outputs[0] == outputs[1]
    assert "demo/multiarch:1.0.0" in outputs[0]
    with Pusher(reg.url) as p:
        catalog = p.catalog()
        assert {"demo/hello", "demo/multiarch", "team/backend/api"} <= set(catalog)
        index = json.loads(p.get_manifest("demo/multiarch", "1.0.0").content)
        assert len(index["manifests"]) == 6  # 3 platforms + 3 attestations


def test_push_index_copies_children_from_another_repo(registry_factory: Any) -> None:
    reg: RegistryProcess = registry_factory()
    with Pusher(reg.url) as p:
        child = push_image(p, "kit/source", "1.0", n_layers=1)
        index = push_index(p, "kit/target", "1.0", [child], oci=False)
        assert index.children[0].repo == "kit/target"
        assert p.get_manifest("kit/target", child.digest).content == child.manifest
