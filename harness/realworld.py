"""Push the real-world documents of ``shared/fixtures/realworld`` into a registry.

Provenance is in that directory's SOURCES.md. Documents are pushed as their exact bytes.
Where a document references blobs we do not have (layers of hundreds of MB, configs
never published), small synthetic blobs take their place and only the ``digest`` and
``size`` of those descriptors are rewritten in the original text: indentation, key
order and ``\\/`` escapes stay as they were. Only the 2024 cosign signature is complete,
so only it keeps its original digest.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from harness.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    IN_TOTO,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Pusher,
    PushError,
    dumps,
    make_layer,
    sha256_digest,
)

COSIGN_2024_SUBJECT = "sha256:33735bd63cf84d7e388d9f6d297d348c523c044410f553bd878c6d7829612735"
COSIGN_2023_SUBJECT = "sha256:4c1c50d0ffc614f90b93b07d778028dc765548e823f676fb027f61d281ac380d"
SYNTHETIC_LABEL = "org.example.realworld.synthetic"


def realworld_dir() -> Path | None:
    shared = os.environ.get("LR_SHARED_DIR")
    base = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared"
    path = base / "fixtures" / "realworld"
    return path if path.is_dir() else None


def _object_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every JSON object in ``text``, string-aware."""
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            spans.append((stack.pop(), i + 1))
    return spans


def rewrite_descriptor(text: str, old_digest: str, new_digest: str, new_size: int) -> str:
    """Point the descriptor(s) naming ``old_digest`` at a blob of ``new_digest``/``new_size``.

    The ``size`` of each descriptor whose ``digest`` is ``old_digest`` is replaced in
    place; then every other mention of the digest (e.g. ``vnd.docker.reference.digest``)
    follows. Nothing else in the text changes.
    """
    key = re.compile(r'"digest"\s*:\s*"' + re.escape(old_digest) + '"')
    size = re.compile(r'("size"\s*:\s*)\d+')
    pos = 0
    while (m := key.search(text, pos)) is not None:
        inner = min(
            (s for s in _object_spans(text) if s[0] < m.start() < s[1]),
            key=lambda s: s[1] - s[0],
        )
        body = text[inner[0] : inner[1]]
        body = size.sub(lambda mm: f"{mm.group(1)}{new_size}", body, count=1)
        text = text[: inner[0]] + body + text[inner[1] :]
        pos = inner[0] + len(body)
    return text.replace(old_digest, new_digest)


class _RealWorld:
    def __init__(self, p: Pusher, prefix: str, src: Path) -> None:
        self.p = p
        self.prefix = prefix
        self.src = src
        self.pushed: dict[str, str] = {}

    def read(self, name: str) -> bytes:
        return (self.src / name).read_bytes()

    def blob(self, repo: str, data: bytes) -> tuple[str, int]:
        return self.p.push_blob(repo, data), len(data)

    def synthetic_layer(self, repo: str, seed: str) -> tuple[bytes, str, int]:
        data, _ = make_layer(f"realworld|{seed}", 0, size=64)
        digest, size = self.blob(repo, data)
        return data, digest, size

    def manifest(self, repo: str, ref: str | None, body: bytes, media_type: str) -> str:
        return self.p.push_manifest(repo, ref or sha256_digest(body), body, media_type)

    def record(self, repo: str, tag: str, outcome: str) -> None:
        self.pushed[f"{repo}:{tag}"] = outcome

    def try_push(self, repo: str, tag: str, fn: Any) -> None:
        """Run one push; a refusal is recorded as ``skipped: …`` instead of raised."""
        try:
            self.record(repo, tag, fn())
        except PushError as exc:
            self.record(repo, tag, f"skipped: HTTP {exc.status_code} {exc.body.strip()[:200]}")

    # -- documents ----------------------------------------------------------------

    def image_from_config(
        self, repo: str, ref: str | None, config: bytes, *, oci: bool, seed: str
    ) -> tuple[str, int]:
        """A synthetic manifest around a real config, one tiny layer per diff_id."""
        doc = json.loads(config)
        n = max(1, len((doc.get("rootfs") or {}).get("diff_ids") or []))
        layers = []
        for i in range(n):
            _, digest, size = self.synthetic_layer(repo, f"{seed}/{i}")
            layers.append(
                {"mediaType": OCI_LAYER if oci else DOCKER_LAYER, "size": size, "digest": digest}
            )
        self.blob(repo, config)
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        body = dumps(
            {
                "schemaVersion": 2,
                "mediaType": media_type,
                "config": {
                    "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                    "size": len(config),
                    "digest": sha256_digest(config),
                },
                "layers": layers,
            }
        )
        return self.manifest(repo, ref, body, media_type), len(body)

    def synthetic_child(self, repo: str, platform: dict[str, Any], seed: str) -> tuple[str, int]:
        config: dict[str, Any] = {
            "architecture": platform.get("architecture", ""),
            "os": platform.get("os", ""),
        }
        for key in ("variant", "os.version"):
            if key in platform:
                config[key] = platform[key]
        config.update(
            {
                "created": "2022-01-01T00:00:00Z",
                "config": {"Labels": {SYNTHETIC_LABEL: "true"}},
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
                "history": [{"created": "2022-01-01T00:00:00Z", "created_by": "synthetic"}],
            }
        )
        return self.image_from_config(repo, None, dumps(config), oci=False, seed=seed)

    def cosign_2024(self) -> None:
        repo = f"{self.prefix}/cosign"
        tag = COSIGN_2024_SUBJECT.replace(":", "-") + ".sig"

        def push() -> str:
            self.blob(repo, self.read("artifact-cosign-signature-config-2024.json"))
            self.blob(repo, self.read("artifact-cosign-simplesigning-payload-2024.json"))
            body = self.read("artifact-cosign-signature-2024.json")
            return self.manifest(repo, tag, body, OCI_MANIFEST)

        self.try_push(repo, tag, push)

    def cosign_2023(self) -> None:
        repo = f"{self.prefix}/cosign"
        tag = COSIGN_2023_SUBJECT.replace(":", "-") + ".sig"

        def push() -> str:
            body = self.read("artifact-cosign-signature-dockerhub-2023.json").decode()
            payload = self.read("artifact-cosign-simplesigning-payload-dockerhub-2023.json")
            self.blob(repo, payload)
            # the original 247-byte config was never published: ggcr's empty config
            config = dumps(
                {
                    "architecture": "",
                    "created": "0001-01-01T00:00:00Z",
                    "history": [{"created": "0001-01-01T00:00:00Z"}],
                    "os": "",
                    "rootfs": {"type": "layers", "diff_ids": [sha256_digest(payload)]},
                    "config": {},
                }
            )
            digest, size = self.blob(repo, config)
            old = json.loads(body)["config"]["digest"]
            body = rewrite_descriptor(body, old, digest, size)
            return self.manifest(repo, tag, body.encode(), OCI_MANIFEST)

        self.try_push(repo, tag, push)

    def helm(self) -> None:
        repo = f"{self.prefix}/helm/nginx"

        def nginx() -> str:
            body = self.read("artifact-helm-chart-manifest-bitnami-nginx-15.0.2.json").decode()
            doc = json.loads(body)
            config = dumps(
                {
                    "name": "nginx",
                    "version": "15.0.2",
                    "description": doc["annotations"]["org.opencontainers.image.description"],
                    "apiVersion": "v2",
                    "appVersion": "1.24.0",
                    "annotations": {SYNTHETIC_LABEL: "true"},
                }
            )
            digest, size = self.blob(repo, config)
            body = rewrite_descriptor(body, doc["config"]["digest"], digest, size)
            _, digest, size = self.synthetic_layer(repo, "helm-nginx")
            body = rewrite_descriptor(body, doc["layers"][0]["digest"], digest, size)
            return self.manifest(repo, "15.0.2", body.encode(), OCI_MANIFEST)

        self.try_push(repo, "15.0.2", nginx)
        repo = f"{self.prefix}/helm/redis"

        def redis() -> str:
            body = self.read("artifact-helm-legacy-chart-manifest-redis.json").decode()
            doc = json.loads(body)
            self.blob(repo, self.read("artifact-helm-legacy-chart-config-redis.json"))
            _, digest, size = self.synthetic_layer(repo, "helm-redis")
            body = rewrite_descriptor(body, doc["layers"][0]["digest"], digest, size)
            return self.manifest(repo, "3.2.5", body.encode(), OCI_MANIFEST)

        self.try_push(repo, "3.2.5", redis)

    def configs(self) -> None:
        repo = f"{self.prefix}/configs"
        for path in sorted(self.src.glob("config-*.json")):
            tag = path.stem.removeprefix("config-")
            config = path.read_bytes()
            oci = "buildkit-buildinfo" in tag

            def push(config: bytes = config, oci: bool = oci, tag: str = tag) -> str:
                return self.image_from_config(repo, tag, config, oci=oci, seed=tag)[0]

            self.try_push(repo, tag, push)

    def alpine_oci(self) -> None:
        repo = f"{self.prefix}/alpine-derived"

        def push() -> str:
            body = self.read("manifest-oci-alpine-derived-mediatype-first.json").decode()
            doc = json.loads(body)
            self.blob(repo, self.read("config-alpine-derived-buildkit-buildinfo.json"))
            _, digest, size = self.synthetic_layer(repo, "alpine-derived")
            body = rewrite_descriptor(body, doc["layers"][0]["digest"], digest, size)
            return self.manifest(repo, "buildinfo", body.encode(), OCI_MANIFEST)

        self.try_push(repo, "buildinfo", push)

    def lists(self) -> None:
        for name, file, tag in (
            ("hello-world", "list-docker-hello-world-2022.json", "latest"),
            ("python", "list-docker-python-latest-2022-windows.json", "latest"),
        ):
            repo = f"{self.prefix}/{name}"

            def push(repo: str = repo, file: str = file, tag: str = tag) -> str:
                body = self.read(file).decode()
                doc = json.loads(body)
                for i, entry in enumerate(doc["manifests"]):
                    platform = entry.get("platform") or {}
                    if repo.endswith("/hello-world") and platform == {
                        "architecture": "amd64",
                        "os": "linux",
                    }:
                        config = self.read("config-hello-world-2021-amd64.json")
                        digest, size = self.image_from_config(
                            repo, None, config, oci=False, seed=f"{repo}/{i}"
                        )
                    else:
                        digest, size = self.synthetic_child(repo, platform, f"{repo}/{i}")
                    body = rewrite_descriptor(body, entry["digest"], digest, size)
                media_type = doc.get("mediaType") or DOCKER_LIST
                return self.manifest(repo, tag, body.encode(), media_type)

            self.try_push(repo, tag, push)

    def nginx_index(self) -> None:
        repo = f"{self.prefix}/nginx"

        def push() -> str:
            body = self.read("index-oci-nginx-1.29.5-amd64-attestation.json").decode()
            doc = json.loads(body)
            image_entry, att_entry = doc["manifests"]
            config = dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "created": "2026-02-04T23:52:22Z",
                    "config": {"Labels": {SYNTHETIC_LABEL: "true"}},
                    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
                }
            )
            image_digest, image_size = self.image_from_config(
                repo, None, config, oci=True, seed="nginx-image"
            )
            statement = dumps(
                {
                    "_type": "https://in-toto.io/Statement/v0.1",
                    "predicateType": "https://slsa.dev/provenance/v0.2",
                    "subject": [
                        {
                            "name": "pkg:docker/nginx@1.29.5?platform=linux%2Famd64",
                            "digest": {"sha256": image_digest.removeprefix("sha256:")},
                        }
                    ],
                    "predicate": {"builder": {"id": ""}, SYNTHETIC_LABEL: "true"},
                }
            )
            layer_digest, layer_size = self.blob(repo, statement)
            att_config = dumps(
                {
                    "architecture": "unknown",
                    "os": "unknown",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
                }
            )
            self.blob(repo, att_config)
            att_body = dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": OCI_CONFIG,
                        "digest": sha256_digest(att_config),
                        "size": len(att_config),
                    },
                    "layers": [
                        {
                            "mediaType": IN_TOTO,
                            "digest": layer_digest,
                            "size": layer_size,
                            "annotations": {
                                "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"
                            },
                        }
                    ],
                }
            )
            att_digest = self.manifest(repo, None, att_body, OCI_MANIFEST)
            body = rewrite_descriptor(body, image_entry["digest"], image_digest, image_size)
            body = rewrite_descriptor(body, att_entry["digest"], att_digest, len(att_body))
            return self.manifest(repo, "1.29.5", body.encode(), doc["mediaType"])

        self.try_push(repo, "1.29.5", push)

    def windows_foreign(self) -> None:
        """Expected to be refused: a default registry rejects foreign-layer URLs."""
        repo = f"{self.prefix}/windows"

        def push() -> str:
            body = self.read("manifest-docker-windows-foreign-layers.json").decode()
            doc = json.loads(body)
            self.blob(repo, self.read("config-windows-dotnet-framework-runtime-4.8-ltsc2022.json"))
            for i, layer in enumerate(doc["layers"]):
                if "foreign" in layer["mediaType"]:
                    continue
                _, digest, size = self.synthetic_layer(repo, f"windows/{i}")
                body = rewrite_descriptor(body, layer["digest"], digest, size)
            return self.manifest(repo, "ltsc2022", body.encode(), doc["mediaType"])

        self.try_push(repo, "ltsc2022", push)


def push_realworld(p: Pusher, repo_prefix: str = "realworld") -> dict[str, str]:
    """Push what the registry accepts; return ``{"repo:tag": digest or "skipped: why"}``."""
    src = realworld_dir()
    if src is None:
        return {}
    rw = _RealWorld(p, repo_prefix, src)
    rw.cosign_2024()
    rw.cosign_2023()
    rw.helm()
    rw.configs()
    rw.alpine_oci()
    rw.lists()
    rw.nginx_index()
    rw.windows_foreign()
    return rw.pushed
