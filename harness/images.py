"""Build images, indexes and artifacts and push them through the v2 API.

Everything is deterministic for a given seed: the same call pushes the same bytes, so
digests are stable across runs. Layers are real gzip'd tar files of a few hundred
bytes; configs are real image configs. Every document is serialised once and its exact
bytes are kept next to the digest the tests assert against.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import ipaddress
import json
import random
import re
import tarfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

ACCEPT_ALL = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

_REPO_IN_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags)/")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dumps(doc: Any) -> bytes:
    """Compact JSON, the way Go's encoding/json writes it."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class PushError(RuntimeError):
    def __init__(self, what: str, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.body = response.text
        super().__init__(f"{what}: HTTP {response.status_code} {response.text[:500]}")


class Pusher:
    """A small synchronous v2 client that pushes content.

    Handles Basic and Bearer challenges itself: on a 401 it fetches a token from the
    challenge's realm (loopback only) with the scopes the challenge names, plus those
    already requested for the same repository, and retries once.
    """

    def __init__(
        self, base_url: str, username: str | None = None, password: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.client = httpx.Client(trust_env=False, timeout=30.0, follow_redirects=False)
        self._basic: str | None = None
        self._tokens: dict[str, str] = {}
        self._scopes: dict[str, list[str]] = {}
        self.token_requests = 0

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    # -- transport -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request to the registry, answering an auth challenge once."""
        url = urljoin(self.base_url + "/", path_or_url)
        if not url.startswith(self.base_url + "/"):
            raise ValueError(f"refusing to send a request outside {self.base_url}: {url}")
        match = _REPO_IN_PATH.match(urlsplit(url).path)
        key = match.group("name") if match else ""
        response = self._send(method, url, key, headers, content, params)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic" and self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            self._basic = "Basic " + base64.b64encode(raw).decode("ascii")
        elif scheme == "bearer":
            params_ = dict(_CHALLENGE_PARAM.findall(challenge))
            wanted = list(self._scopes.get(key, []))
            for scope in params_.get("scope", "").split():
                if scope not in wanted:
                    wanted.append(scope)
            self._scopes[key] = wanted
            self._tokens[key] = self._fetch_token(
                params_.get("realm", ""), params_.get("service"), wanted
            )
        else:
            return response
        return self._send(method, url, key, headers, content, params)

    def _send(
        self,
        method: str,
        url: str,
        key: str,
        headers: dict[str, str] | None,
        content: bytes | None,
        params: dict[str, str] | None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if key in self._tokens:
            sent["Authorization"] = "Bearer " + self._tokens[key]
        elif self._basic is not None:
            sent["Authorization"] = self._basic
        return self.client.request(method, url, headers=sent, content=content, params=params)

    def _fetch_token(self, realm: str, service: str | None, scopes: list[str]) -> str:
        host = urlsplit(realm).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ValueError(f"refusing to ask a non-loopback realm for a token: {realm!r}")
        query: list[tuple[str, str | int | float | bool | None]] = []
        if service:
            query.append(("service", service))
        query.extend(("scope", s) for s in scopes)
        auth: tuple[str, str] | None = None
        if self.username is not None:
            query.append(("account", self.username))
            auth = (self.username, self.password or "")
        self.token_requests += 1
        r = self.client.get(realm, params=query, auth=auth)
        if r.status_code != 200:
            raise PushError(f"token request to {realm}", r)
        body = r.json()
        return str(body.get("token") or body["access_token"])

    # -- operations ----------------------------------------------------------------

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload ``data`` (POST then PUT ?digest=) and return its digest."""
        digest = sha256_digest(data)
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        if r.status_code != 202:
            raise PushError(f"start upload to {repo}", r)
        location = urljoin(self.base_url + "/", r.headers["Location"])
        sep = "&" if "?" in location else "?"
        r = self.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            headers={"Content-Type": "application/octet-stream"},
            content=data,
        )
        if r.status_code != 201:
            raise PushError(f"upload {digest} to {repo}", r)
        return digest

    def push_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or a digest; return the sha256 of ``body``."""
        digest = sha256_digest(body)
        r = self.request(
            "PUT", f"/v2/{repo}/manifests/{ref}", headers={"Content-Type": media_type}, content=body
        )
        if r.status_code != 201:
            raise PushError(f"push manifest {repo}:{ref}", r)
        returned = r.headers.get("Docker-Content-Digest")
        if returned is not None and returned != digest:
            raise RuntimeError(f"registry says {returned} for a manifest whose sha256 is {digest}")
        return digest

    def delete_manifest(self, repo: str, digest: str) -> None:
        r = self.request("DELETE", f"/v2/{repo}/manifests/{digest}")
        if r.status_code != 202:
            raise PushError(f"delete {repo}@{digest}", r)

    def get_manifest(self, repo: str, ref: str) -> httpx.Response:
        return self.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT_ALL})

    def tags(self, repo: str) -> list[str] | None:
        r = self.request("GET", f"/v2/{repo}/tags/list")
        r.raise_for_status()
        tags: list[str] | None = r.json().get("tags")
        return tags

    def catalog(self, n: int = 1000) -> list[str]:
        """All repositories, following the catalog's Link header."""
        names: list[str] = []
        path = f"/v2/_catalog?n={n}"
        while True:
            r = self.request("GET", path)
            r.raise_for_status()
            names.extend(r.json().get("repositories") or [])
            link = r.links.get("next", {}).get("url")
            if not link:
                return names
            path = "/v2/_catalog?" + urlsplit(link).query


# -- pushed content -------------------------------------------------------------------


@dataclass
class PushedImage:
    repo: str
    tag: str | None
    digest: str
    media_type: str
    manifest: bytes
    config_digest: str
    config: bytes
    config_size: int
    layers: list[tuple[str, str, int]]
    os: str
    architecture: str
    variant: str | None
    created: str
    size: int
    # the layer bytes, so the same image can be pushed again into another repository
    layer_data: list[bytes] = field(default_factory=list, repr=False, compare=False)
    config_media_type: str = ""
    # the PushedImage this attestation describes (attestations only)
    subject_digest: str | None = None

    @property
    def platform(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)

    @property
    def reference(self) -> str:
        return f"{self.repo}:{self.tag}" if self.tag else f"{self.repo}@{self.digest}"


@dataclass
class PushedIndex:
    repo: str
    tag: str | None
    digest: str
    media_type: str
    manifest: bytes
    children: list[PushedImage]
    attestations: list[PushedImage]
    size: int
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def platforms(self) -> list[str]:
        return [c.platform for c in self.children]

    @property
    def reference(self) -> str:
        return f"{self.repo}:{self.tag}" if self.tag else f"{self.repo}@{self.digest}"


# -- builders -------------------------------------------------------------------------


def _rng(seed: str) -> random.Random:
    return random.Random(hashlib.sha256(seed.encode()).digest())  # noqa: S311


def make_layer(seed: str, index: int, *, size: int = 200) -> tuple[bytes, bytes]:
    """A tiny gzip'd tar with content unique to (seed, index): (compressed, uncompressed)."""
    rng = _rng(f"{seed}/layer/{index}")
    payload = rng.randbytes(size)
    text = f"layer {index} of {seed}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((f"layer{index}/data.bin", payload), (f"layer{index}/README", text)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=6, mtime=0), raw


def make_config(
    *,
    os: str,
    architecture: str,
    variant: str | None,
    created: str,
    diff_ids: list[str],
    env: list[str] | None,
    labels: dict[str, str] | None,
    cmd: list[str] | None,
    entrypoint: list[str] | None,
    exposed_ports: list[str] | None,
    empty_history: int,
) -> bytes:
    container_config: dict[str, Any] = {
        "User": "",
        "Env": env if env is not None else ["PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/bin"],
        "Cmd": cmd,
        "Entrypoint": entrypoint,
        "WorkingDir": "/app",
        "Labels": labels,
    }
    if exposed_ports:
        container_config["ExposedPorts"] = {p: {} for p in exposed_ports}
    history: list[dict[str, Any]] = []
    empties = [
        f"/bin/sh -c #(nop)  ENV STEP={i}" if i else '/bin/sh -c #(nop)  CMD ["sh"]'
        for i in range(empty_history)
    ]
    for i in range(len(diff_ids)):
        history.append({"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{i} in /"})
        if empties:
            history.append({"created": created, "created_by": empties.pop(), "empty_layer": True})
    history.extend(
        {"created": created, "created_by": e, "empty_layer": True} for e in reversed(empties)
    )
    doc: dict[str, Any] = {"architecture": architecture, "os": os}
    if variant:
        doc["variant"] = variant
    doc.update(
        {
            "created": created,
            "author": "Light Registry tests",
            "config": container_config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
    )
    return dumps(doc)


def _manifest(
    media_type: str,
    config_media_type: str,
    config: bytes,
    layers: list[tuple[str, str, int]],
    annotations: dict[str, str] | None = None,
    layer_annotations: list[dict[str, str] | None] | None = None,
    include_media_type: bool = True,
) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if include_media_type:
        doc["mediaType"] = media_type
    doc["config"] = {
        "mediaType": config_media_type,
        "digest": sha256_digest(config),
        "size": len(config),
    }
    out_layers = []
    for i, (digest, mt, size) in enumerate(layers):
        entry: dict[str, Any] = {"mediaType": mt, "digest": digest, "size": size}
        if layer_annotations and layer_annotations[i]:
            entry["annotations"] = layer_annotations[i]
        out_layers.append(entry)
    doc["layers"] = out_layers
    if annotations:
        doc["annotations"] = annotations
    return dumps(doc)


def _push_image_parts(
    p: Pusher,
    repo: str,
    tag: str | None,
    *,
    media_type: str,
    config_media_type: str,
    config: bytes,
    layer_data: list[bytes],
    layers: list[tuple[str, str, int]],
    manifest: bytes,
) -> str:
    for data in layer_data:
        p.push_blob(repo, data)
    p.push_blob(repo, config)
    digest = sha256_digest(manifest)
    return p.push_manifest(repo, tag or digest, manifest, media_type)


def push_image(
    p: Pusher,
    repo: str,
    tag: str | None,
    *,
    oci: bool = True,
    os: str = "linux",
    architecture: str = "amd64",
    variant: str | None = None,
    created: str = "2024-05-01T10:00:00Z",
    env: list[str] | None = None,
    labels: dict[str, str] | None = None,
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    exposed_ports: list[str] | None = None,
    n_layers: int = 2,
    empty_history: int = 1,
    seed: str | None = None,
) -> PushedImage:
    """Push a single-platform image; ``tag=None`` pushes it by digest only."""
    if seed is None:
        seed = f"{repo}|{tag}|{os}/{architecture}/{variant}|{created}"
    layer_mt = OCI_LAYER if oci else DOCKER_LAYER
    layer_data: list[bytes] = []
    layers: list[tuple[str, str, int]] = []
    diff_ids: list[str] = []
    for i in range(n_layers):
        compressed, raw = make_layer(seed, i)
        layer_data.append(compressed)
        layers.append((sha256_digest(compressed), layer_mt, len(compressed)))
        diff_ids.append(sha256_digest(raw))
    config = make_config(
        os=os,
        architecture=architecture,
        variant=variant,
        created=created,
        diff_ids=diff_ids,
        env=env,
        labels=labels,
        cmd=cmd if cmd is not None else ["/app/run"],
        entrypoint=entrypoint,
        exposed_ports=exposed_ports,
        empty_history=empty_history,
    )
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    config_mt = OCI_CONFIG if oci else DOCKER_CONFIG
    manifest = _manifest(media_type, config_mt, config, layers)
    digest = _push_image_parts(
        p,
        repo,
        tag,
        media_type=media_type,
        config_media_type=config_mt,
        config=config,
        layer_data=layer_data,
        layers=layers,
        manifest=manifest,
    )
    return PushedImage(
        repo=repo,
        tag=tag,
        digest=digest,
        media_type=media_type,
        manifest=manifest,
        config_digest=sha256_digest(config),
        config=config,
        config_size=len(config),
        layers=layers,
        os=os,
        architecture=architecture,
        variant=variant,
        created=created,
        size=len(manifest) + len(config) + sum(s for _, _, s in layers),
        layer_data=layer_data,
        config_media_type=config_mt,
    )


def _attestation_for(p: Pusher, repo: str, child: PushedImage) -> PushedImage:
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [
            {
                "name": f"pkg:docker/{repo}?platform={child.platform.replace('/', '%2F')}",
                "digest": {"sha256": child.digest.removeprefix("sha256:")},
            }
        ],
        "predicate": {
            "builder": {"id": ""},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "metadata": {"buildStartedOn": child.created, "buildFinishedOn": child.created},
        },
    }
    layer = dumps(statement)
    layer_digest = sha256_digest(layer)
    config = dumps(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    )
    layers = [(layer_digest, IN_TOTO, len(layer))]
    manifest = _manifest(
        OCI_MANIFEST,
        OCI_CONFIG,
        config,
        layers,
        layer_annotations=[{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}],
    )
    digest = _push_image_parts(
        p,
        repo,
        None,
        media_type=OCI_MANIFEST,
        config_media_type=OCI_CONFIG,
        config=config,
        layer_data=[layer],
        layers=layers,
        manifest=manifest,
    )
    return PushedImage(
        repo=repo,
        tag=None,
        digest=digest,
        media_type=OCI_MANIFEST,
        manifest=manifest,
        config_digest=sha256_digest(config),
        config=config,
        config_size=len(config),
        layers=layers,
        os="unknown",
        architecture="unknown",
        variant=None,
        created="",
        size=len(manifest) + len(config) + len(layer),
        layer_data=[layer],
        config_media_type=OCI_CONFIG,
        subject_digest=child.digest,
    )


def copy_image(p: Pusher, image: PushedImage, repo: str, tag: str | None) -> PushedImage:
    """Push the very same bytes of ``image`` into ``repo`` (under ``tag`` or its digest)."""
    _push_image_parts(
        p,
        repo,
        tag,
        media_type=image.media_type,
        config_media_type=image.config_media_type,
        config=image.config,
        layer_data=image.layer_data,
        layers=image.layers,
        manifest=image.manifest,
    )
    return dataclasses.replace(image, repo=repo, tag=tag)


def push_index(
    p: Pusher,
    repo: str,
    tag: str | None,
    children: list[PushedImage],
    *,
    oci: bool = True,
    attest: bool = False,
    annotations: dict[str, str] | None = None,
) -> PushedIndex:
    """Push an OCI index or a Docker manifest list over ``children``.

    Children already in ``repo`` are referenced as they are; others are copied into it
    by digest first. ``attest=True`` adds a buildx-style attestation manifest per child.
    """
    local: list[PushedImage] = []
    for child in children:
        local.append(child if child.repo == repo else copy_image(p, child, repo, None))
    attestations = [_attestation_for(p, repo, c) for c in local] if attest else []
    entries: list[dict[str, Any]] = []
    for child in local:
        platform: dict[str, str] = {"architecture": child.architecture, "os": child.os}
        if child.variant:
            platform["variant"] = child.variant
        entries.append(
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": len(child.manifest),
                "platform": platform,
            }
        )
    for att in attestations:
        entries.append(
            {
                "mediaType": att.media_type,
                "digest": att.digest,
                "size": len(att.manifest),
                "annotations": {
                    "vnd.docker.reference.digest": att.subject_digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                "platform": {"architecture": "unknown", "os": "unknown"},
            }
        )
    media_type = OCI_INDEX if oci else DOCKER_LIST
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if annotations:
        doc["annotations"] = annotations
    body = dumps(doc)
    digest = p.push_manifest(repo, tag or sha256_digest(body), body, media_type)
    return PushedIndex(
        repo=repo,
        tag=tag,
        digest=digest,
        media_type=media_type,
        manifest=body,
        children=local,
        attestations=attestations,
        size=len(body) + sum(c.size for c in local) + sum(a.size for a in attestations),
        annotations=dict(annotations or {}),
    )


def push_artifact(
    p: Pusher,
    repo: str,
    tag: str,
    *,
    config_media_type: str = HELM_CONFIG,
    config: bytes | None = None,
    layer_media_type: str = HELM_CHART,
    layer: bytes | None = None,
    annotations: dict[str, str] | None = None,
    artifact_type: str | None = None,
    include_media_type: bool = False,
    created: str = "",
) -> PushedImage:
    """Push an OCI manifest whose config is not an image config (a Helm chart by default).

    Like Helm, the manifest has no top-level ``mediaType`` unless asked; the registry
    learns it from Content-Type. ``os``/``architecture`` of the result are "".
    """
    name = repo.rsplit("/", 1)[-1]
    if config is None:
        config = dumps(
            {
                "name": name,
                "version": tag,
                "description": f"A test chart for {repo}",
                "apiVersion": "v2",
                "appVersion": tag,
                "type": "application",
            }
        )
    if layer is None:
        layer, _ = make_layer(f"{repo}|{tag}|chart", 0)
    layers = [(sha256_digest(layer), layer_media_type, len(layer))]
    ann = dict(annotations or {})
    if not ann:
        ann = {"org.opencontainers.image.title": name, "org.opencontainers.image.version": tag}
    if created:
        ann.setdefault("org.opencontainers.image.created", created)
    doc: dict[str, Any] = {"schemaVersion": 2}
    if include_media_type:
        doc["mediaType"] = OCI_MANIFEST
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = {
        "mediaType": config_media_type,
        "digest": sha256_digest(config),
        "size": len(config),
    }
    doc["layers"] = [{"mediaType": layer_media_type, "digest": layers[0][0], "size": len(layer)}]
    doc["annotations"] = ann
    manifest = dumps(doc)
    digest = _push_image_parts(
        p,
        repo,
        tag,
        media_type=OCI_MANIFEST,
        config_media_type=config_media_type,
        config=config,
        layer_data=[layer],
        layers=layers,
        manifest=manifest,
    )
    return PushedImage(
        repo=repo,
        tag=tag,
        digest=digest,
        media_type=OCI_MANIFEST,
        manifest=manifest,
        config_digest=sha256_digest(config),
        config=config,
        config_size=len(config),
        layers=layers,
        os="",
        architecture="",
        variant=None,
        created=created,
        size=len(manifest) + len(config) + len(layer),
        layer_data=[layer],
        config_media_type=config_media_type,
    )


def tag_existing(p: Pusher, repo: str, tag: str, image: PushedImage | PushedIndex) -> None:
    """Push the same manifest bytes under another tag (copying content if ``repo`` differs)."""
    if repo != image.repo:
        if isinstance(image, PushedIndex):
            for child in image.children + image.attestations:
                copy_image(p, child, repo, None)
        else:
            copy_image(p, image, repo, tag)
            return
    p.push_manifest(repo, tag, image.manifest, image.media_type)
