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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.images import Pusher, push_image
from harness.registry import free_port
from harness.waiting import eventually
from tests.support.fixtures import require_registry_binary
from tests.support.gateway_server import GatewayServer

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
    """distribution 3.0 (compose runs registry:3) over deploy/registry-config.yml with
    compose's environment, the gateway's address put where compose has the service
    name. Yields (registry URL, token, gateway port)."""
    binary = require_registry_binary()
    token = "composed-Tk-51c0"
    gateway_port = free_port()
    endpoints = interpolate(
        REGISTRY["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], {"LR_EVENTS_TOKEN": token}
    ).replace("http://gateway:8000", f"http://127.0.0.1:{gateway_port}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "OTEL_"))}
    env["OTEL_TRACES_EXPORTER"] = "none"  # 3.x would export traces to localhost:4318
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

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("registry did not start")
            return httpx.get(url + "/v2/", timeout=1, trust_env=False).status_code == 200

        eventually(answers, what="registry did not start", retry=(httpx.TransportError,))
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

            def listed() -> list[Any]:
                return [r["name"] for r in client.get("/api/repositories").json()["repositories"]]

            names = eventually(listed, every=0.1, what="the pushed repository listed")
            assert names == ["composed/app"]
    finally:
        server.stop()


# -- docker-compose.replicas.yml: two replicas, Redis, a round-robin load balancer -------

REPLICAS = yaml.safe_load((ROOT / "docker-compose.replicas.yml").read_text(encoding="utf-8"))
LB_CONF = (ROOT / "deploy" / "lb-nginx.conf").read_text(encoding="utf-8")
_REQUIRED = re.compile(r"\$\{(?P<name>[A-Z0-9_]+):\?[^}]*\}")


def _gateways() -> dict[str, Any]:
    services = REPLICAS["services"]
    return {n: s for n, s in services.items() if s.get("image") == GATEWAY["image"]}


def test_replicas_are_two_identical_gateways_sharing_redis() -> None:
    gateways = _gateways()
    assert sorted(gateways) == ["gateway-a", "gateway-b"]
    a, b = gateways.values()
    assert a == b  # one definition: same image, same settings, same secret key
    env = a["environment"]
    assert "@redis:6379" in env["LR_REDIS_URL"] and env["LR_REDIS_URL"].startswith(
        "${LR_REDIS_URL:-redis://"
    )
    # The secret key has no default: compose refuses to start without it.
    assert _REQUIRED.fullmatch(env["LR_SECRET_KEY"])["name"] == "LR_SECRET_KEY"  # type: ignore[index]
    assert a["depends_on"]["redis"]["condition"] == "service_healthy"
    assert a["depends_on"]["registry"]["condition"] == "service_healthy"
    assert {"path": ".env", "required": False} in a["env_file"]
    assert "ports" not in a  # reached through the load balancer only


def test_replicas_redis_is_private_bounded_and_keeps_generation_keys() -> None:
    redis = REPLICAS["services"]["redis"]
    assert "ports" not in redis
    command = redis["command"]
    option = {command[i]: command[i + 1] for i in range(1, len(command) - 1, 2)}
    assert option["--save"] == "" and option["--appendonly"] == "no"
    assert option["--maxmemory"].startswith("${REDIS_MAXMEMORY:-")
    # Only keys with a TTL are evicted: the generation keys (no TTL) survive.
    assert option["--maxmemory-policy"] == "volatile-lru"
    assert _REQUIRED.fullmatch(option["--requirepass"])["name"] == "REDIS_PASSWORD"  # type: ignore[index]


def test_replicas_balancer_is_round_robin_over_both_without_stickiness() -> None:
    lb = REPLICAS["services"]["lb"]
    assert lb["ports"] == ["127.0.0.1:8000:8000"]
    upstream = re.search(r"upstream gateways \{(.*?)\}", LB_CONF, re.S)
    assert upstream is not None
    servers = re.findall(r"^\s*server (\S+)", upstream.group(1), re.M)
    assert servers == ["gateway-a:8000", "gateway-b:8000"]
    for sticky in ("ip_hash", "hash ", "sticky", "least_conn"):
        assert sticky not in upstream.group(1)
    assert "proxy_pass http://gateways;" in LB_CONF
    assert "./deploy/lb-nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]


def test_replicas_registry_notifies_through_the_balancer() -> None:
    registry = REPLICAS["services"]["registry"]
    assert registry["image"] == REGISTRY["image"]
    endpoints = yaml.safe_load(
        interpolate(registry["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], {})
    )
    main = yaml.safe_load(
        interpolate(REGISTRY["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], {})
    )
    assert [e["url"] for e in endpoints] == ["http://lb:8000/api/events"]
    # Otherwise the same endpoint as the single-gateway file.
    for endpoint in main:
        endpoint["url"] = "http://lb:8000/api/events"
    assert endpoints == main
    published = [p for s in REPLICAS["services"].values() for p in s.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in published), published
