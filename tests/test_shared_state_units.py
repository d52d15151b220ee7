"""The shared-state layer on its own: the secret key, sealing, hashed key names, the
settings that turn it on, and the Redis client's bounds against a real Redis."""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.settings import SettingsError, get_settings
from gateway.shared_state.keys import Sealer, SealError, parse_secret_key, session_name
from gateway.shared_state.store import RedisStore, StoreUnavailable
from harness.redis_server import RedisProcess
from tests.support.served import clean_env
from tests.test_startup import assert_one_line_error, run_gateway

KEY = bytes(range(32))

# -- LR_SECRET_KEY ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        f"  {KEY.hex()}\n",
    ],
)
def test_secret_key_forms(written: str) -> None:
    assert parse_secret_key(written) == KEY


@pytest.mark.parametrize(
    "written",
    [
        secrets.token_hex(16),  # 16 bytes
        secrets.token_hex(31) + "0",  # 63 hex characters
        base64.b64encode(secrets.token_bytes(24)).decode(),
        base64.b64encode(secrets.token_bytes(33)).decode(),
        "correct horse battery staple!!",
        "",
    ],
)
def test_short_or_malformed_secret_keys_are_refused_without_echo(written: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_secret_key(written)
    assert "32 random bytes" in str(info.value)
    if written:
        assert written not in str(info.value)


def test_redis_url_requires_a_secret_key() -> None:
    with pytest.raises(SettingsError) as info:
        get_settings(_env_file=None, redis_url="redis://127.0.0.1:6379/0")
    assert str(info.value).startswith("invalid setting LR_SECRET_KEY: is required")


def test_redis_url_must_be_redis() -> None:
    with pytest.raises(SettingsError) as info:
        get_settings(_env_file=None, redis_url="http://127.0.0.1:6379", secret_key=KEY.hex())
    assert "LR_REDIS_URL" in str(info.value)


def test_redis_password_is_never_in_the_settings_repr() -> None:
    settings = get_settings(
        _env_file=None, redis_url="redis://gw:pw-s3cr3t@127.0.0.1:6379/0", secret_key=KEY.hex()
    )
    assert "pw-s3cr3t" not in repr(settings)
    assert KEY.hex() not in repr(settings)
    assert settings.secret_keys == (KEY, None)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"LR_REDIS_URL": "redis://127.0.0.1:6379/0"}, "LR_SECRET_KEY"),
        ({"LR_REDIS_URL": "redis://127.0.0.1:6379/0", "LR_SECRET_KEY": "abcd"}, "LR_SECRET_KEY"),
        ({"LR_SECRET_KEY_PREVIOUS": "short"}, "LR_SECRET_KEY_PREVIOUS"),
        ({"LR_REDIS_URL": "127.0.0.1:6379", "LR_SECRET_KEY": KEY.hex()}, "LR_REDIS_URL"),
    ],
)
def test_start_up_stops_with_one_line(tmp_path: Path, env: dict[str, str], name: str) -> None:
    line = assert_one_line_error(run_gateway(tmp_path, env=clean_env(**env)), name)
    assert "abcd" not in line and "short" not in line


# -- sealing and key names -------------------------------------------------------------------


def test_sealed_values_open_under_the_same_name_only() -> None:
    sealer = Sealer(KEY)
    sealed = sealer.seal(b"alice:pw", "lr:s:one")
    assert b"alice" not in sealed and b"pw" not in sealed
    assert sealer.open(sealed, "lr:s:one") == b"alice:pw"
    assert sealer.seal(b"alice:pw", "lr:s:one") != sealed  # a fresh nonce each time
    with pytest.raises(SealError):
        sealer.open(sealed, "lr:s:two")  # moved under another key name
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        sealer.open(tampered, "lr:s:one")
    with pytest.raises(SealError):
        sealer.open(b"not sealed", "lr:s:one")


def test_rotation_previous_key_still_opens_new_values_use_the_current() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    sealed_before = Sealer(old).seal(b"token", "lr:t:x")
    rotated = Sealer(new, previous=old)
    assert rotated.open(sealed_before, "lr:t:x") == b"token"
    sealed_after = rotated.seal(b"token", "lr:t:x")
    assert Sealer(new).open(sealed_after, "lr:t:x") == b"token"
    with pytest.raises(SealError):
        Sealer(old).open(sealed_after, "lr:t:x")
    with pytest.raises(SealError):
        Sealer(new).open(sealed_before, "lr:t:x")  # the previous key was retired


def test_key_names_hide_their_parts() -> None:
    a, b = Sealer(KEY), Sealer(secrets.token_bytes(32))
    name = a.name("alice", "pw-1")
    assert len(name) == 32 and int(name, 16) >= 0
    assert "alice" not in name and "pw-1" not in name
    assert a.name("alice", "pw-1") == name  # stable: every replica computes the same
    assert a.name("alice", "pw-2") != name
    assert b.name("alice", "pw-1") != name  # depends on the secret key
    session_id = secrets.token_urlsafe(32)
    assert session_id not in session_name(session_id)


# -- the Redis client: bounded, one error type ------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


async def test_store_round_trip_with_ttl(redis_server: RedisProcess) -> None:
    store = RedisStore(redis_server.url, timeout=0.5)
    try:
        key = f"lr:test:{secrets.token_hex(4)}"
        assert await store.set(key, b"v1", 5)
        assert await store.get(key) == b"v1"
        assert not await store.set(key, b"v2", 5, nx=True)  # already there
        assert await store.getex(key, 0.2) == b"v1"
        ttl = redis_server.client().pttl(key)
        assert 0 < ttl <= 200
        assert await store.getdel(key) == b"v1"
        assert await store.get(key) is None
        assert await store.ping() >= 0
        assert store.healthy
    finally:
        await store.aclose()


async def test_store_down_is_one_error_fast_and_recovers(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    store = RedisStore(server.url, timeout=0.1)
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get("lr:test:x")
        assert time.monotonic() - start < 0.5
        assert not store.healthy and not store.usable
        server.start()
        assert await store.set("lr:test:x", b"1", 5)  # the pool reconnects by itself
        assert store.healthy and store.usable
    finally:
        await store.aclose()
        server.stop()


async def test_store_that_hangs_is_cut_at_the_bound(silent_port: int) -> None:
    store = RedisStore(f"redis://127.0.0.1:{silent_port}/0", timeout=0.1, pool_size=2)
    try:
        start = time.monotonic()
        results = await asyncio.gather(
            *(store.get(f"lr:test:{i}") for i in range(6)), return_exceptions=True
        )
        elapsed = time.monotonic() - start
        assert all(isinstance(r, StoreUnavailable) for r in results), results
        assert elapsed < 1.0, elapsed  # each bounded, the pool wait included
    finally:
        await store.aclose()


async def test_full_redis_is_the_same_error(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path, maxmemory="2mb").start()
    store = RedisStore(server.url, timeout=0.5)
    try:
        blob = b"x" * 100_000
        with pytest.raises(StoreUnavailable):
            for i in range(100):
                await store.set(f"lr:test:fill:{i}", blob, 60)
        assert await store.get("lr:test:fill:0") == blob  # reads still answer
    finally:
        await store.aclose()
        server.stop()
