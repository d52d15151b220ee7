"""gateway.activity: one notification event -> a record or a reason to skip it (pure).

The table covers the rules of ``gateway.activity.classify``; the real envelopes of
``../shared/fixtures/realworld`` (distribution's documented pull and push) are read when
that folder exists and skipped, with the reason, when it does not.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.activity import agent
from gateway.activity.classify import Skipped, classify, classify_all, gateway_record
from gateway.activity.placeholder import PLACEHOLDER_CONFIG, is_placeholder_push, placeholder_for
from gateway.activity.records import Cursor, Record, format_time, parse_time
from gateway.errors import InvalidRequest
from gateway.models import media_types as mt
from harness.realworld import realworld_dir

ORIGIN = "0123456789abcdef0123456789abcdef"
NOW = 1_780_000_000_000_000
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
MANIFEST_URL = "http://registry:5000/v2/team/app/manifests/" + D1
BLOB_URL = "http://registry:5000/v2/team/app/blobs/" + D1
OURS = agent.user_agent("0.1.0", origin=ORIGIN, request_id="abc123")
OTHER_GATEWAY = agent.user_agent("0.1.0", origin="f" * 32)
OLD_GATEWAY = "light-registry/0.1.0"


def event(
    action: str = "pull",
    *,
    repository: Any = "team/app",
    tag: Any = "1.0",
    digest: Any = D1,
    media_type: Any = mt.OCI_MANIFEST,
    url: Any = MANIFEST_URL,
    method: Any = "GET",
    useragent: Any = "docker/27.1",
    actor: Any = "alice",
    event_id: Any = "ev-1",
    timestamp: Any = "2026-12-01T10:00:00.123456789Z",
) -> dict[str, Any]:
    target = {"repository": repository, "tag": tag, "digest": digest, "mediaType": media_type}
    target["url"] = url
    return {
        "id": event_id,
        "timestamp": timestamp,
        "action": action,
        "target": {k: v for k, v in target.items() if v is not None},
        "request": {
            "id": "r",
            "addr": "10.0.0.5:4242",
            "host": "registry:5000",
            "method": method,
            "useragent": useragent,
        },  # fmt: skip
        "actor": {"name": actor} if actor is not None else {},
        "source": {"addr": "registry:5000"},
    }


def placeholder_push() -> dict[str, Any]:
    p = placeholder_for("team/app", "old")
    return event("push", tag="old", digest=p.digest, method="PUT", useragent=OTHER_GATEWAY)


CASES: list[tuple[str, Any, str]] = [
    # (what, event, expected: an action, "placeholder", or "skip:<reason>")
    ("a client's manifest GET is a pull", event(), "pull"),
    ("a pull by digest, no tag", event(tag=None), "pull"),
    ("a HEAD is not a pull", event(method="HEAD"), "skip:head"),
    ("a lower-case head neither", event(method="head"), "skip:head"),
    ("no method: taken at its word", event(method=None), "pull"),
    ("a blob GET is not a pull", event(url=BLOB_URL, media_type=mt.OCI_MANIFEST), "skip:blob"),
    (
        "a blob without a URL, by its media type",
        event(url=None, media_type="application/octet-stream"),
        "skip:blob",
    ),
    ("a manifest without a URL, by its media type", event(url=None), "pull"),
    ("schema 1 is a manifest", event(url=None, media_type=mt.DOCKER_SCHEMA1_SIGNED), "pull"),
    ("the gateway's browsing is never a pull", event(useragent=OLD_GATEWAY), "skip:gateway_read"),
    ("nor another gateway's", event(useragent=OTHER_GATEWAY), "skip:gateway_read"),
    ("this gateway's own /v2 pull: its echo", event(useragent=OURS), "skip:echo"),
    ("a push by tag", event("push", method="PUT"), "push"),
    ("a push by digest (an index's child)", event("push", tag=None, method="PUT"), "push"),
    ("a blob push", event("push", url=BLOB_URL, method="PUT"), "skip:blob"),
    ("a mount", event("mount", url=BLOB_URL), "skip:action"),
    ("this gateway's own push: its echo", event("push", useragent=OURS), "skip:echo"),
    ("another gateway's push is recorded", event("push", useragent=OTHER_GATEWAY), "push"),
    ("a delete by digest", event("delete", tag=None, url=None, media_type=None), "delete"),
    ("a tag removed by it", event("delete", digest=None, url=None, media_type=None), "delete"),
    (
        "a repository delete",
        event("delete", tag=None, digest=None, url=None, media_type=None),
        "delete",
    ),
    ("this gateway's own delete: its echo", event("delete", tag=None, useragent=OURS), "skip:echo"),
    ("the placeholder push of a 2.x tag delete", placeholder_push(), "placeholder"),
    ("not an object", ["pull"], "skip:invalid"),
    ("no action", event(action=None), "skip:invalid"),  # type: ignore[arg-type]
    ("an action that is not a string", event(action=7), "skip:invalid"),  # type: ignore[arg-type]
    ("no target", {**event(), "target": None}, "skip:invalid"),
    ("a bad repository name", event(repository="Team/App"), "skip:invalid"),
    ("a repository that is not a string", event(repository=["x"]), "skip:invalid"),
    ("a bad tag", event(tag="-bad"), "skip:invalid"),
    ("a bad digest", event(digest="sha256:short"), "skip:invalid"),
    ("a pull without a digest", event(digest=None), "skip:invalid"),
]


@pytest.mark.parametrize(("what", "given", "expected"), CASES, ids=[c[0] for c in CASES])
def test_classification_table(what: str, given: Any, expected: str) -> None:
    result = classify(given, origin=ORIGIN, now=NOW)
    if expected.startswith("skip:"):
        assert result == Skipped(expected.removeprefix("skip:")), what  # type: ignore[arg-type]
    elif expected == "placeholder":
        assert isinstance(result, Record) and result.placeholder and result.action == "push"
    else:
        assert isinstance(result, Record), (what, result)
        assert result.action == expected and not result.placeholder
        assert result.via == "registry"


def test_a_record_takes_what_the_event_says() -> None:
    record = classify(event(), origin=ORIGIN, now=NOW)
    assert record == Record(
        id="ev-1",
        time=parse_time("2026-12-01T10:00:00.123456Z") or 0,
        action="pull",
        repository="team/app",
        tag="1.0",
        digest=D1,
        media_type=mt.OCI_MANIFEST,
        actor="alice",
        addr="10.0.0.5:4242",
        user_agent="docker/27.1",
        via="registry",
    )
    assert record.api()["client"] == {"addr": "10.0.0.5:4242", "user_agent": "docker/27.1"}
    assert record.api()["time"] == "2026-12-01T10:00:00.123456Z"


def test_missing_or_odd_fields_are_bounded_and_defaulted() -> None:
    odd = event(actor=None, timestamp="not a time", useragent="x" * 5000 + "\n", event_id=None)
    record = classify(odd, origin=ORIGIN, now=NOW)
    assert isinstance(record, Record)
    assert record.actor is None
    assert record.time == NOW  # no usable timestamp: when it arrived
    assert record.user_agent is not None and len(record.user_agent) == 256
    assert record.id.startswith("content-")  # no id: the same content is the same record
    assert classify(odd, origin=ORIGIN, now=NOW + 1).id == record.id  # type: ignore[union-attr]
    controls = classify(event(actor="al\x1bice"), origin=ORIGIN, now=NOW)
    assert isinstance(controls, Record) and "\x1b" not in (controls.actor or "")


def test_another_gateways_user_agent_is_recorded_without_its_origin() -> None:
    record = classify(event("push", useragent=OTHER_GATEWAY), origin=ORIGIN, now=NOW)
    assert isinstance(record, Record)
    assert record.user_agent == "light-registry/0.1.0"


def test_without_an_origin_no_echo_is_recognised_but_reads_still_are() -> None:
    assert isinstance(classify(event("push", useragent=OURS), origin=None, now=NOW), Record)
    assert classify(event(useragent=OURS), origin=None, now=NOW) == Skipped("gateway_read")


def test_classify_all_splits_an_envelope() -> None:
    events = [event(), event(method="HEAD"), "junk", event("push", event_id="ev-2")]
    records, skipped = classify_all(events, origin=ORIGIN, now=NOW)
    assert [r.action for r in records] == ["pull", "push"]
    assert sorted(s.reason for s in skipped) == ["head", "invalid"]
    assert classify_all({"not": "a list"}, origin=ORIGIN, now=NOW) == ([], [])


def test_a_gateway_record_is_the_real_client() -> None:
    record = gateway_record(
        "delete", "team/app", time=NOW, tag="1.0", actor="bob", addr="10.1.1.1",
        user_agent="Mozilla/5.0",
    )  # fmt: skip
    assert record.via == "gateway" and record.actor == "bob" and record.id.startswith("gateway-")
    with pytest.raises(ValueError, match="repository"):
        gateway_record("push", "Not/Valid", time=NOW)


# -- the user agent ------------------------------------------------------------------


def test_user_agent_round_trip() -> None:
    assert agent.user_agent("1.2.3") == "light-registry/1.2.3"
    text = agent.user_agent("1.2.3", origin=ORIGIN, request_id="req-1")
    assert text == f"light-registry/1.2.3 (origin={ORIGIN}; request=req-1)"
    parsed = agent.parse(text)
    assert parsed == agent.GatewayAgent("1.2.3", ORIGIN, "req-1")
    assert parsed is not None and parsed.text() == text
    # A request id that is not a token is left out rather than breaking the header.
    assert (
        agent.user_agent("1", origin=ORIGIN, request_id="a b")
        == f"light-registry/1 (origin={ORIGIN})"
    )
    with pytest.raises(ValueError):
        agent.user_agent("1", origin="no spaces allowed")


@pytest.mark.parametrize(
    "value",
    ["docker/27.1", "light-registry", "light-registry/", "xlight-registry/1.0", "", None, 42,
     "light-registry/1.0 extra", "Light-Registry/1.0"],
)  # fmt: skip
def test_what_is_not_a_gateway(value: object) -> None:
    assert not agent.is_gateway(value)
    assert not agent.is_echo(value, ORIGIN)


def test_echo_needs_the_same_origin() -> None:
    assert agent.is_echo(OURS, ORIGIN)
    assert not agent.is_echo(OTHER_GATEWAY, ORIGIN)
    assert not agent.is_echo(OLD_GATEWAY, ORIGIN)
    assert not agent.is_echo(OURS, None)
    assert agent.shown(OURS) == "light-registry/0.1.0"
    assert agent.shown("curl/8") == "curl/8"


# -- the placeholder -------------------------------------------------------------------


def test_the_placeholder_is_the_same_bytes_for_the_same_tag_only() -> None:
    a, again = placeholder_for("team/app", "old"), placeholder_for("team/app", "old")
    assert a == again
    assert a.digest != placeholder_for("team/app", "new").digest
    assert a.digest != placeholder_for("team/other", "old").digest
    doc = json.loads(a.manifest)
    assert doc["config"]["mediaType"] == PLACEHOLDER_CONFIG
    assert doc["config"]["digest"] == a.config_digest and doc["layers"] == []
    assert json.loads(a.config) == {
        "light-registry": "placeholder for a tag delete", "repository": "team/app", "tag": "old"
    }  # fmt: skip
    assert is_placeholder_push("team/app", "old", a.digest)
    assert not is_placeholder_push("team/app", "new", a.digest)
    assert not is_placeholder_push("team/app", None, a.digest)
    assert not is_placeholder_push("team/app", "old", D1)


# -- times and cursors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-03-09T14:44:26.402973972-08:00", "2016-03-09T22:44:26.402973Z"),
        ("2006-01-02T15:04:05Z", "2006-01-02T15:04:05Z"),
        ("2026-12-01T10:00:00.5Z", "2026-12-01T10:00:00.500000Z"),
        ("2026-12-01T10:00:00", "2026-12-01T10:00:00Z"),
        ("0001-01-01T00:00:00Z", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_event_times(text: object, expected: str | None) -> None:
    us = parse_time(text)
    assert (None if us is None else format_time(us)) == expected


def test_cursors() -> None:
    assert Cursor.parse(Cursor(1_780_000_000_000_000, 7).text()) == Cursor(1_780_000_000_000_000, 7)
    assert Cursor(2, 0) > Cursor(1, 9) and Cursor(1, 2) > Cursor(1, 1)
    for bad in ("", "x", "1", "1.2.3", "-1.2", "1." + "9" * 20):
        with pytest.raises(InvalidRequest):
            Cursor.parse(bad)


# -- the real envelopes ----------------------------------------------------------------


def _realworld(name: str) -> dict[str, Any]:
    folder = realworld_dir()
    if folder is None:
        pytest.skip(
            "../shared/fixtures/realworld is not here (the real envelopes are not in the repo)"
        )
    document: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
    return document


def test_distributions_documented_pull() -> None:
    envelope = _realworld("event-distribution-notification-pull.json")
    records, skipped = classify_all(envelope["events"], origin=ORIGIN, now=NOW)
    assert skipped == []
    (pull,) = records
    assert pull.action == "pull" and pull.repository == "hello-world" and pull.tag == "latest"
    assert pull.digest == "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"
    assert pull.actor is None  # "actor": {}
    assert pull.addr == "192.168.64.11:42961" and pull.user_agent == "curl/7.38.0"
    assert format_time(pull.time) == "2016-03-09T22:44:26.402973Z"  # -08:00, nanoseconds


def test_distributions_documented_push_envelope() -> None:
    envelope = _realworld("event-distribution-notification-push-envelope.json")
    records, skipped = classify_all(envelope["events"], origin=ORIGIN, now=NOW)
    # One manifest push; the two layer pushes are blobs (their URLs say /blobs/).
    assert [(r.action, r.repository, r.tag, r.actor) for r in records] == [
        ("push", "library/test", None, "test-actor")
    ]
    assert [s.reason for s in skipped] == ["blob", "blob"]
