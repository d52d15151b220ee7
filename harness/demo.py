"""The demo's content: what ``scripts/demo.sh`` shows, the README's screenshots are
taken of, and the UI's layout and Lighthouse tests run over (``demo_site``).

Everything the UI can show has an example here:

- ``demo/hello``: a small image (``1.0``, ``latest``) with a cosign-format signature
  (the ``sha256-<hex>.sig`` tag cosign pushes; its signature value is made up, as the UI
  shows that a signature exists and never verifies one) and an SPDX SBOM recorded
  through the referrers fallback index (as oras pushes it to distribution 2.x);
- ``demo/multiarch``: a 3-platform index with BuildKit's attestations (provenance);
- ``charts/nginx``: a Helm chart (name, version, appVersion, description);
- ``demo/notes``: an OCI artifact that is neither image nor chart (as ``oras push``
  makes one: an artifact type, an empty config, a Markdown layer);
- ``demo/legacy``: a Docker schema 2 image;
- ``team/backend/api``, ``team/frontend/web``: nested names and version tags;
- ``demo/webapp``: two versions of one web app (``1.0``, ``2.0``), layers made of
  real file trees, for the Files and Compare views (``harness/demo_files.py``);
- ``demo/releases``: 60 version tags, and ``demo/nightly``: 240 tags on a few images
  (past the gateway's tag index threshold, 200).

Content is deterministic: seeding again pushes the same digests.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.demo_files import REPO as WEBAPP_REPO
from harness.demo_files import seed_webapp
from harness.images import (
    OCI_CONFIG,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    Pusher,
    dumps,
    push_artifact,
    push_image,
    push_index,
    sha256_digest,
    tag_existing,
)
from harness.referrers import (
    SPDX,
    fallback_tag,
    push_artifact_for,
    push_fallback_index,
    spdx_sbom,
)
from harness.registry import RegistryProcess, free_port, start_registry
from harness.replicas import Replica, start_replica
from harness.waiting import eventually

COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE = "dev.cosignproject.cosign/signature"
NOTES_TYPE = "application/vnd.example.release-notes.v1"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
RELEASES = 60
NIGHTLIES = 240


@dataclass
class Demo:
    """What was pushed: every tag by "repo:tag", and the demo's special items."""

    pushed: dict[str, PushedImage | PushedIndex] = field(default_factory=dict)
    signed: str = "demo/hello:1.0"  # signed, with an SBOM
    signature: str = ""  # digest of the cosign-format signature manifest
    sbom: str = ""  # digest of the SPDX SBOM artifact
    attested: str = "demo/multiarch:1.0.0"  # an index with BuildKit attestations
    chart: str = "charts/nginx:15.0.2"
    artifact: str = "demo/notes:1.0"
    repositories: list[str] = field(default_factory=list)
    webapp: str = "demo/webapp"  # two versions of one app: the Files and Compare views
    webapp_tags: dict[str, str] = field(default_factory=dict)  # tag → digest
    repositories_extra: list[str] = field(default_factory=list)


def push_cosign_format_signature(p: Pusher, repo: str, subject: PushedImage) -> str:
    """A signature in cosign's format under ``sha256-<subject hex>.sig``: a config, one
    SimpleSigning payload naming the subject, its signature as a layer annotation. The
    signature value is not a real key's (nothing in the UI verifies signatures)."""
    payload = dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"demo.invalid/{repo}"},
                "image": {"docker-manifest-digest": subject.digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    )
    payload_digest = sha256_digest(payload)
    config = dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
            "config": {},
        }
    )
    fake_signature = base64.b64encode(hashlib.sha256(b"demo" + payload).digest() * 2).decode()
    manifest = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "size": len(config),
                "digest": sha256_digest(config),
            },
            "layers": [
                {
                    "mediaType": COSIGN_SIMPLESIGNING,
                    "size": len(payload),
                    "digest": payload_digest,
                    "annotations": {COSIGN_SIGNATURE: fake_signature},
                }
            ],
        }
    )
    p.push_blob(repo, config)
    p.push_blob(repo, payload)
    return p.push_manifest(repo, fallback_tag(subject.digest) + ".sig", manifest, OCI_MANIFEST)


def seed_demo(p: Pusher, *, large: bool = True) -> Demo:
    """Push the demo content (``large``: also the 60- and 240-tag repositories)."""
    demo = Demo()

    def keep(item: PushedImage | PushedIndex, tag: str | None = None) -> None:
        tag = tag or item.tag
        assert tag is not None
        demo.pushed[f"{item.repo}:{tag}"] = dataclasses.replace(item, tag=tag)

    hello = push_image(
        p,
        "demo/hello",
        "1.0",
        labels={
            "org.opencontainers.image.title": "hello",
            "org.opencontainers.image.source": "https://example.invalid/hello",
        },
        cmd=["/hello"],
        exposed_ports=["8080/tcp"],
        created="2024-05-01T10:00:00Z",
    )
    keep(hello)
    tag_existing(p, "demo/hello", "latest", hello)
    keep(hello, "latest")
    demo.signature = push_cosign_format_signature(p, "demo/hello", hello)
    sbom = push_artifact_for(
        p, "demo/hello", hello, SPDX, spdx_sbom("hello"), created="2024-05-01T10:05:00Z"
    )
    push_fallback_index(p, "demo/hello", hello.digest, [sbom])
    demo.sbom = sbom.digest

    repo = "demo/multiarch"
    children = [
        push_image(p, repo, None, architecture="amd64", created="2024-05-02T10:00:00Z"),
        push_image(
            p, repo, None, architecture="arm64", variant="v8", created="2024-05-02T10:05:00Z"
        ),
        push_image(p, repo, None, architecture="arm", variant="v7", created="2024-05-02T10:02:00Z"),
    ]
    index = push_index(p, repo, "1.0.0", children, attest=True)
    keep(index)
    tag_existing(p, repo, "latest", index)
    keep(index, "latest")

    keep(
        push_artifact(
            p,
            "charts/nginx",
            "15.0.2",
            config=dumps(
                {
                    "apiVersion": "v2",
                    "name": "nginx",
                    "version": "15.0.2",
                    "appVersion": "1.25.0",
                    "description": "NGINX Open Source: a web server, reverse proxy and load "
                    "balancer (a demo chart).",
                    "type": "application",
                    "keywords": ["nginx", "http", "web"],
                }
            ),
            annotations={
                "org.opencontainers.image.title": "nginx",
                "org.opencontainers.image.version": "15.0.2",
                "org.opencontainers.image.description": "A demo Helm chart",
            },
            created="2024-05-03T09:00:00Z",
        )
    )

    keep(
        push_artifact(
            p,
            "demo/notes",
            "1.0",
            config_media_type=OCI_EMPTY,
            config=b"{}",
            layer_media_type="text/markdown",
            layer=b"# Release notes\n\n- The demo's first release.\n",
            artifact_type=NOTES_TYPE,
            include_media_type=True,
            annotations={"org.opencontainers.image.title": "release-notes.md"},
            created="2024-05-03T10:00:00Z",
        )
    )

    keep(push_image(p, "demo/legacy", "1.0", oci=False, env=["MODE=legacy"], empty_history=2))
    api: list[PushedImage] = []
    for tag, created in (
        ("v1.0.0", "2024-01-10T09:00:00Z"),
        ("v1.1.0", "2024-02-10T09:00:00Z"),
        ("v1.2.0-rc1", "2024-03-10T09:00:00Z"),
    ):
        api.append(push_image(p, "team/backend/api", tag, created=created, n_layers=1))
        keep(api[-1])
    tag_existing(p, "team/backend/api", "latest", api[1])
    keep(api[1], "latest")
    keep(push_image(p, "team/frontend/web", "2024.05.01", n_layers=1))
    for tag, pushed in seed_webapp(p).items():
        demo.webapp_tags[tag] = pushed.digest
    demo.repositories_extra.append(WEBAPP_REPO)

    if large:
        _seed_large(p, keep)
    pushed = {key.split(":", 1)[0] for key in demo.pushed}
    demo.repositories = sorted(pushed | set(demo.repositories_extra))
    return demo


def _seed_large(p: Pusher, keep: Callable[..., None]) -> None:
    """The 60- and 240-tag repositories, pushed a few at a time (a round trip each)."""

    def release(i: int) -> PushedImage:
        return push_image(
            p,
            "demo/releases",
            f"1.{i // 10}.{i % 10}",
            created=f"2024-{1 + i // 10:02d}-{1 + i % 10:02d}T12:00:00Z",
            n_layers=1,
            empty_history=0,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        for image in pool.map(release, range(RELEASES)):
            keep(image)
        nightly = [
            push_image(p, "demo/nightly", None, created=f"2024-06-0{1 + k}T02:00:00Z", n_layers=1)
            for k in range(4)
        ]

        def tag(i: int) -> tuple[PushedImage, str]:
            image, name = nightly[i % len(nightly)], f"nightly-{i:03d}"
            tag_existing(p, "demo/nightly", name, image)
            return image, name

        for image, name in pool.map(tag, range(NIGHTLIES)):
            keep(image, name)


@contextmanager
def demo_stack(*, login: bool = False) -> Iterator[dict[str, str]]:
    """For the scripts that measure or picture the demo (scripts/ui_budgets.py,
    scripts/screenshots.py): a registry in a temporary folder holding the demo's content
    and a gateway process in front of it, as ``scripts/demo.sh`` runs them (deletes on,
    /v2 in push mode, the registry's notifications sent to the gateway, so each
    repository's last change is known); with ``login``, also a registry that asks for
    credentials and its own gateway. Yields {"demo": url, "login": url}; stops
    everything after."""
    with tempfile.TemporaryDirectory(prefix="lr-demo-") as tmp:
        root = Path(tmp)
        started: list[RegistryProcess | Replica] = []
        try:
            port, token = free_port(), secrets.token_urlsafe(16)
            registry = start_registry(
                root / "registry",
                delete_enabled=True,
                notifications_url=f"http://127.0.0.1:{port}/api/events",
                notifications_token=token,
            )
            started.append(registry)
            gateway = start_replica(
                root,
                {
                    "LR_REGISTRY_URL": registry.url,
                    "LR_DELETE_ENABLED": "true",
                    "LR_V2_MODE": "push",
                    "LR_EVENTS_TOKEN": token,
                    "LR_DATA_DIR": str(root / "gateway-data"),
                    "LR_LOG_LEVEL": "warning",
                },
                port=port,
            )
            started.append(gateway)
            with Pusher(registry.url) as p:
                demo = seed_demo(p)
            _wait_for_notifications(gateway.url, len(demo.repositories))
            urls = {"demo": gateway.url}
            if login:
                users = {"alice": secrets.token_urlsafe(12)}
                locked = start_registry(root / "login", auth="htpasswd", htpasswd_users=users)
                started.append(locked)
                locked_gateway = start_replica(
                    root,
                    {
                        "LR_REGISTRY_URL": locked.url,
                        "LR_DATA_DIR": str(root / "login-data"),
                        "LR_LOG_LEVEL": "warning",
                    },
                )
                started.append(locked_gateway)
                urls["login"] = locked_gateway.url
            yield urls
        finally:
            for item in reversed(started):
                item.stop()


def _wait_for_notifications(url: str, repositories: int) -> None:
    """Until the gateway has heard of every repository (a few seconds at most)."""
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:

        def heard() -> bool:
            rows = client.get("/api/repositories", params={"n": 1000}).json()["repositories"]
            return sum(row["last_changed"] is not None for row in rows) >= repositories

        eventually(heard, every=0.1, what="the registry's notifications of every repository")
