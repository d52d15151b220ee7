"""Images made of given layer blobs, pushed through the v2 API: what the files-inside-
images tests and the demo push (the layers themselves are built by the caller).

``push_layers`` pushes each blob, a config and an image manifest; ``push_platforms``
an index of such images, one per platform.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.images import Pusher, sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


@dataclass(frozen=True)
class Layer:
    """One layer: its bytes and media type; ``urls`` for a foreign layer (its bytes are
    pushed anyway unless ``push`` is False, so that reading it would succeed)."""

    data: bytes
    media_type: str
    urls: tuple[str, ...] = ()
    push: bool = True

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)


@dataclass
class PushedLayers:
    repo: str
    tag: str | None
    digest: str
    manifest: bytes
    config_digest: str
    layers: list[str] = field(default_factory=list)


def image_config(
    *,
    os: str = "linux",
    architecture: str = "amd64",
    env: Sequence[str] = ("PATH=/usr/bin",),
    labels: dict[str, str] | None = None,
    cmd: Sequence[str] | None = None,
    created: str = "2024-05-01T10:00:00Z",
    layers: int = 0,
) -> dict[str, Any]:
    config: dict[str, Any] = {"Env": list(env)}
    if labels:
        config["Labels"] = labels
    if cmd is not None:
        config["Cmd"] = list(cmd)
    return {
        "created": created,
        "architecture": architecture,
        "os": os,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{'0' * 64}"] * layers},
        "history": [{"created": created, "created_by": "layer"} for _ in range(layers)],
    }


def push_layers(
    p: Pusher,
    repo: str,
    tag: str | None,
    layers: Sequence[Layer],
    *,
    config: dict[str, Any] | bytes | None = None,
    config_media_type: str = OCI_CONFIG,
) -> PushedLayers:
    """An image of ``layers`` (bottom first) under ``tag`` (None: by digest only)."""
    for layer in layers:
        if layer.push:
            p.push_blob(repo, layer.data)
    if config is None:
        config = image_config(layers=len(layers))
    body = config if isinstance(config, bytes) else json.dumps(config).encode()
    p.push_blob(repo, body)
    descriptors = []
    for layer in layers:
        d: dict[str, Any] = {
            "mediaType": layer.media_type,
            "digest": layer.digest,
            "size": len(layer.data),
        }
        if layer.urls:
            d["urls"] = list(layer.urls)
        descriptors.append(d)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": config_media_type,
                "digest": sha256_digest(body),
                "size": len(body),
            },
            "layers": descriptors,
        }
    ).encode()
    digest = p.push_manifest(repo, tag or sha256_digest(manifest), manifest, OCI_MANIFEST)
    return PushedLayers(
        repo, tag, digest, manifest, sha256_digest(body), [layer.digest for layer in layers]
    )


def push_platforms(
    p: Pusher, repo: str, tag: str, images: Sequence[tuple[str, PushedLayers]]
) -> str:
    """An index under ``tag`` of images already pushed by digest: ``(os/arch, image)``."""
    manifests = []
    for label, image in images:
        os, _, arch = label.partition("/")
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": image.digest,
                "size": len(image.manifest),
                "platform": {"os": os, "architecture": arch},
            }
        )
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
    return p.push_manifest(repo, tag, body.encode(), OCI_INDEX)
