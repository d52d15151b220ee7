"""The gateway and skopeo (a real registry client) agree on every image of the standard
content: digests, dates, platforms, layers, env and labels."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import PushedImage, PushedIndex
from tests.support.fixtures import FilledRegistry

SKOPEO = shutil.which("skopeo")
pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo not installed")

_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@dataclass(frozen=True)
class Case:
    """One runnable image: a tagged image, or one platform of a tagged index."""

    repo: str
    tag: str
    image: PushedImage
    index: PushedIndex | None = None

    @property
    def overrides(self) -> list[str]:
        if self.index is None:
            return []
        args = ["--override-os", self.image.os, "--override-arch", self.image.architecture]
        if self.image.variant:
            args += ["--override-variant", self.image.variant]
        return args

    @property
    def id(self) -> str:
        suffix = f"[{self.image.platform}]" if self.index is not None else ""
        return f"{self.repo}:{self.tag}{suffix}"


def _cases(registry: FilledRegistry) -> list[Case]:
    content = registry.content
    cases: list[Case] = []
    seen: set[tuple[str, str]] = set()
    for key, item in content.images.items():
        repo, tag = key.split(":", 1)
        if repo == "artifacts/helm-chart" or item is content.broken_index:
            continue
        if (repo, item.digest) in seen:
            continue
        seen.add((repo, item.digest))
        if isinstance(item, PushedIndex):
            cases.extend(Case(repo, tag, child, item) for child in item.children)
        else:
            cases.append(Case(repo, tag, item))
    return cases


def _skopeo(*args: str) -> bytes:
    assert SKOPEO is not None
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    done = subprocess.run(  # noqa: S603 - fixed argv
        [SKOPEO, "inspect", "--tls-verify=false", "--no-creds", "--retry-times", "2", *args],
        capture_output=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"skopeo inspect {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout


@dataclass
class SkopeoView:
    inspect: dict[str, Any]  # skopeo inspect (the image skopeo picked for the platform)
    config_raw: bytes  # skopeo inspect --raw --config
    manifest_raw: bytes  # the picked image's own manifest, as skopeo reads it
    manifest_digest: str


def _view(host: str, case: Case) -> SkopeoView:
    ref = f"docker://{host}/{case.repo}:{case.tag}"
    inspect = json.loads(_skopeo(*case.overrides, ref))
    config_raw = _skopeo("--raw", "--config", *case.overrides, ref)
    top = _skopeo("--raw", ref)
    if case.index is None:
        manifest_raw, digest = top, inspect["Digest"]
    else:
        # skopeo's inspect names the index; find the child it resolved in the raw index
        entries = [
            m
            for m in json.loads(top)["manifests"]
            if m.get("platform", {}).get("os") == case.image.os
            and m.get("platform", {}).get("architecture") == case.image.architecture
            and m.get("platform", {}).get("variant") == case.image.variant
        ]
        assert len(entries) == 1, entries
        digest = entries[0]["digest"]
        manifest_raw = _skopeo("--raw", f"docker://{host}/{case.repo}@{digest}")
    return SkopeoView(inspect, config_raw, manifest_raw, digest)


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Go may print nanoseconds
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = head + "." + digits[:6].ljust(6, "0") + rest[len(digits) :]
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def views(registry: FilledRegistry) -> dict[str, tuple[Case, SkopeoView]]:
    cases = _cases(registry)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda c: _view(registry.process.host, c), cases))
    return {c.id: (c, v) for c, v in zip(cases, results, strict=True)}


def test_every_image_and_platform_is_covered(
    registry: FilledRegistry, views: dict[str, tuple[Case, SkopeoView]]
) -> None:
    ids = set(views)
    assert len(ids) >= 45
    for expected in (
        "schema2/app:1.0",
        "oci/app:1.0",
        "team/app/api:v1.2.3",
        "multi/oci-index:1.0.0[linux/arm/v7]",
        "multi/docker-list:1.0[linux/arm64/v8]",
        "multi/attested:1.0[linux/amd64]",
    ):
        assert expected in ids


def test_skopeo_agrees_with_the_pushed_content(
    views: dict[str, tuple[Case, SkopeoView]],
) -> None:
    """A sanity check of the reference itself before comparing the gateway to it."""
    for case, view in views.values():
        assert view.manifest_digest == case.image.digest, case.id
        assert view.manifest_raw == case.image.manifest, case.id
        assert view.config_raw == case.image.config, case.id
        expected_top = case.index.digest if case.index is not None else case.image.digest
        assert view.inspect["Digest"] == expected_top, case.id


def test_gateway_agrees_with_skopeo(
    api: TestClient, views: dict[str, tuple[Case, SkopeoView]]
) -> None:
    for case, view in views.values():
        r = api.get(f"/api/repositories/{case.repo}/images/{case.tag}")
        assert r.status_code == 200, r.text
        detail = r.json()
        inspect = view.inspect
        raw_manifest = json.loads(view.manifest_raw)
        raw_config = json.loads(view.config_raw)
        assert detail["digest"] == inspect["Digest"], case.id
        matches = [p for p in detail["platforms"] if p["digest"] == view.manifest_digest]
        assert len(matches) == 1, (case.id, detail["platforms"])
        platform = matches[0]
        assert platform["digest"] == view.manifest_digest
        assert _when(platform["created"]) == _when(inspect["Created"]), case.id
        assert platform["platform"]["os"] == inspect["Os"]
        assert platform["platform"]["architecture"] == inspect["Architecture"]
        variant = inspect.get("Variant") or raw_config.get("variant")
        assert platform["platform"]["variant"] == (variant or None), case.id
        # layers: skopeo's digests, and the sizes it reports (LayersData where this
        # skopeo prints it, else the manifest it read)
        assert [x["digest"] for x in platform["layers"]] == inspect["Layers"], case.id
        if inspect.get("LayersData"):
            sizes = [x["Size"] for x in inspect["LayersData"]]
        else:
            sizes = [x["size"] for x in raw_manifest["layers"]]
        assert [x["size"] for x in platform["layers"]] == sizes, case.id
        config_digest = "sha256:" + hashlib.sha256(view.config_raw).hexdigest()
        assert platform["config_digest"] == config_digest == raw_manifest["config"]["digest"]
        assert platform["size"] == len(view.manifest_raw) + len(view.config_raw) + sum(sizes)

        params = {"platform": case.image.platform} if case.index is not None else None
        r = api.get(f"/api/repositories/{case.repo}/images/{case.tag}/config", params=params)
        assert r.status_code == 200, r.text
        config = r.json()
        assert config["digest"] == config_digest
        assert config["manifest_digest"] == view.manifest_digest
        assert config["config"]["env"] == (inspect.get("Env") or []), case.id
        assert config["config"]["labels"] == (inspect.get("Labels") or {}), case.id
        run = raw_config.get("config") or {}
        assert config["config"]["env"] == (run.get("Env") or [])
        assert config["config"]["labels"] == (run.get("Labels") or {})
        assert config["os"] == inspect["Os"] == raw_config["os"]
        assert config["architecture"] == inspect["Architecture"] == raw_config["architecture"]
        assert config["variant"] == (raw_config.get("variant") or None)
        assert _when(config["created"]) == _when(inspect["Created"])
        assert [x["digest"] for x in config["layers"]] == inspect["Layers"]
        assert config["diff_ids"] == raw_config["rootfs"]["diff_ids"]
