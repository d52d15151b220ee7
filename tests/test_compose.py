"""docker-compose.yml and deploy/registry-config.yml work as written.

No Docker engine runs here, so the compose file is read as data, and the part that can
run does: the registry's notification endpoint exactly as compose builds it from
LR_EVENTS_TOKEN, given to a real distribution registry over deploy/registry-config.yml,
notifying a real gateway.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.settings import Settings
from gateway.shared_state.store import RedisStore
from harness.images import Pusher, push_image
from harness.redis_server import RedisProcess, redis_available
from harness.registry import free_port
from harness.waiting import eventually
from tests.support.fixtures import require_registry_binary
from tests.support.gateway_server import GatewayServer

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
REGISTRY = COMPOSE["services"]["registry"]
GATEWAY = COMPOSE["services"]["gateway"]
_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*)|:\?(?P<required>[^}]*))?\}")


class Refused(Exception):
    """What docker compose does with ``${NAME:?message}`` when NAME is unset or empty."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME:?message}``, as docker compose fills
    them from ``.env``."""

    def value(m: re.Match[str]) -> str:
        found = env.get(m["name"])
        if found:
            return found
        if m["required"] is not None:
            raise Refused(f"{m['name']}: {m['required']}")
        return m["default"] or ""

    return _VAR.sub(value, text)


def test_values_from_dotenv_are_never_overridden() -> None:
    assert {"path": ".env", "required": False} in GATEWAY["env_file"]
    for key, value in GATEWAY["environment"].items():
        m = _VAR.fullmatch(str(value))
        assert m is not None and m["name"] == key, f"{key}: {value!r} would override .env"


@pytest.mark.parametrize("compose", ["docker-compose.yml", "docker-compose.replicas.yml"])
def test_the_events_token_is_required_and_set_in_one_place(compose: str) -> None:
    """No known placeholder: without LR_EVENTS_TOKEN in .env, compose refuses to start."""
    raw = (ROOT / compose).read_text(encoding="utf-8")
    uses = re.findall(r"\$\{LR_EVENTS_TOKEN([^}]*)\}", raw)
    # the registry's endpoint and the gateway(s), every one required, none a default
    assert len(uses) == 2 and all(u.startswith(":?") for u in uses), uses
    assert "change-me" not in raw
    with pytest.raises(Refused, match="LR_EVENTS_TOKEN"):
        interpolate(raw, {"LR_SECRET_KEY": "k", "REDIS_PASSWORD": "p"})
    assert "Bearer tok-1" in interpolate(
        raw, {"LR_EVENTS_TOKEN": "tok-1", "LR_SECRET_KEY": "k", "REDIS_PASSWORD": "p"}
    )
    config = (ROOT / "deploy" / "registry-config.yml").read_text(encoding="utf-8")
    assert "Bearer" not in config
    assert "notifications" not in yaml.safe_load(config)


def test_the_gateway_waits_for_a_healthy_registry() -> None:
    assert GATEWAY["depends_on"]["registry"]["condition"] == "service_healthy"
    check = REGISTRY["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL" and "/v2/" in check[1]


def test_documented_example_is_the_composed_endpoint() -> None:
    doc = (ROOT / "docs" / "auth.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(notifications:\n.*?)```", doc, re.S)
    assert block is not None
    documented = yaml.safe_load(block.group(1))["notifications"]["endpoints"]
    composed = yaml.safe_load(
        interpolate(REGISTRY["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], TOKEN_ONLY)
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

TOKEN_ONLY = {"LR_EVENTS_TOKEN": "t"}
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
    # the password goes beside the URL, as it is: no character of it can break the URL
    assert ":" not in env["LR_REDIS_URL"].split("//", 1)[1].split("@")[0]
    assert _REQUIRED.fullmatch(env["LR_REDIS_PASSWORD"])["name"] == "REDIS_PASSWORD"  # type: ignore[index]
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
        interpolate(registry["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], TOKEN_ONLY)
    )
    main = yaml.safe_load(
        interpolate(REGISTRY["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"], TOKEN_ONLY)
    )
    assert [e["url"] for e in endpoints] == ["http://lb:8000/api/events"]
    # Otherwise the same endpoint as the single-gateway file.
    for endpoint in main:
        endpoint["url"] = "http://lb:8000/api/events"
    assert endpoints == main
    published = [p for s in REPLICAS["services"].values() for p in s.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in published), published


def test_a_redis_password_of_any_characters_reaches_redis(tmp_path: Path) -> None:
    """REDIS_PASSWORD with @ : / % and # in it: the gateways' settings, as
    docker-compose.replicas.yml fills them, open a real Redis that requires it."""
    if not redis_available():
        pytest.skip("redis-server is not installed")
    password = "p@ss:w/rd%2F#1"
    server = RedisProcess(tmp_path, password=password).start()
    try:
        env = {
            key: interpolate(str(value), {"REDIS_PASSWORD": password, "LR_SECRET_KEY": "x"})
            for key, value in _gateways()["gateway-a"]["environment"].items()
            if key.startswith("LR_REDIS")
        }
        url = env["LR_REDIS_URL"].replace("@redis:6379", f"@127.0.0.1:{server.port}")
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            redis_url=url,
            redis_password=env["LR_REDIS_PASSWORD"],
            secret_key=secrets.token_hex(32),
        )
        assert settings.redis_password is not None

        async def round_trip() -> bytes | None:
            store = RedisStore(url, timeout=2, password=settings.redis_password.get_secret_value())
            try:
                await store.set("lr:compose:test", b"ok", 5)
                return await store.get("lr:compose:test")
            finally:
                await store.aclose()

        assert asyncio.run(round_trip()) == b"ok"
    finally:
        server.stop()


def test_the_redis_password_setting_is_checked() -> None:
    key = secrets.token_hex(32)
    ok = Settings(
        _env_file=None, redis_url="redis://u@r:6379/0", redis_password="a@b", secret_key=key
    )  # type: ignore[call-arg]
    assert ok.redis_password is not None and ok.redis_password.get_secret_value() == "a@b"
    # the same in both places is one password; two different ones, or none to go with it,
    # stop start-up
    same = Settings(
        _env_file=None, redis_url="redis://u:a%40b@r:6379/0", redis_password="a@b", secret_key=key
    )  # type: ignore[call-arg]
    assert same.redis_password is not None
    with pytest.raises(ValueError, match="keep it in one place"):
        Settings(
            _env_file=None, redis_url="redis://u:x@r:6379/0", redis_password="y", secret_key=key
        )  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="LR_REDIS_URL is not"):
        Settings(_env_file=None, redis_password="y")  # type: ignore[call-arg]
