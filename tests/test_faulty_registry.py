"""A slow and a garbage registry, over real sockets: bounded answers, the envelope, and
nothing cached.

The registry is a stand-in on 127.0.0.1 (``FaultyRegistry``, tests/support/stand_ins.py)
that serves a small repository well, then is switched to one fault: it stalls after
accepting or after the headers, trickles the headers or the body a byte per 0.5 s,
resets connections, answers truncated JSON (with a Content-Length that matches it,
with one of the whole, with none), a wrong Content-Length (short, long), bytes that are
not HTTP, manifests and configs whose bytes do not match their digest, a 1 GiB body
(declared or chunked). Each fault is tried on every path, and on the documents only
(manifests and blobs: the lists stay good, so pages have rows to fail).

The gateway is served for real (uvicorn on 127.0.0.1) with ``LR_REQUEST_TIMEOUT=1`` and
a per-read timeout far longer (10 s), so the request deadline is what bounds the stalls
and trickles. Every endpoint of the SPA is asked at once, and each answer must come
within the deadline plus 1 s, be 502/503/504 with the envelope (or a 200 that is the
good answer, or a page whose rows carry their error), never a 500. Then the stand-in
turns good, and the very next call of every endpoint gets the right answer: nothing
bad was cached (tag lists, tag->digest, content by digest, derived summaries).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.registry import free_port
from tests.support.answers import degraded_from, has_error
from tests.support.assertions import assert_envelope
from tests.support.gateway_server import GatewayServer
from tests.support.mock_registry import (
    CONFIG,
    CONFIG_DIGEST,
    DIGEST,
    MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ONE_CHILD_INDEX,
    config_doc,
    dumps,
    manifest_doc,
    sha256,
)
from tests.support.stand_ins import FAULTS, Documents, faulty_registry

REQUEST_TIMEOUT = 1.0
BOUND = REQUEST_TIMEOUT + 1.0  # every answer within the deadline plus a second
SETTINGS: dict[str, Any] = {
    "request_timeout": REQUEST_TIMEOUT,
    "read_timeout": 10.0,  # per read: a byte every 0.5 s never trips it; the deadline does
    "connect_timeout": 2.0,
    "cache_ttl": 60.0,  # long: an answer cached during the fault would still be there
    "access_ttl": 60.0,
    "catalog_page_size": 100,
}
DOCUMENTS_ONLY = r"/manifests/|/blobs/"

INDEX = ONE_CHILD_INDEX
DOCS = Documents(
    {
        "app": {"1.0": MANIFEST, "latest": MANIFEST, DIGEST: MANIFEST, "2.0": INDEX},
        "team/web": {"1.0": MANIFEST, DIGEST: MANIFEST},
    },
    {CONFIG_DIGEST: CONFIG},
)
DOCS.repositories["app"][sha256(INDEX)] = INDEX

ENDPOINTS = {
    "repositories": "/api/repositories",
    "tags": "/api/repositories/app/tags",
    "tags_details": "/api/repositories/app/tags?details=true",
    "tags_created": "/api/repositories/team/web/tags?sort=-created",
    "image": "/api/repositories/app/images/1.0",
    "image_index": "/api/repositories/app/images/2.0",
    "image_digest": f"/api/repositories/app/images/{DIGEST}",
    "config": "/api/repositories/app/images/latest/config",
    "manifest": "/api/repositories/app/manifests/1.0",
    # A download: bounded until its answer starts; then streamed, not verified (README).
    "blob": f"/api/repositories/app/blobs/{CONFIG_DIGEST}",
}
TIMEOUT = {"UPSTREAM_TIMEOUT"}
UNAVAILABLE = {"UPSTREAM_UNAVAILABLE"}
INVALID = {"UPSTREAM_INVALID"}
# The codes each fault may give: what the SPA is told went wrong.
EXPECTED: dict[str, set[str]] = {
    "stall_after_accept": TIMEOUT,
    "stall_after_headers": TIMEOUT,
    "trickle_headers": TIMEOUT,
    "trickle_body": TIMEOUT,
    "reset": UNAVAILABLE,
    "reset_mid_body": UNAVAILABLE,
    "truncated_json": INVALID,
    "truncated_json_short_read": UNAVAILABLE,
    "truncated_json_until_close": INVALID,
    # the rest of the body, left on a kept-alive connection, is not an answer either
    "content_length_short": INVALID | UNAVAILABLE,
    "content_length_long": TIMEOUT,
    "garbage": UNAVAILABLE,
    "digest_mismatch": INVALID,
    "huge_declared": INVALID,
    "huge_chunked": INVALID | TIMEOUT,  # cut at the limit, or at the deadline first
}
# Bytes past an answer's end, left in a pooled connection, would be the next answer read
# on it: the upstream transport never reuses such a connection (aiohttp_transport.py).
MATRIX = [f for f in FAULTS if f != "smuggled_answer"]  # that one: its own test below
CASES = [
    pytest.param(
        fault,
        only,
        id=f"{fault}-{'documents' if only else 'everything'}",
    )
    for only in (None, DOCUMENTS_ONLY)
    for fault in MATRIX
    if only or fault != "digest_mismatch"  # a digest is only a document's
]


def _body(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.content


async def _ask(url: str, kinds: list[str]) -> dict[str, tuple[httpx.Response, float]]:
    """Every endpoint of ``kinds`` at once: {kind: (response, seconds)}."""
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=BOUND + 10) as http:

        async def one(kind: str) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            if kind != "blob":
                response = await http.get(ENDPOINTS[kind])
                return response, time.monotonic() - started
            async with http.stream("GET", ENDPOINTS[kind]) as response:
                seconds = time.monotonic() - started  # until the answer starts
                if response.status_code != 200:
                    await response.aread()
                return response, seconds  # a 200's body is left unread

        answers = await asyncio.gather(*(one(k) for k in kinds))
    return dict(zip(kinds, answers, strict=True))


def _get_each(url: str) -> dict[str, httpx.Response]:
    """Every endpoint once, one after the other (each the first call since the switch)."""
    with httpx.Client(base_url=url, trust_env=False, timeout=BOUND + 10) as http:
        return {kind: http.get(path) for kind, path in ENDPOINTS.items()}


@pytest.fixture(scope="module")
def good_answers() -> Iterator[dict[str, Any]]:
    """Each endpoint's answer from a gateway in front of the stand-in while it is good."""
    with faulty_registry(DOCS) as registry:
        gateway = GatewayServer(registry.url, free_port(), **SETTINGS).start()
        try:
            answers = _get_each(gateway.url)
        finally:
            gateway.stop()
    for kind, response in answers.items():
        assert response.status_code == 200, (kind, response.text)
    good = {kind: _body(r) for kind, r in answers.items()}
    assert good["manifest"] == MANIFEST
    assert good["image"]["digest"] == DIGEST and good["image_index"]["kind"] == "index"
    assert [t["digest"] for t in good["tags_details"]["tags"]] == [DIGEST, sha256(INDEX), DIGEST]
    assert good["config"]["digest"] == CONFIG_DIGEST
    assert good["blob"] == CONFIG
    assert good["repositories"]["total"] == 2
    assert not has_error(good)
    yield good


@pytest.mark.parametrize(("fault", "only"), CASES)
def test_faulty_registry(fault: str, only: str | None, good_answers: dict[str, Any]) -> None:
    with faulty_registry(DOCS) as registry:
        gateway = GatewayServer(registry.url, free_port(), **SETTINGS).start()
        try:
            registry.fault(fault, only)
            during = asyncio.run(_ask(gateway.url, list(ENDPOINTS)))
            asked = registry.requests_in(fault)
            registry.good()
            after = _get_each(gateway.url)
        finally:
            gateway.stop()

    assert asked, "the gateway never met the fault"
    codes: set[str] = set()
    for kind, (response, seconds) in during.items():
        assert seconds <= BOUND, (kind, seconds, response.status_code)
        if response.status_code == 200 and kind == "blob":
            continue  # the download started in time; its bytes are streamed as they come
        if response.status_code == 200:
            # The good answer (a path the fault spared), or a page with what it has.
            answer = _body(response)
            assert degraded_from(answer, good_answers[kind]), (kind, answer)
            codes |= _row_codes(answer)
            continue
        assert response.status_code in (502, 503, 504), (kind, response.status_code)
        codes.add(assert_envelope(response, response.status_code)["code"])
    assert codes, "no answer said what went wrong"
    assert codes <= EXPECTED[fault], (fault, codes)
    if only == DOCUMENTS_ONLY:
        # The lists are good: pages answer, the tag rows carry their errors.
        for kind in ("repositories", "tags"):
            assert during[kind][0].status_code == 200, kind
            assert _body(during[kind][0]) == good_answers[kind], kind
        details = during["tags_details"][0]
        assert details.status_code == 200 and has_error(details.json()), details.text
    else:
        assert during["repositories"][0].status_code != 200, during["repositories"][0].text

    # The stand-in is good again: the very next call of each endpoint is right.
    for kind, response in after.items():
        assert response.status_code == 200, (kind, response.text)
        assert _body(response) == good_answers[kind], kind


def test_an_answer_nobody_asked_for_is_never_taken_for_the_next() -> None:
    """The registry (or a proxy in front of it) sends one answer too many on a kept-alive
    connection. One upstream connection, so the next request surely goes over it: it
    must not take the extra answer for its own (a tag list of another repository,
    unverifiable), let alone cache it for the TTL."""
    settings = {
        **SETTINGS,
        "pool_max_connections": 1,
        "pool_max_keepalive": 1,
        "upstream_concurrency": 1,
    }
    with faulty_registry(DOCS) as registry:
        gateway = GatewayServer(registry.url, free_port(), **settings).start()
        try:
            with httpx.Client(base_url=gateway.url, trust_env=False, timeout=BOUND + 10) as http:
                registry.fault("smuggled_answer", only=r"^/v2/app/tags/list")
                first = http.get("/api/repositories/app/tags")
                registry.good()
                second = http.get("/api/repositories/team/web/tags")
                again = http.get("/api/repositories/team/web/tags")
        finally:
            gateway.stop()
    assert first.status_code == 200 and first.json()["total"] == 3, first.text
    for response in (second, again):
        assert "smuggled" not in response.text, response.text
    assert [t["name"] for t in again.json()["tags"]] == ["1.0"], again.text


NEWER_CONFIG = config_doc(created="2025-01-01T00:00:00Z")
NEWER = manifest_doc(NEWER_CONFIG)
TWO_CHILDREN = dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"os": "linux", "architecture": arch},
            }
            for digest, body, arch in ((DIGEST, MANIFEST, "amd64"), (sha256(NEWER), NEWER, "arm64"))
        ],
    }
)


@pytest.mark.parametrize("fault", ["reset", "stall_after_accept"])
def test_a_tag_row_whose_index_child_cannot_be_read_carries_the_error(fault: str) -> None:
    """Only one child of an index fails (reset, or stalled past the deadline). Its tag
    row must not sum the index without it, showing the other child's size and date as
    the index's: it carries the error, like a row whose manifest failed; the image
    detail names the child. Once the registry answers, the row is whole."""
    docs = Documents(
        {"app": {"1.0": MANIFEST, DIGEST: MANIFEST, "multi": TWO_CHILDREN, sha256(NEWER): NEWER}},
        {CONFIG_DIGEST: CONFIG, sha256(NEWER_CONFIG): NEWER_CONFIG},
    )
    with faulty_registry(docs) as registry:
        gateway = GatewayServer(registry.url, free_port(), **SETTINGS).start()
        try:
            with httpx.Client(base_url=gateway.url, trust_env=False, timeout=BOUND + 10) as http:
                registry.fault(fault, only=f"/manifests/{sha256(NEWER)}$")
                during = [
                    http.get("/api/repositories/app/tags?details=true"),
                    http.get("/api/repositories/app/tags?sort=-created"),
                ]
                detail = http.get("/api/repositories/app/images/multi")
                registry.good()
                after = http.get("/api/repositories/app/tags?sort=-created")
        finally:
            gateway.stop()
    code = "UPSTREAM_TIMEOUT" if fault.startswith("stall") else "UPSTREAM_UNAVAILABLE"
    for response in during:
        assert response.status_code == 200, response.text
        rows = {row["name"]: row for row in response.json()["tags"]}
        assert rows["1.0"]["error"] is None and rows["1.0"]["digest"] == DIGEST
        assert rows["multi"]["error"]["code"] == code, rows["multi"]
        assert rows["multi"]["size"] is None and rows["multi"]["created"] is None
    assert detail.status_code == 200, detail.text
    platforms = {p["platform"]["architecture"]: p for p in detail.json()["platforms"]}
    assert platforms["amd64"]["error"] is None
    assert platforms["arm64"]["error"]["code"] == code
    assert after.status_code == 200, after.text
    multi, single = after.json()["tags"]  # newest first: the index has the 2025 child
    assert (multi["name"], single["name"]) == ("multi", "1.0")
    assert multi["error"] is None and multi["created"] == "2025-01-01T00:00:00Z"
    assert multi["size"] == len(TWO_CHILDREN) + len(MANIFEST) + len(NEWER) + 2 * 1234 + len(
        CONFIG
    ) + len(NEWER_CONFIG)


def _row_codes(answer: Any) -> set[str]:
    """The codes of every ``error`` inside a page."""
    if isinstance(answer, dict):
        found = {answer["error"]["code"]} if isinstance(answer.get("error"), dict) else set()
        for value in answer.values():
            found |= _row_codes(value)
        return found
    if isinstance(answer, list):
        return set().union(*(_row_codes(v) for v in answer)) if answer else set()
    return set()


def test_a_blob_stream_the_registry_breaks_is_cut_and_logged_once_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The registry resets the connection in the middle of a blob: the answer has started,
    so the client's connection is cut (a short body, never a clean end), and the gateway
    logs one warning — not an "unexpected error" with uvicorn's traceback."""
    import logging

    from gateway.errors import StreamBroken
    from gateway.logs import drop_stream_broken

    caplog.set_level(logging.INFO)
    with faulty_registry(DOCS) as registry:
        gateway = GatewayServer(registry.url, free_port(), **SETTINGS).start()
        try:
            registry.fault("reset_mid_body", only=r"/blobs/")
            http = httpx.Client(base_url=gateway.url, trust_env=False, timeout=BOUND + 10)
            with http, pytest.raises(httpx.TransportError):
                http.get(ENDPOINTS["blob"]).read()
        finally:
            gateway.stop()
    gateway_records = [r for r in caplog.records if r.name == "gateway"]
    assert any(
        r.levelno == logging.WARNING and "stream broke" in r.getMessage() for r in gateway_records
    ), [r.getMessage() for r in gateway_records]
    assert not any("unexpected error" in r.getMessage() for r in gateway_records)

    # uvicorn's own traceback line for it is dropped by the gateway's log set-up
    # (python -m gateway; here uvicorn's loggers do not reach caplog).
    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "Exception", None, (type(exc), exc, None)
        )

    assert not drop_stream_broken(record(StreamBroken("cut")))
    assert drop_stream_broken(record(RuntimeError("anything else")))
