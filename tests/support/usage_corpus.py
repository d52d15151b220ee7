"""A corpus for storage accounting and retention, and an independent count of it.

``push_usage_corpus`` fills repositories under a prefix with what makes naive sums
wrong: layers shared between tags (same seed, more layers), between platforms of an
index and between repositories, tags sharing a digest, multi-platform indexes with
buildx attestations, a cosign signature tag, and versions whose name, version and
date orders all differ.

``RegistryWalk`` counts the same figures by reading the registry's manifests directly
(``Pusher``, plain v2 requests) with its own closure rule, never the gateway's code.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.images import (
    PushedImage,
    PushedIndex,
    Pusher,
    push_artifact,
    push_image,
    push_index,
    tag_existing,
)

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}

# tag -> created. The name order (1.10.0 < 1.9.0 < 2.0.0-rc1 < ...), the version order
# (1.2.0 < 1.9.0 < 1.10.0 < 2.0.0-rc1 < 2.0.0) and the date order all differ.
APP_VERSIONS: list[tuple[str, str]] = [
    ("1.2.0", "2024-05-01T10:00:00Z"),
    ("1.9.0", "2024-01-10T10:00:00Z"),
    ("1.10.0", "2024-02-10T10:00:00Z"),
    ("2.0.0-rc1", "2024-04-01T10:00:00Z"),
    ("2.0.0", "2024-03-01T10:00:00Z"),
]
APP_ALIASES = {"latest": "2.0.0", "stable": "1.10.0"}  # tags sharing a digest


@dataclass
class Corpus:
    prefix: str
    app: str  # prefix/app: single-platform versions, aliases, a signature tag
    multi: str  # prefix/multi: indexes with attestations, sharing layers with app
    other: str  # prefix/other: an image sharing layers with app
    images: dict[str, PushedImage | PushedIndex] = field(default_factory=dict)  # repo:tag

    def digest(self, repo: str, tag: str) -> str:
        return self.images[f"{repo}:{tag}"].digest


def push_usage_corpus(p: Pusher, prefix: str) -> Corpus:
    corpus = Corpus(prefix, f"{prefix}/app", f"{prefix}/multi", f"{prefix}/other")
    app, multi, other = corpus.app, corpus.multi, corpus.other
    keep = corpus.images
    # One seed for every app version: each has the base layers, a later one more
    # (n_layers), and a config of its own (created differs).
    for i, (tag, created) in enumerate(APP_VERSIONS):
        keep[f"{app}:{tag}"] = push_image(
            p, app, tag, created=created, seed=f"{prefix}-base", n_layers=2 + i % 3
        )
    for alias, target in APP_ALIASES.items():
        image = keep[f"{app}:{target}"]
        tag_existing(p, app, alias, image)
        keep[f"{app}:{alias}"] = image
    keep[f"{app}:main"] = push_image(
        p, app, "main", created="2024-06-01T10:00:00Z", seed=f"{prefix}-main", n_layers=1
    )
    # A cosign signature of 1.9.0: follows its subject in retention.
    subject = keep[f"{app}:1.9.0"].digest
    sig_tag = subject.replace("sha256:", "sha256-") + ".sig"
    keep[f"{app}:{sig_tag}"] = push_artifact(
        p,
        app,
        sig_tag,
        config_media_type="application/vnd.oci.image.config.v1+json",
        layer_media_type="application/vnd.dev.cosign.simplesigning.v1+json",
    )
    # Two multi-platform releases with attestations; their amd64 child shares the base
    # layers of app (same seed), the arm64 ones their own.
    for tag, created in (("1.0.0", "2024-02-01T10:00:00Z"), ("1.1.0", "2024-03-01T10:00:00Z")):
        children = [
            push_image(p, multi, None, created=created, seed=f"{prefix}-base", n_layers=2),
            push_image(
                p, multi, None, architecture="arm64", created=created, seed=f"{prefix}-arm-{tag}"
            ),
        ]
        keep[f"{multi}:{tag}"] = push_index(p, multi, tag, children, attest=True)
    tag_existing(p, multi, "latest", keep[f"{multi}:1.1.0"])
    keep[f"{multi}:latest"] = keep[f"{multi}:1.1.0"]
    # An image of its own whose first layers are app's.
    keep[f"{other}:1.0"] = push_image(
        p, other, "1.0", created="2024-01-01T10:00:00Z", seed=f"{prefix}-base", n_layers=3
    )
    return corpus


class RegistryWalk:
    """The figures counted from the registry's own answers."""

    def __init__(self, p: Pusher) -> None:
        self.p = p
        self._docs: dict[tuple[str, str], tuple[str, bytes]] = {}

    def manifest(self, repo: str, ref: str) -> tuple[str, bytes] | None:
        key = (repo, ref)
        if key not in self._docs:
            r = self.p.get_manifest(repo, ref)
            if r.status_code == 404:
                return None
            assert r.status_code == 200, r.text
            self._docs[key] = (r.headers["Docker-Content-Digest"], r.content)
        return self._docs[key]

    def closure(self, repo: str, digest: str) -> dict[str, int]:
        found = self.manifest(repo, digest)
        if found is None:
            return {}
        _, body = found
        doc: dict[str, Any] = json.loads(body)
        items = {digest: len(body)}
        if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
            for child in doc.get("manifests", []):
                items.update(self.closure(repo, child["digest"]))
        else:
            for blob in [doc["config"], *doc.get("layers", [])]:
                if not blob.get("urls"):
                    items[blob["digest"]] = blob["size"]
        return items

    def tag_items(self, repo: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for tag in self.p.tags(repo) or []:
            found = self.manifest(repo, tag)
            if found is not None:
                out[tag] = self.closure(repo, found[0])
        return out

    def repository(self, repo: str) -> dict[str, Any]:
        """tags, manifests, blobs, total_bytes and by_tag as the API answers them."""
        per_tag = self.tag_items(repo)
        everything: dict[str, int] = {}
        for items in per_tag.values():
            everything.update(items)
        manifests = {d for tag in per_tag for d in self._manifest_digests(repo, tag)}
        reach = Counter(item for items in per_tag.values() for item in items)
        by_tag = {
            tag: {
                "digest": self.manifest(repo, tag)[0],  # type: ignore[index]
                "bytes": sum(items.values()),
                "exclusive_bytes": sum(s for d, s in items.items() if reach[d] == 1),
            }
            for tag, items in per_tag.items()
        }
        return {
            "tags": len(per_tag),
            "manifests": len(manifests),
            "blobs": len(everything) - len(manifests),
            "total_bytes": sum(everything.values()),
            "by_tag": by_tag,
            "items": everything,
        }

    def _manifest_digests(self, repo: str, tag: str) -> set[str]:
        found = self.manifest(repo, tag)
        assert found is not None
        out = {found[0]}
        doc = json.loads(found[1])
        for child in doc.get("manifests", []):
            if self.manifest(repo, child["digest"]) is not None:
                out.add(child["digest"])
        return out

    def freed(self, repo: str, deleted: set[str]) -> int:
        per_tag = self.tag_items(repo)
        kept = {d for tag, items in per_tag.items() if tag not in deleted for d in items}
        gone: dict[str, int] = {}
        for tag in deleted:
            gone.update({d: s for d, s in per_tag[tag].items() if d not in kept})
        return sum(gone.values())
