"""Table tests of the small pure pieces: names, versions, times, Link parsing, the caches,
and the registry-status-to-error mapping."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
from typing import Any

import httpx
import pytest

from gateway import cache as cache_module
from gateway.cache import Blob, ContentCache, SingleFlight, TTLStore
from gateway.errors import (
    BlobUnknown,
    DigestInvalid,
    Forbidden,
    GatewayError,
    InvalidRequest,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unsupported,
    UpstreamInvalid,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.models.oci import manifest_media_type, normalize_time, parse_config
from gateway.registry import names
from gateway.registry.client import next_link
from gateway.registry.upstream_errors import (
    error_for_status,
    error_for_transport,
    registry_error_codes,
)
from gateway.services.events import repositories_named
from gateway.services.tags import _version_order
from gateway.services.versions import version_key
from tests.support.clock import Clock

SHA = "sha256:" + "a" * 64
DEEP = b"[" * 100_000 + b"]" * 100_000

# -- names, tags, digests ----------------------------------------------------------------

VALID_NAMES = [
    "a",
    "0",
    "library/nginx",
    "team/app/api",
    "a.b",
    "a_b",
    "a__b",
    "a-b",
    "a--b",
    "a---b",
    "a0.b1_c2__d3-e4",
    "x" * 255,
    "/".join(["a" * 127, "b" * 127]),
]
INVALID_NAMES = [
    "",
    "x" * 256,
    "/".join(["a" * 128, "b" * 127]),
    "A",
    "Library/nginx",
    "library/Nginx",
    "a//b",
    "/a",
    "a/",
    "-a",
    "a-",
    ".a",
    "a.",
    "_a",
    "a..b",
    "a___b",
    "a._b",
    "a b",
    "a\nb",
    "abc\n",
    "ä",
    "a:b",
    "a@b",
    "../etc",
    "a/../b",
    "a/./b",
]


@pytest.mark.parametrize("value", VALID_NAMES)
def test_valid_names(value: str) -> None:
    assert names.is_name(value)
    assert names.check_name(value) == value


@pytest.mark.parametrize("value", INVALID_NAMES)
def test_invalid_names(value: str) -> None:
    assert not names.is_name(value)
    with pytest.raises(InvalidRequest) as info:
        names.check_name(value)
    assert info.value.code == "NAME_INVALID"
    assert info.value.status == 400


VALID_TAGS = ["latest", "1.0", "v1.2.3", "1.10.0-rc1", "_x", "A", "sha-1a2b3c4", "a" * 128]
INVALID_TAGS = ["", "a" * 129, ".x", "-x", "a:b", "a/b", "a b", "a+b", "ü", "x\n", "a@b"]


@pytest.mark.parametrize("value", VALID_TAGS)
def test_valid_tags(value: str) -> None:
    assert names.is_tag(value)
    assert names.check_tag(value) == value
    assert names.check_reference(value) == value


@pytest.mark.parametrize("value", INVALID_TAGS)
def test_invalid_tags(value: str) -> None:
    assert not names.is_tag(value)
    with pytest.raises(InvalidRequest) as info:
        names.check_tag(value)
    assert info.value.code == "TAG_INVALID"


@pytest.mark.parametrize(
    ("value", "is_digest", "accepted"),
    [
        (SHA, True, True),
        ("sha256:" + "0123456789abcdef" * 4, True, True),
        ("sha512:" + "b" * 128, True, False),  # valid grammar, but only sha256 is served
        ("sha256:" + "A" * 64, False, False),
        ("sha256:" + "a" * 63, False, False),
        ("sha256:" + "a" * 65, False, False),
        ("sha256:" + "g" * 64, False, False),
        ("sha256:", False, False),
        ("sha256" + "a" * 64, False, False),
        ("SHA256:" + "a" * 64, False, False),
        ("sha256:" + "a" * 64 + "\n", False, False),
        ("md5:abc", False, False),
        ("", False, False),
    ],
)
def test_digests(value: str, is_digest: bool, accepted: bool) -> None:
    assert names.is_digest(value) is is_digest
    if accepted:
        assert names.check_digest(value) == value
        assert names.check_reference(value) == value
    else:
        with pytest.raises(InvalidRequest) as info:
            names.check_digest(value)
        assert info.value.code == "DIGEST_INVALID"


def test_reference_with_colon_is_checked_as_a_digest() -> None:
    with pytest.raises(InvalidRequest) as info:
        names.check_reference("1.0:beta")
    assert info.value.code == "DIGEST_INVALID"


def test_invalid_value_echo_is_bounded() -> None:
    with pytest.raises(InvalidRequest) as info:
        names.check_name("A" * 10_000)
    assert len(json.dumps(info.value.detail)) < 400


# -- version order -----------------------------------------------------------------------


def _ascending(tags: list[str]) -> list[str]:
    return _version_order(tags, newest_first=False)


def _descending(tags: list[str]) -> list[str]:
    return _version_order(tags, newest_first=True)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.9.0", "1.10.0"),
        ("1.10.0-rc1", "1.10.0"),
        ("1.10.0-rc1", "1.10.0-rc2"),
        ("1.10.0-rc2", "1.10.0-rc10"),
        ("1.9.0", "1.10.0-rc1"),
        ("v1.9.0", "1.10.0"),
        ("1.9.0", "v1.10.0"),
        ("0.9", "1.9.0"),
        ("1.10.0", "v2"),
        ("v2", "v2.0.1"),
        ("2", "2.0.1"),
        ("1.0.0-alpha", "1.0.0-beta"),
        ("1.0.0-alpha", "1.0.0"),
        ("1.2", "1.10"),
        ("9", "10"),
        ("1.0.0-alpine", "1.0.0"),
    ],
)
def test_version_pairs(older: str, newer: str) -> None:
    older_key, newer_key = version_key(older), version_key(newer)
    assert older_key is not None and newer_key is not None
    assert older_key < newer_key
    assert _ascending([newer, older]) == [older, newer]
    assert _descending([older, newer]) == [newer, older]


@pytest.mark.parametrize(
    "tag", ["latest", "main", "sha-1a2b3c4", "stable", "edge", "", "v", "vv1", "release-1.0"]
)
def test_not_a_version(tag: str) -> None:
    assert version_key(tag) is None


def test_version_order_of_the_contract_example() -> None:
    tags = [
        "latest",
        "v2.0.1",
        "1.10.0",
        "main",
        "0.9",
        "1.10.0-rc2",
        "sha-1a2b3c4",
        "v2",
        "1.9.0",
        "1.10.0-rc1",
    ]
    versions = ["0.9", "1.9.0", "1.10.0-rc1", "1.10.0-rc2", "1.10.0", "v2", "v2.0.1"]
    others = ["latest", "main", "sha-1a2b3c4"]
    assert _ascending(tags) == versions + others
    # Newest first, but the non-versions still come after all versions, by name.
    assert _descending(tags) == versions[::-1] + others


def test_version_order_is_total_and_stable() -> None:
    tags = ["1.0", "v1.0", "1.0.0", "1.0+build2", "1.0+build1", "1.0-rc1", "1.0-RC1"]
    ordered = _ascending(tags)
    assert sorted(ordered) == sorted(tags)
    assert _ascending(list(reversed(tags))) == ordered
    assert ordered.index("1.0-rc1") < ordered.index("1.0")
    assert ordered.index("1.0-RC1") < ordered.index("1.0")


# -- times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00+00:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01T00:30:00-01:00", "2024-05-01T01:30:00Z"),
        ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00.123000Z"),
        ("2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123456Z"),
        ("2024-05-01T10:00:00.000000000Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T12:00:00.5+02:00", "2024-05-01T10:00:00.500000Z"),
        ("  2024-05-01T10:00:00Z  ", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00", "2024-05-01T10:00:00Z"),  # naive: taken as UTC
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),  # Bazel images
        ("2015-10-31T22:22:56.015925234Z", "2015-10-31T22:22:56.015925Z"),
        ("0001-01-01T00:00:00Z", None),  # Go's zero time (cosign)
        ("0001-01-01T00:00:00.000000000Z", None),
        ("0001-01-01T00:00:00+01:00", None),  # before year 1 in UTC
        ("0001-01-01T05:00:00+01:00", None),
        ("9999-12-31T23:59:59-01:00", None),  # after year 9999 in UTC
        ("garbage", None),
        ("2024-13-01T00:00:00Z", None),
        ("2024-05-01T25:00:00Z", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_time(value: str | None, expected: str | None) -> None:
    assert normalize_time(value) == expected


@pytest.mark.parametrize("value", [5, 1.5, [], {}, True])
def test_normalize_time_of_non_strings(value: Any) -> None:
    assert normalize_time(value) is None


# -- Link headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('</v2/_catalog?last=b&n=100>; rel="next"', {"last": "b", "n": "100"}),
        (
            '</v2/_catalog?last=team%2Fsvc-0290&n=100>; rel="next"',
            {"last": "team/svc-0290", "n": "100"},
        ),
        ('<http://other.example/v2/_catalog?n=5&last=x>; rel="next"', {"last": "x", "n": "5"}),
        ('<https://r.example:5000/v2/_catalog?last=x>; rel="next"', {"last": "x"}),
        ('</v2/_catalog?last=x&n=2&token=secret&n2=1>; rel="next"', {"last": "x", "n": "2"}),
        ("</v2/_catalog?last=x>; rel=next", {"last": "x"}),
        ('</v2/_catalog?last=x>;rel="next"', {"last": "x"}),
        ('</v2/_catalog?last=x>; REL="NEXT"', {"last": "x"}),
        ('</v2/_catalog?last=x&n=>; rel="next"', {"last": "x"}),
        ('</v2/repo/tags/list?n=1000&last=v1.2.3>; rel="next"', {"last": "v1.2.3", "n": "1000"}),
        ('</v2/_catalog?last=a%20b>; rel="next"', {"last": "a b"}),
        ('</v2/_catalog?last=a+b>; rel="next"', {"last": "a b"}),
        ('</p?last=1>; rel="prev", </p?last=2>; rel="next"', {"last": "2"}),
    ],
)
def test_next_link(header: str, expected: dict[str, str]) -> None:
    assert next_link(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "</v2/_catalog?last=b&n=100>",  # no rel
        '</v2/_catalog?last=b&n=100>; rel="prev"',
        '</v2/_catalog?n=100>; rel="next"',  # no last
        '</v2/_catalog?last=>; rel="next"',  # empty last
        '</v2/_catalog>; rel="next"',
        "garbage",
        '<>; rel="next"',
    ],
)
def test_next_link_none(header: str | None) -> None:
    assert next_link(header) is None


# -- ContentCache -----------------------------------------------------------------------------


def _blob(digest: str, size: int) -> Blob:
    return Blob(digest, "application/octet-stream", b"x" * size)


def test_content_cache_lru_by_bytes_evicts_the_least_recently_used() -> None:
    cache = ContentCache(max_bytes=3 * (1000 + 200))
    for name in ("a", "b", "c"):
        cache.put(_blob(name, 1000))
    assert len(cache) == 3
    assert cache.current_bytes == 3 * 1200
    assert cache.get("a") is not None  # a becomes the most recently used
    cache.put(_blob("d", 1000))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert cache.get("d") is not None
    assert cache.current_bytes <= cache.max_bytes


def test_content_cache_a_big_entry_evicts_several() -> None:
    cache = ContentCache(max_bytes=10_000)
    for i in range(8):
        cache.put(_blob(f"s{i}", 1000))
    cache.put(_blob("big", 7000))
    assert cache.get("big") is not None
    assert cache.current_bytes <= 10_000
    # 7,200 bytes needed 7,200 freed: the six oldest went, the two newest stayed.
    assert [i for i in range(8) if cache.get(f"s{i}") is not None] == [6, 7]


def test_content_cache_refuses_what_cannot_fit() -> None:
    cache = ContentCache(max_bytes=1000)
    cache.put(_blob("small", 100))
    cache.put(_blob("huge", 5000))
    assert cache.get("huge") is None
    assert cache.get("small") is not None


def test_content_cache_zero_bytes_caches_nothing() -> None:
    cache = ContentCache(max_bytes=0)
    cache.put(_blob("a", 0))
    assert cache.get("a") is None
    assert len(cache) == 0


def test_content_cache_counts_hits_and_misses() -> None:
    cache = ContentCache(max_bytes=10_000)
    cache.put(_blob("a", 10))
    cache.get("a")
    cache.get("a")
    cache.get("b")
    assert (cache.hits, cache.misses) == (2, 1)


# -- TTLStore ------------------------------------------------------------------------------------


def test_ttl_store_put_get_and_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock().install(monkeypatch, cache_module)
    store: TTLStore[str, int] = TTLStore(ttl=0.05)
    store.put("a", 1)
    assert store.get("a") == 1
    assert store.get("b") is None
    clock.advance(0.08)
    assert store.get("a") is None


def test_ttl_store_zero_ttl_caches_nothing() -> None:
    store: TTLStore[str, int] = TTLStore(ttl=0)
    store.put("a", 1)
    assert store.get("a") is None
    assert len(store) == 0
    assert store.drop_where(lambda _k, _v: True) == 0


def test_ttl_store_generation_guard_drops_a_stale_fetch() -> None:
    store: TTLStore[tuple[str, str], list[str]] = TTLStore(ttl=60)
    generation = store.generation  # a fetch starts
    store.drop_where(lambda k, _v: k[1] == "app")  # an event invalidates meanwhile
    store.put(("u", "app"), ["stale"], generation)  # the fetch ends: must not be stored
    assert store.get(("u", "app")) is None
    store.put(("u", "app"), ["fresh"], store.generation)
    assert store.get(("u", "app")) == ["fresh"]


def test_ttl_store_clear_bumps_the_generation() -> None:
    store: TTLStore[str, int] = TTLStore(ttl=60)
    generation = store.generation
    store.put("a", 1)
    store.clear()
    assert store.get("a") is None
    store.put("b", 2, generation)
    assert store.get("b") is None
    store.put("b", 2)  # no generation: always stored
    assert store.get("b") == 2


def test_ttl_store_drop_where_drops_only_matches() -> None:
    store: TTLStore[tuple[str, str], int] = TTLStore(ttl=60)
    store.put(("u1", "a"), 1)
    store.put(("u2", "a"), 2)
    store.put(("u1", "b"), 3)
    assert store.drop_where(lambda k, _v: k[1] == "a") == 2
    assert store.get(("u1", "b")) == 3
    assert len(store) == 1


def test_ttl_store_is_bounded() -> None:
    store: TTLStore[int, int] = TTLStore(ttl=60, maxsize=10)
    for i in range(100):
        store.put(i, i)
    assert len(store) == 10
    assert store.get(99) == 99


# -- SingleFlight -----------------------------------------------------------------------------


async def test_single_flight_coalesces_concurrent_calls() -> None:
    flight = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "value"

    waiters = [asyncio.create_task(flight.run("k", fetch)) for _ in range(10)]
    await asyncio.sleep(0)
    assert len(flight) == 1
    release.set()
    assert await asyncio.gather(*waiters) == ["value"] * 10
    assert calls == 1
    assert flight.coalesced == 9
    assert len(flight) == 0  # forgotten once done: the next call runs again
    assert await flight.run("k", fetch) == "value"
    assert calls == 2


async def test_single_flight_different_keys_run_separately() -> None:
    flight = SingleFlight()
    seen: list[str] = []

    async def fetch(key: str) -> str:
        seen.append(key)
        await asyncio.sleep(0.01)
        return key

    results = await asyncio.gather(*(flight.run(k, lambda k=k: fetch(k)) for k in "abcab"))
    assert results == list("abcab")
    assert sorted(seen) == ["a", "b", "c"]


async def test_single_flight_cancelled_waiter_does_not_cancel_the_others() -> None:
    flight = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "value"

    first = asyncio.create_task(flight.run("k", fetch))
    others = [asyncio.create_task(flight.run("k", fetch)) for _ in range(3)]
    await asyncio.sleep(0.01)
    first.cancel()  # the caller that started the work goes away
    others[0].cancel()
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*others[1:]) == ["value", "value"]
    assert first.cancelled() and others[0].cancelled()
    assert calls == 1


async def test_single_flight_all_waiters_cancelled_lets_the_work_finish() -> None:
    flight = SingleFlight()
    done = asyncio.Event()

    async def fetch() -> str:
        await asyncio.sleep(0.02)
        done.set()
        return "value"

    waiter = asyncio.create_task(flight.run("k", fetch))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.wait_for(done.wait(), 2)  # e.g. a cache fill still happens


async def test_single_flight_exception_propagates_to_all() -> None:
    flight = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        raise UpstreamInvalid("bad answer")

    waiters = [asyncio.create_task(flight.run("k", fetch)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, UpstreamInvalid) for r in results)
    assert len(flight) == 0

    # A failure is not remembered: the next call tries again.
    async def good() -> str:
        return "ok"

    assert await flight.run("k", good) == "ok"


async def test_single_flight_exception_without_waiters_is_not_unretrieved() -> None:
    flight = SingleFlight()
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))

    async def fetch() -> str:
        await asyncio.sleep(0.01)
        raise UpstreamInvalid("bad answer")

    waiter = asyncio.create_task(flight.run("k", fetch))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0.05)
    gc.collect()
    await asyncio.sleep(0)
    assert not [c for c in reported if "never retrieved" in str(c.get("message", ""))]


# -- error mapping -------------------------------------------------------------------------------


def _errors(*codes: str) -> bytes:
    return json.dumps({"errors": [{"code": c, "message": f"{c} msg"} for c in codes]}).encode()


@pytest.mark.parametrize(
    ("status", "body", "subject", "kwargs", "cls", "http", "code"),
    [
        (404, _errors("NAME_UNKNOWN"), "repository", {}, NameUnknown, 404, "NAME_UNKNOWN"),
        (
            404,
            _errors("MANIFEST_UNKNOWN"),
            "manifest",
            {},
            ManifestUnknown,
            404,
            "MANIFEST_UNKNOWN",
        ),
        (404, _errors("BLOB_UNKNOWN"), "blob", {}, BlobUnknown, 404, "BLOB_UNKNOWN"),
        (404, _errors("NAME_UNKNOWN"), "manifest", {}, NameUnknown, 404, "NAME_UNKNOWN"),
        (404, b"", "repository", {}, NameUnknown, 404, "NAME_UNKNOWN"),
        (404, b"", "manifest", {}, ManifestUnknown, 404, "MANIFEST_UNKNOWN"),
        (404, b"", "blob", {}, BlobUnknown, 404, "BLOB_UNKNOWN"),
        (404, b"", "catalog", {}, NotFound, 404, "NOT_FOUND"),
        (404, b"", "registry", {}, NotFound, 404, "NOT_FOUND"),
        (404, _errors("WHATEVER"), "manifest", {}, ManifestUnknown, 404, "MANIFEST_UNKNOWN"),
        (404, b"<html>", "blob", {}, BlobUnknown, 404, "BLOB_UNKNOWN"),
        (
            401,
            _errors("UNAUTHORIZED"),
            "manifest",
            {"anonymous": True},
            Unauthorized,
            401,
            "UNAUTHORIZED",
        ),
        (401, b"", "manifest", {}, Unauthorized, 401, "UNAUTHORIZED"),
        (401, b"", "catalog", {"denied_scope": True}, Forbidden, 403, "DENIED"),
        (
            401,
            b"",
            "catalog",
            {"denied_scope": True, "anonymous": True},
            Unauthorized,
            401,
            "UNAUTHORIZED",
        ),
        (403, _errors("DENIED"), "manifest", {}, Forbidden, 403, "DENIED"),
        (403, b"", "repository", {}, Forbidden, 403, "DENIED"),
        (405, _errors("UNSUPPORTED"), "manifest", {}, Unsupported, 405, "UNSUPPORTED"),
        (405, b"", "manifest", {}, Unsupported, 405, "UNSUPPORTED"),
        (429, _errors("TOOMANYREQUESTS"), "manifest", {}, TooManyRequests, 429, "TOOMANYREQUESTS"),
        (400, _errors("DIGEST_INVALID"), "manifest", {}, DigestInvalid, 400, "DIGEST_INVALID"),
        (400, _errors("NAME_INVALID"), "repository", {}, InvalidRequest, 400, "NAME_INVALID"),
        (400, _errors("TAG_INVALID"), "manifest", {}, InvalidRequest, 400, "TAG_INVALID"),
        (
            400,
            _errors("PAGINATION_NUMBER_INVALID"),
            "catalog",
            {},
            InvalidRequest,
            400,
            "PAGINATION_NUMBER_INVALID",
        ),
        (400, _errors("unsupported"), "manifest", {}, InvalidRequest, 400, "UNSUPPORTED"),
        (400, _errors("SOMETHING_ELSE"), "manifest", {}, UpstreamInvalid, 502, "UPSTREAM_INVALID"),
        (400, b"", "manifest", {}, UpstreamInvalid, 502, "UPSTREAM_INVALID"),
        (409, b"", "manifest", {}, UpstreamInvalid, 502, "UPSTREAM_INVALID"),
        (418, b"", "manifest", {}, UpstreamInvalid, 502, "UPSTREAM_INVALID"),
        (500, b"", "manifest", {}, UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
        (500, _errors("UNKNOWN"), "manifest", {}, UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
        (502, b"", "catalog", {}, UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
        (503, b"", "catalog", {}, UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
        (504, b"", "catalog", {}, UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
        (599, b"", "catalog", {}, UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
    ],
)
def test_error_for_status(
    status: int,
    body: bytes,
    subject: Any,
    kwargs: dict[str, bool],
    cls: type[GatewayError],
    http: int,
    code: str,
) -> None:
    error = error_for_status(httpx.Response(status), body, subject, **kwargs)
    assert type(error) is cls
    assert (error.status, error.code) == (http, code)
    assert "www-authenticate" not in {k.lower() for k in error.headers}
    assert error.envelope()["error"]["code"] == code


def test_error_for_status_uses_the_registry_message() -> None:
    error = error_for_status(httpx.Response(404), _errors("MANIFEST_UNKNOWN"), "manifest")
    assert error.message == "MANIFEST_UNKNOWN msg"


def test_error_for_status_5xx_detail() -> None:
    error = error_for_status(httpx.Response(503), b"", "catalog")
    assert error.detail == {"upstream_status": 503}


@pytest.mark.parametrize(
    ("header", "passed"),
    [
        ("7", "7"),
        ("Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT"),
        (None, None),
        ("1" * 100, None),
        ("7\x00", None),
    ],
)
def test_error_for_status_429_retry_after(header: str | None, passed: str | None) -> None:
    headers = {} if header is None else {"Retry-After": header}
    error = error_for_status(httpx.Response(429, headers=headers), b"", "manifest")
    assert error.status == 429
    assert error.headers.get("Retry-After") == passed


@pytest.mark.parametrize(
    ("exc", "cls", "status", "code"),
    [
        (httpx.ConnectTimeout("x"), UpstreamTimeout, 504, "UPSTREAM_TIMEOUT"),
        (httpx.ReadTimeout("x"), UpstreamTimeout, 504, "UPSTREAM_TIMEOUT"),
        (httpx.WriteTimeout("x"), UpstreamTimeout, 504, "UPSTREAM_TIMEOUT"),
        (httpx.PoolTimeout("x"), UpstreamTimeout, 504, "UPSTREAM_TIMEOUT"),
        (httpx.ConnectError("x"), UpstreamUnavailable, 503, "UPSTREAM_UNAVAILABLE"),
        (httpx.ReadError("x"), UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
        (httpx.RemoteProtocolError("x"), UpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE"),
        (httpx.DecodingError("x"), UpstreamInvalid, 502, "UPSTREAM_INVALID"),
        (httpx.TooManyRedirects("x"), UpstreamInvalid, 502, "UPSTREAM_INVALID"),
    ],
)
def test_error_for_transport(
    exc: httpx.HTTPError, cls: type[GatewayError], status: int, code: str
) -> None:
    error = error_for_transport(exc)
    assert type(error) is cls
    assert (error.status, error.code) == (status, code)


def test_error_for_transport_never_names_the_url() -> None:
    request = httpx.Request("GET", "http://user:secret@registry.test/v2/?token=t0k")
    error = error_for_transport(httpx.ConnectError("failed: http://user:secret@x", request=request))
    assert "secret" not in json.dumps(error.envelope())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_errors("NAME_UNKNOWN"), [("NAME_UNKNOWN", "NAME_UNKNOWN msg")]),
        (_errors("name_unknown"), [("NAME_UNKNOWN", "name_unknown msg")]),
        (_errors("A", "B"), [("A", "A msg"), ("B", "B msg")]),
        (b'{"errors": [{"code": 5}, "x", {"code": "C"}]}', [("C", "")]),
        (b'{"errors": "nope"}', []),
        (b"[]", []),
        (b"", []),
        (b"<html>", []),
        (b"\xff\xfe", []),
        pytest.param(DEEP, [], id="deeply-nested"),
        pytest.param(
            b'{"errors": [{"code": "X", "message": "' + b"m" * 1000 + b'"}]}',
            [("X", "m" * 300)],
            id="long-message",
        ),
    ],
)
def test_registry_error_codes(body: bytes, expected: list[tuple[str, str]]) -> None:
    assert registry_error_codes(body) == expected


def test_error_for_status_with_deeply_nested_body() -> None:
    error = error_for_status(httpx.Response(404), DEEP, "manifest")
    assert error.code == "MANIFEST_UNKNOWN"


# -- documents: never anything but UpstreamInvalid -----------------------------------------------


@pytest.mark.parametrize(
    "body", [DEEP, b'{"a":' * 50_000 + b"1" + b"}" * 50_000], ids=["arrays", "objects"]
)
def test_deeply_nested_documents_are_upstream_invalid(body: bytes) -> None:
    with pytest.raises(UpstreamInvalid):
        manifest_media_type(body, "application/vnd.oci.image.manifest.v1+json")
    with pytest.raises(UpstreamInvalid):
        parse_config(body)


def test_deeply_nested_event_envelope_is_ignored() -> None:
    assert repositories_named(DEEP) == (0, [])


@pytest.mark.parametrize(
    "tag", ["3b9c1d2", "0a1b2c3d4e5f", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"]
)
def test_bare_commit_ids_are_not_versions(tag: str) -> None:
    assert version_key(tag) is None


@pytest.mark.parametrize("tag", ["1234567", "20240102", "1.0.0", "3.19-alpine"])
def test_numbers_and_versions_stay_versions(tag: str) -> None:
    assert version_key(tag) is not None


# -- the TTL store's own dict ------------------------------------------------------------


def test_ttl_store_expires_sweeps_and_evicts(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import cache as cache_module

    clock = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: clock[0])
    store: cache_module.TTLStore[tuple[str], int] = cache_module.TTLStore(10.0, maxsize=3)
    store.put(("a",), 1)
    clock[0] += 5
    store.put(("b",), 2)
    assert store.get(("a",)) == 1 and len(store) == 2
    clock[0] += 6  # a expired (11 s old), b did not (6 s)
    assert store.get(("a",)) is None
    assert store.get(("b",)) == 2
    store.put(("c",), 3)
    store.put(("d",), 4)
    store.put(("e",), 5)  # full with b, c, d: b, the oldest put, goes
    assert store.get(("b",)) is None and store.evictions == 1
    assert [store.get((k,)) for k in "cde"] == [3, 4, 5]
    clock[0] += 11  # everything expired: swept by the next puts, not evictions
    store.put(("f",), 6)
    assert len(store) == 1 and store.evictions == 1
    clock[0] += 3
    store.put(("c",), 7)  # a fresh put of a key restarts its life
    clock[0] += 6
    assert store.get(("c",)) == 7 and store.get(("f",)) == 6
    clock[0] += 2  # f is 11 s old, c 8 s
    assert store.get(("c",)) == 7 and store.get(("f",)) is None


def test_ttl_store_with_no_ttl_keeps_nothing() -> None:
    from gateway.cache import TTLStore

    store: TTLStore[tuple[str], int] = TTLStore(0.0)
    store.put(("a",), 1)
    assert store.get(("a",)) is None and len(store) == 0


# -- the warm path's peeks follow the same rules as the long way ---------------------------


def test_peeks_serve_nothing_a_caller_has_not_been_confirmed_for() -> None:
    import httpx as _httpx

    from gateway.cache import Blob
    from gateway.registry.client import RegistryClient
    from gateway.registry.credentials import Caller, Credentials
    from gateway.view import CachedRegistry

    client = RegistryClient(_httpx.AsyncClient(), "http://registry.test")
    registry = CachedRegistry(client, content_bytes=1 << 20, ttl=30, access_ttl=30)
    alice = Caller(Credentials("alice", "a-pw"), "basic")
    bob = Caller(Credentials("bob", "b-pw"), "basic")
    digest = "sha256:" + "a" * 64
    registry.content.put(Blob(digest, "application/vnd.oci.image.manifest.v1+json", b"{}"))
    registry.membership.put(("team/app", digest), True)
    registry.tag_digests.put(("team/app", "1.0"), digest)
    registry.access.put((alice.key, "team/app"), True)
    registry.tag_lists.put((alice.key, "team/app"), ["1.0"])

    assert registry.peek_digest(alice, "team/app", "1.0") == digest
    assert registry.peek_digest(alice, "team/app", digest) == digest
    assert registry.peek_tags(alice, "team/app") == ["1.0"]
    # Bob was never confirmed for team/app: the long way decides for him.
    assert registry.peek_digest(bob, "team/app", "1.0") is None
    assert registry.peek_digest(bob, "team/app", digest) is None
    assert registry.peek_tags(bob, "team/app") is None
    assert registry.peek_tag_digest(alice, "team/app", "1.0") == digest
    assert registry.peek_tag_digest(bob, "team/app", "1.0") is None
    # Content of another repository is not this one's until the registry says so.
    registry.access.put((alice.key, "other/app"), True)
    assert registry.peek_digest(alice, "other/app", digest) is None


def test_artifact_tags() -> None:
    from gateway.models import artifact_tags as at

    hex64 = "a" * 64
    assert at.is_artifact_tag(f"sha256-{hex64}")
    assert at.is_artifact_tag(f"sha256-{hex64}.sig")
    assert at.suffix_of(f"sha256-{hex64}.att") == ".att"
    assert at.suffix_of(f"sha256-{hex64}") == ""
    assert at.subject_of(f"sha256-{hex64}.sbom") == f"sha256:{hex64}"
    assert at.fallback_tag(f"sha256:{hex64}") == f"sha256-{hex64}"
    for tag in (
        "latest",
        f"sha256-{hex64[:-1]}",
        f"sha256-{hex64}.sig.x",
        f"sha256-{hex64.upper()}",
    ):
        assert not at.is_artifact_tag(tag)
        assert at.subject_of(tag) is None and at.suffix_of(tag) is None


def test_referrers_tags_follow_the_spec_table() -> None:
    """distribution-spec 1.1, referrers tag schema: the algorithm truncated to 32
    characters, the encoded part to 64, characters a tag cannot hold replaced by '-'."""
    from gateway.models import artifact_tags as at

    a64, a128 = "a" * 64, "a" * 128
    assert at.fallback_tag(f"sha512:{a128}") == f"sha512-{a64}"
    long = (
        "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+"
        "overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAnd"
        "LotsOfCharactersToExcerciseEncodedTruncation"
    )
    assert at.fallback_tag(long) == (
        "test-algorithm-using-algorithm-s-"
        "alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot"
    )
    assert names.is_tag(at.fallback_tag(long))


@pytest.mark.parametrize(
    ("digest", "valid"),
    [
        ("sha256:" + "a" * 64, True),
        ("sha512:" + "0" * 128, True),
        ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", True),
        ("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", True),
        ("blake3:" + "b" * 64, True),
        ("sha256:" + "a" * 63, False),  # a registered algorithm: its exact length
        ("sha512:" + "A" * 128, False),
        ("SHA256:" + "a" * 64, False),
        ("sha256", False),
        ("sha256:", False),
        (":abc", False),
        ("sha256:abc/def", False),
        ("a" * 8 + ":" + "b" * 1100, False),  # longer than any digest a registry makes
    ],
)
def test_v2_takes_any_digest_the_oci_grammar_allows(digest: str, valid: bool) -> None:
    assert names.is_oci_digest(digest) is valid
    if valid:
        assert names.check_oci_reference(digest) == digest
    else:
        with pytest.raises(DigestInvalid):
            names.check_oci_digest(digest)


def test_a_pushed_referrer_is_described_as_the_spec_has_it() -> None:
    from gateway.services.v2_referrers import referrer_of

    subject = "sha256:" + "5" * 64
    config = {"mediaType": "application/vnd.example.config+json", "digest": subject, "size": 2}
    image = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [],
            "subject": {"mediaType": "x", "digest": subject, "size": 1},
            "annotations": {"k": "v"},
        }
    ).encode()
    found = referrer_of(image, "application/vnd.oci.image.manifest.v1+json", "v1")
    assert found is not None
    assert found[0] == subject
    assert found[1] == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + hashlib.sha256(image).hexdigest(),
        "size": len(image),
        "artifactType": "application/vnd.example.config+json",  # no artifactType: config's
        "annotations": {"k": "v"},
    }
    index = json.dumps(
        {"schemaVersion": 2, "manifests": [], "subject": {"digest": subject, "size": 1}}
    ).encode()
    by_digest = "sha512:" + "6" * 128
    found = referrer_of(index, "application/vnd.oci.image.index.v1+json", by_digest)
    assert found is not None and found[1] == {  # an index: no artifactType at all
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": by_digest,
        "size": len(index),
    }
    for body in (b"not json", b"[]", b'{"subject": {"digest": "nope"}}', b'{"layers": []}'):
        assert referrer_of(body, "application/json", "v1") is None


def test_a_page_of_names_or_tags_is_checked_in_one_match_as_entry_by_entry() -> None:
    from gateway.registry.names import is_name, is_tag, valid_names, valid_tags

    names = [f"team-{i}/app_{i}.x" for i in range(1000)]
    assert valid_names(names) is names  # all valid: the page itself
    cases = [
        ["a", "B", "c"],
        ["a", "a\nb", "c"],  # a newline inside an entry
        ["a", "x" * 256, "c"],  # over NAME_MAX
        ["a", "", "c"],
        ["a/", "a//b", "a--b", "a__b", "a___b", "-a"],
        ["a\n", "\n"],
    ]
    for case in cases:
        assert valid_names(case) == [v for v in case if is_name(v)], case
        assert valid_tags(case) == [v for v in case if is_tag(v)], case
    tags = ["1.0", "latest", "v" * 128]
    assert valid_tags(tags) is tags
    assert valid_tags(["v" * 129, "ok"]) == ["ok"]
    assert valid_names([]) == [] and valid_tags([]) == []
    for bad in (["a", 1], ["a", ["b"]], ["a", {"x": 1}], [None], ["a", b"b"]):
        for check in (valid_names, valid_tags):
            with pytest.raises(TypeError):
                check(bad)  # type: ignore[arg-type]


def test_a_catalog_out_of_order_or_with_duplicates_is_sorted_once() -> None:
    import httpx

    from tests.support.mock_registry import FakeRegistry, gateway

    async def shuffled(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": ["web", "app", "web", "db"]})
        return None

    fake = FakeRegistry(shuffled)
    fake.tags = {"app": ["1.0"], "db": ["1.0"], "web": ["1.0"]}
    with gateway(fake) as client:
        page = client.get("/api/repositories")
        assert [row["name"] for row in page.json()["repositories"]] == ["app", "db", "web"]


def test_the_page_check_of_names_is_the_name_grammar_entry_by_entry() -> None:
    """The possessive page pattern admits exactly what ``is_name`` admits: random names
    over the grammar's alphabet (separators doubled, tripled, at the ends), one entry
    at a time and as pages."""
    import random

    from gateway.registry.names import is_name, valid_names

    rng = random.Random(19)
    alphabet = "ab09._-/" + "_-."  # separators weighed up: most names are near misses
    entries = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(20_000)
    ]
    entries += ["a__b", "a___b", "a-----b", "a._b", "a/b_", "a/_b", "a//b", "a.b/c-d/e__f"]
    assert any(map(is_name, entries)) and not all(map(is_name, entries))
    for entry in entries:
        assert valid_names([entry]) == ([entry] if is_name(entry) else []), entry
    for start in range(0, len(entries), 7):
        page = entries[start : start + 7]
        assert valid_names(page) == [v for v in page if is_name(v)], page
    good = [v for v in entries if is_name(v)]
    assert valid_names(good) is good
