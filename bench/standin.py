"""A stand-in registry for the benchmarks that need more than a real one can be filled
with (100,000 repositories, a 10,000-tag repository): a raw ASGI app, served by
``bench/servers.py standin`` in a subprocess.

It answers Basic auth (``standin_user(i)``: user-NNN / bench-pw-NNN), a paged
``_catalog`` with distribution's relative ``Link``, tag lists (``tags`` tags for the
first ``big`` repositories, one for the others), and small manifests and configs by tag
or digest, which the gateway verifies.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, quote

from bench.uvicorn_config import uvicorn_run

PASSWORD_SALT = "bench-pw-"


def standin_names(n: int) -> list[str]:
    return sorted(f"org{i % 97:02d}/svc-{i:06d}" for i in range(n))


def standin_user(i: int) -> tuple[str, str]:
    return f"user-{i:03d}", f"{PASSWORD_SALT}{i:03d}"


def standin_app(n_repos: int, big: int, tags: int) -> Any:
    """A raw ASGI app playing a registry: Basic auth (user-NNN / bench-pw-NNN), a paged
    catalog with distribution's relative ``Link``, tag lists (``tags`` tags for the first
    ``big`` repositories, one for the others), manifests and configs by tag or digest."""
    from harness.images import (
        OCI_CONFIG,
        OCI_LAYER,
        OCI_MANIFEST,
        _manifest,
        make_config,
        sha256_digest,
    )

    names = standin_names(n_repos)
    big_names = set(names[:big])
    docs: dict[str, tuple[bytes, str]] = {}  # digest -> (body, media type)
    by_tag: dict[tuple[str, str], str] = {}

    def tag_list(name: str) -> list[str]:
        return [f"1.0.{i}" for i in range(tags)] if name in big_names else ["1.0.0"]

    def image(name: str, tag: str) -> str:
        key = (name, tag)
        digest = by_tag.get(key)
        if digest is not None:
            return digest
        seed = hashlib.sha256(f"{name}:{tag}".encode()).hexdigest()
        layers = [
            ("sha256:" + hashlib.sha256(f"{seed}/layer".encode()).hexdigest(), OCI_LAYER, 300)
        ]
        config = make_config(
            os="linux",
            architecture="amd64",
            variant=None,
            created="2024-05-01T10:00:00Z",
            diff_ids=["sha256:" + hashlib.sha256(f"{seed}/diff".encode()).hexdigest()],
            env=None,
            labels={"org.opencontainers.image.source": f"https://example.invalid/{name}"},
            cmd=["/app/run"],
            entrypoint=None,
            exposed_ports=None,
            empty_history=1,
        )
        manifest = _manifest(OCI_MANIFEST, OCI_CONFIG, config, layers)
        docs[sha256_digest(config)] = (config, OCI_CONFIG)
        digest = sha256_digest(manifest)
        docs[digest] = (manifest, OCI_MANIFEST)
        by_tag[key] = digest
        return digest

    valid = {
        "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode(): u
        for u, p in (standin_user(i) for i in range(1000))
    }
    pages: dict[tuple[str, int], tuple[bytes, str | None]] = {}

    def catalog_page(last: str, n: int) -> tuple[bytes, str | None]:
        cached = pages.get((last, n))
        if cached is None:
            start = bisect.bisect_right(names, last) if last else 0
            page = names[start : start + n]
            link = None
            if start + n < len(names):
                link = f'</v2/_catalog?last={quote(page[-1], safe="")}&n={n}>; rel="next"'
            cached = pages[(last, n)] = (json.dumps({"repositories": page}).encode(), link)
        return cached

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        method, path = scope["method"], scope["path"]

        async def answer(status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
            out = [(b"content-length", str(len(body)).encode()), *extra]
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

        if valid.get(headers.get(b"authorization", b"").decode()) is None:
            await answer(401, b"{}", [(b"www-authenticate", b'Basic realm="bench"')])
            return
        json_type = [(b"content-type", b"application/json")]
        if path == "/v2/":
            await answer(200, b"{}", json_type)
            return
        if path == "/v2/_catalog":
            query = parse_qs(scope["query_string"].decode())
            n = min(int(query.get("n", ["100"])[0]), 1000)
            body, link = catalog_page(query.get("last", [""])[0], n)
            extra = json_type + ([(b"link", link.encode())] if link else [])
            await answer(200, body, extra)
            return
        name, sep, rest = path.removeprefix("/v2/").rpartition("/manifests/")
        if sep:
            if rest.startswith("sha256:"):
                digest = rest
            else:
                digest = image(name, rest) if rest in tag_list(name) else ""
            doc = docs.get(digest)
            if doc is None:
                unknown = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}'
                await answer(404, unknown, json_type)
                return
            body, media_type = doc
            await answer(
                200,
                body,
                [
                    (b"content-type", media_type.encode()),
                    (b"docker-content-digest", digest.encode()),
                ],
            )
            return
        name, sep, rest = path.removeprefix("/v2/").rpartition("/blobs/")
        if sep and rest in docs:
            body, _ = docs[rest]
            await answer(
                200,
                body,
                [
                    (b"content-type", b"application/octet-stream"),
                    (b"docker-content-digest", rest.encode()),
                ],
            )
            return
        if path.endswith("/tags/list"):
            name = path.removeprefix("/v2/").removesuffix("/tags/list")
            body = json.dumps({"name": name, "tags": tag_list(name)}).encode()
            await answer(200, body, json_type)
            return
        await answer(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}', json_type)

    return app


def standin_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="servers.py standin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=100)
    parser.add_argument("--tags", type=int, default=100)
    args = parser.parse_args(argv)
    uvicorn_run(standin_app(args.repos, args.big, args.tags), args.port)
    return 0


def standin_basic(i: int) -> dict[str, str]:
    """The Authorization header of the stand-in's user ``i``."""
    user, password = standin_user(i)
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
