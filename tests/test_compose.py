"""docker-compose.yml and deploy/registry-config.yml work as written.

No Docker engine runs here, so the compose file is read as data, and the part that can
run does: the registry's notification endpoint exactly as compose builds it from
LR_EVENTS_TOKEN, given to a real distribution registry over deploy/registry-config.yml,
notifying a real gateway.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.gateway_server import GatewayServer
from tests.support.images import Pusher, push_image
from tests.support.registry import free_port, registry_binary

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
REGISTRY = COMPOSE["services"]["registry"]
GATEWAY = COMPOSE["services"]["gateway"]
_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}``, as docker compose fills it from ``.env``."""
    return _VAR.sub(lambda m: env.get(m["name"]) or (m["default"] or ""), text)


def test_values_from_dotenv_are_never_overridden() -> None:
    assert {"path": ".env", "required": False} in GATEWAY["env_file"]
    for key, value in GATEWAY["environment"].items():
        m = _VAR.fullmatch(str(value))
        assert m is not None and m["name"] == key, f"{key}: {value!r} would override .env"


def test_the_events_token_is_set_in_one_place() -> None:
    raw = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    uses = re.findall(r"\$\{LR_EVENTS_TOKEN(:-[^}]*)?\}", raw)
    assert len(uses) == 2 and len(set(uses)) == 1, uses  # registry and gateway, one default
    config = (ROOT / "deploy" / "registry-config.yml").read_text(encoding="utf-8")
    assert "Bearer" not in config
    assert "notifications" not in yaml.safe_load(config)


def test_the_gateway_waits_for_a_healthy_registry() -> None:
    assert GATEWAY["depends_on"]["registry"]["condition"] == "service_healthy"
    check = REGISTRY["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL" and "/v2/" in check[1]


def test_readme_example_is_the_composed_endpoint() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(notifications:\n.*?)```", readme, re.S)
    assert block is not None
    documented = yaml.safe_load(block.group(1))["notifications"]["endpoints"]
    composed = yaml.safe_load(
        interpolate(REGISTRY["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], {})
    )
    for endpoint in (*documented, *composed):
        endpoint["headers"]["Authorization"] = ["<token>"]
    assert documented == composed


@pytest.fixture
def composed_registry(tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    """distribution 2.8 over deploy/registry-config.yml with compose's environment, the
    gateway's address put where compose has the service name. Yields (registry URL,
    token, gateway port)."""
    binary = registry_binary()
    if not Path(binary).exists():
        pytest.skip(f"registry binary {binary} not installed")
    token = "composed-Tk-51c0"
    gateway_port = free_port()
    endpoints = interpolate(
        REGISTRY["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], {"LR_EVENTS_TOKEN": token}
    ).replace("http://gateway:8000", f"http://127.0.0.1:{gateway_port}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_STORAGE_DELETE_ENABLED=REGISTRY["environment"]["REGISTRY_STORAGE_DELETE_ENABLED"],
        REGISTRY_NOTIFICATIONS_ENDPOINTS=endpoints,
        REGISTRY_HTTP_ADDR=f"127.0.0.1:{port}",
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=str(tmp_path / "data"),
    )
    log = (tmp_path / "registry.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [binary, "serve", str(ROOT / "deploy" / "registry-config.yml")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(url + "/v2/", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "registry did not start"
            time.sleep(0.05)
        yield url, token, gateway_port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_the_composed_registry_notifies_the_gateway(
    composed_registry: tuple[str, str, int],
) -> None:
    """With a one-hour cache, only the registry's notification can make a new
    repository show up at once."""
    url, token, gateway_port = composed_registry
    server = GatewayServer(url, gateway_port, events_token=token, cache_ttl=3600).start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as client:
            assert client.get("/api/repositories").json()["total"] == 0  # now cached
            with Pusher(url) as pusher:
                push_image(pusher, "composed/app", "1.0")
            deadline = time.monotonic() + 10
            names: list[Any] = []
            while time.monotonic() < deadline:
                names = [r["name"] for r in client.get("/api/repositories").json()["repositories"]]
                if names:
                    break
                time.sleep(0.1)
            assert names == ["composed/app"]
    finally:
        server.stop()
