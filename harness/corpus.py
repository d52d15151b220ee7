"""Many distinct images in one repository, pushed in seconds: the corpus that memory
tests and benchmarks read as 1,000-row pages.

Every image is one real OCI image manifest with its own config (a date, labels, an
environment and a history of its own) over one shared layer, tagged ``t00000``,
``t00001``…; configs go up in one request each where the registry takes a monolithic ``POST
?digest=`` (else a ``POST`` and a ``PUT``), requests sent ``concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx

from harness.images import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Pusher,
    dumps,
    make_layer,
    sha256_digest,
)


@dataclass(frozen=True)
class Corpus:
    repo: str
    tags: dict[str, str]  # tag -> manifest digest
    configs: dict[str, str]  # manifest digest -> config digest


def tag_name(i: int) -> str:
    return f"t{i:05d}"


def image_config(i: int, diff_id: str) -> bytes:
    minute, second = divmod(i % 3600, 60)
    created = f"2024-01-01T{i // 3600 % 24:02d}:{minute:02d}:{second:02d}Z"
    return dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/bin", f"IMAGE={i}"],
                "Cmd": ["/app/run", "--serve"],
                "WorkingDir": "/app",
                "Labels": {
                    "org.opencontainers.image.title": f"image {i}",
                    "org.opencontainers.image.revision": f"{i:040x}",
                },
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [
                {"created": created, "created_by": "/bin/sh -c #(nop) ADD file:base in /"},
                {"created": created, "created_by": f"RUN build {i}", "empty_layer": True},
            ],
        }
    )


def image_manifest(config: bytes, layer_digest: str, layer_size: int) -> bytes:
    return dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_size}],
        }
    )


def push_corpus_with(pusher: Pusher, repo: str, count: int) -> Corpus:
    """The same images, one request at a time through ``pusher`` (which answers Basic
    and Bearer challenges): for registries that need a login."""
    layer, raw = make_layer(f"corpus:{repo}", 0)
    layer_digest = pusher.push_blob(repo, layer)
    tags: dict[str, str] = {}
    configs: dict[str, str] = {}
    for i in range(count):
        config = image_config(i, sha256_digest(raw))
        manifest = image_manifest(config, layer_digest, len(layer))
        configs[sha256_digest(manifest)] = pusher.push_blob(repo, config)
        tags[tag_name(i)] = pusher.push_manifest(repo, tag_name(i), manifest, OCI_MANIFEST)
    return Corpus(repo, tags, configs)


def push_corpus(
    registry_url: str, repo: str, count: int, *, start: int = 0, concurrency: int = 16
) -> Corpus:
    """Push ``count`` distinct images (tags ``tag_name(start)``…) to ``repo``."""
    indexes = range(start, start + count)
    return asyncio.run(_push(registry_url.rstrip("/"), repo, indexes, concurrency))


async def _push(base: str, repo: str, indexes: range, concurrency: int) -> Corpus:
    layer, raw = make_layer(f"corpus:{repo}", 0)
    diff_id = sha256_digest(raw)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits, trust_env=False) as c:

        async def blob(data: bytes) -> str:
            digest = sha256_digest(data)
            r = await c.post(
                f"/v2/{repo}/blobs/uploads/",
                params={"digest": digest},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            if r.status_code == 202:  # no monolithic POST (distribution 2.x): PUT it
                location = r.headers["Location"]
                sep = "&" if "?" in location else "?"
                r = await c.put(
                    f"{location}{sep}digest={digest}",
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                )
            if r.status_code != 201:
                raise RuntimeError(f"upload to {repo}: HTTP {r.status_code} {r.text[:200]}")
            return digest

        layer_digest = await blob(layer)
        gate = asyncio.Semaphore(concurrency)

        async def image(i: int) -> tuple[str, str, str]:
            config = image_config(i, diff_id)
            manifest = image_manifest(config, layer_digest, len(layer))
            async with gate:
                config_digest = await blob(config)
                r = await c.put(
                    f"/v2/{repo}/manifests/{tag_name(i)}",
                    content=manifest,
                    headers={"Content-Type": OCI_MANIFEST},
                )
            if r.status_code != 201:
                raise RuntimeError(f"push {repo}:{tag_name(i)}: HTTP {r.status_code}")
            return tag_name(i), sha256_digest(manifest), config_digest

        pushed = await asyncio.gather(*(image(i) for i in indexes))
    return Corpus(
        repo,
        {tag: digest for tag, digest, _ in pushed},
        {digest: config for _, digest, config in pushed},
    )


if __name__ == "__main__":  # python -m harness.corpus URL REPO COUNT
    import sys
    import time

    started = time.perf_counter()
    corpus = push_corpus(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    print(json.dumps({"images": len(corpus.tags), "seconds": time.perf_counter() - started}))
