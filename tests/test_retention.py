"""Retention previews and their application against a real registry (distribution
2.8: tag deletes go through the placeholder technique). Every test fills a corpus of
its own (tests/support/usage_corpus.py) under its own prefix: applying deletes it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import Pusher, push_image, tag_existing
from harness.registry import RegistryProcess
from tests.conftest import gateway_for
from tests.support.assertions import assert_envelope
from tests.support.usage_corpus import Corpus, RegistryWalk, push_usage_corpus


@pytest.fixture(scope="module")
def retention_registry(registry_factory: Any) -> Iterator[tuple[RegistryProcess, Pusher]]:
    reg: RegistryProcess = registry_factory()
    with Pusher(reg.url) as p:
        yield reg, p


@pytest.fixture(scope="module")
def gateway(retention_registry: tuple[RegistryProcess, Pusher]) -> Iterator[TestClient]:
    with gateway_for(retention_registry[0].url, delete_enabled=True) as client:
        yield client


_count = iter(range(1_000_000))


@pytest.fixture
def corpus(retention_registry: tuple[RegistryProcess, Pusher]) -> Corpus:
    return push_usage_corpus(retention_registry[1], f"ret{next(_count)}")


def preview(client: TestClient, repo: str, **rules: Any) -> dict[str, Any]:
    r = client.post(f"/api/repositories/{repo}/retention/preview", json=rules)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def apply(client: TestClient, repo: str, plan_id: str) -> list[dict[str, Any]]:
    r = client.post(f"/api/repositories/{repo}/retention/apply", json={"plan_id": plan_id})
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def deleted_tags(plan: dict[str, Any]) -> set[str]:
    return {row["tag"] for row in plan["delete"]}


def kept(plan: dict[str, Any]) -> dict[str, str]:
    return {row["tag"]: row["reason"] for row in plan["keep"]}


def sig_of(corpus: Corpus, tag: str) -> str:
    return corpus.digest(corpus.app, tag).replace("sha256:", "sha256-") + ".sig"


def registry_tags(p: Pusher, repo: str) -> set[str]:
    return set(p.tags(repo) or [])


def test_keep_last_by_version_with_a_keep_regex_is_applied_exactly(
    retention_registry: tuple[RegistryProcess, Pusher], gateway: TestClient, corpus: Corpus
) -> None:
    _, p = retention_registry
    app = corpus.app
    walk = RegistryWalk(p)
    plan = preview(gateway, app, keep_last=2, sort="version", keep_regex="^(latest|stable)$")
    sig = sig_of(corpus, "1.9.0")
    assert deleted_tags(plan) == {"1.10.0", "1.9.0", "1.2.0", "main", sig}
    reasons = kept(plan)
    assert set(reasons) == {"2.0.0", "2.0.0-rc1", "latest", "stable"}
    assert reasons["2.0.0"].startswith("keep_last") and reasons["latest"].startswith("keep_regex")
    rows = {row["tag"]: row for row in plan["delete"]}
    assert rows["1.10.0"]["reason"] == "tag only: its image stays (tagged stable)"
    assert rows["1.2.0"]["reason"] is None
    sig_row = rows[sig]
    assert sig_row["reason"] == f"referrer of {corpus.digest(app, '1.9.0')}"
    # 1.10.0 shares its digest with the kept stable: a tag delete, its manifest stays.
    assert set(plan["manifests"]) == {
        corpus.digest(app, "1.9.0"),
        corpus.digest(app, "1.2.0"),
        corpus.digest(app, "main"),
        corpus.digest(app, sig),
    }
    assert plan["freed_bytes"] == walk.freed(app, deleted_tags(plan)) > 0
    before = walk.repository(app)["total_bytes"]

    results = apply(gateway, app, plan["plan_id"])
    assert all(r["status"] == "deleted" and r["error"] is None for r in results), results
    assert {r["tag"] for r in results if r["tag"]} == deleted_tags(plan)
    assert {r["digest"] for r in results if r["tag"] is None} == set(plan["manifests"])
    assert registry_tags(p, app) == {"2.0.0", "2.0.0-rc1", "latest", "stable"}
    after = RegistryWalk(p)
    assert after.manifest(app, "stable")[0] == corpus.digest(app, "1.10.0")  # type: ignore[index]
    for digest in plan["manifests"]:
        assert after.manifest(app, digest) is None
    assert before - after.repository(app)["total_bytes"] == plan["freed_bytes"]
    # The gateway's own answers moved with it.
    usage = gateway.get(f"/api/repositories/{app}/usage").json()
    assert {row["tag"] for row in usage["by_tag"]} == {"2.0.0", "2.0.0-rc1", "latest", "stable"}
    # A plan is applied once.
    again = gateway.post(
        f"/api/repositories/{app}/retention/apply", json={"plan_id": plan["plan_id"]}
    )
    assert_envelope(again, 404, "PLAN_UNKNOWN")


def test_keep_last_by_created_orders_by_date(
    retention_registry: tuple[RegistryProcess, Pusher], gateway: TestClient, corpus: Corpus
) -> None:
    _, p = retention_registry
    plan = preview(gateway, corpus.app, keep_last=3, sort="created")
    # newest: main (June), 1.2.0 (May), 2.0.0-rc1 (April)
    assert {t for t, r in kept(plan).items() if r.startswith("keep_last")} == {
        "main",
        "1.2.0",
        "2.0.0-rc1",
    }
    sig = sig_of(corpus, "1.9.0")
    assert deleted_tags(plan) == {"2.0.0", "latest", "1.10.0", "stable", "1.9.0", sig}
    assert plan["freed_bytes"] == RegistryWalk(p).freed(corpus.app, deleted_tags(plan))


def test_match_regex_scopes_keep_last(gateway: TestClient, corpus: Corpus) -> None:
    plan = preview(gateway, corpus.app, keep_last=1, sort="version", match_regex=r"^1\.")
    assert deleted_tags(plan) == {"1.2.0", "1.9.0", sig_of(corpus, "1.9.0")}
    reasons = kept(plan)
    assert reasons["1.10.0"].startswith("keep_last")
    for tag in ("2.0.0", "2.0.0-rc1", "latest", "stable", "main"):
        assert reasons[tag] == "match_regex: not matched"


def test_older_than_days(
    retention_registry: tuple[RegistryProcess, Pusher], gateway: TestClient, corpus: Corpus
) -> None:
    _, p = retention_registry
    nothing = preview(gateway, corpus.app, older_than_days=100_000)
    assert nothing["delete"] == [] and nothing["manifests"] == [] and nothing["freed_bytes"] == 0
    # Older than 2024-03-15: 1.9.0 (Jan), 1.10.0 and stable (Feb), 2.0.0 and latest (Mar 1).
    days = (datetime.now(UTC) - datetime(2024, 3, 15, tzinfo=UTC)).days
    plan = preview(gateway, corpus.app, older_than_days=days, keep_regex="^latest$")
    sig = sig_of(corpus, "1.9.0")
    assert deleted_tags(plan) == {"1.9.0", "1.10.0", "stable", "2.0.0", sig}
    assert kept(plan)["latest"].startswith("keep_regex")
    assert kept(plan)["1.2.0"].startswith("older_than_days")
    # 2.0.0 shares its digest with the kept latest: only its tag goes.
    assert corpus.digest(corpus.app, "2.0.0") not in plan["manifests"]
    assert plan["freed_bytes"] == RegistryWalk(p).freed(corpus.app, deleted_tags(plan))


def test_index_children_of_kept_indexes_are_protected(
    retention_registry: tuple[RegistryProcess, Pusher], gateway: TestClient, corpus: Corpus
) -> None:
    _, p = retention_registry
    multi = corpus.multi
    old = corpus.images[f"{multi}:1.0.0"]
    new = corpus.images[f"{multi}:1.1.0"]
    child = new.children[0]  # type: ignore[union-attr]
    p.push_manifest(multi, "1.1.0-amd64", child.manifest, child.media_type)
    plan = preview(gateway, multi, keep_last=1, sort="version", keep_regex="^latest$")
    assert deleted_tags(plan) == {"1.0.0", "1.1.0-amd64"}
    amd64 = next(row for row in plan["delete"] if row["tag"] == "1.1.0-amd64")
    assert amd64["reason"] == "tag only: its image stays (in a kept index)"
    old_children = [c.digest for c in old.children + old.attestations]  # type: ignore[union-attr]
    assert plan["manifests"][0] == old.digest  # parents before children
    assert set(plan["manifests"]) == {old.digest, *old_children}
    assert child.digest not in plan["manifests"]  # a child of the kept 1.1.0
    walk = RegistryWalk(p)
    assert plan["freed_bytes"] == walk.freed(multi, deleted_tags(plan))

    results = apply(gateway, multi, plan["plan_id"])
    assert all(r["status"] == "deleted" for r in results), results
    assert registry_tags(p, multi) == {"1.1.0", "latest"}
    after = RegistryWalk(p)
    for c in new.children + new.attestations:  # type: ignore[union-attr]
        assert after.manifest(multi, c.digest) is not None
    for digest in plan["manifests"]:
        assert after.manifest(multi, digest) is None
    detail = gateway.get(f"/api/repositories/{multi}/images/1.1.0").json()
    assert not any(img.get("error") for img in detail["platforms"])


def test_apply_refuses_a_stale_plan_and_deletes_nothing(
    retention_registry: tuple[RegistryProcess, Pusher], gateway: TestClient, corpus: Corpus
) -> None:
    _, p = retention_registry
    app = corpus.app
    plan = preview(gateway, app, keep_last=2, sort="version")
    assert "1.2.0" in deleted_tags(plan)
    before = {t: RegistryWalk(p).manifest(app, t) for t in registry_tags(p, app)}
    moved = push_image(p, app, "1.2.0", seed="moved-since-the-preview")
    r = gateway.post(f"/api/repositories/{app}/retention/apply", json={"plan_id": plan["plan_id"]})
    error = assert_envelope(r, 409, "PLAN_STALE")
    assert error["detail"]["moved"] == ["1.2.0"]
    now = RegistryWalk(p)
    assert registry_tags(p, app) == set(before)
    for tag, found in before.items():
        expected = moved.digest if tag == "1.2.0" else found[0]  # type: ignore[index]
        assert now.manifest(app, tag)[0] == expected  # type: ignore[index]


def test_a_new_tag_on_a_planned_manifest_makes_the_plan_stale(
    retention_registry: tuple[RegistryProcess, Pusher], gateway: TestClient, corpus: Corpus
) -> None:
    _, p = retention_registry
    plan = preview(gateway, corpus.app, keep_last=2, sort="version")
    tag_existing(p, corpus.app, "pinned", corpus.images[f"{corpus.app}:1.2.0"])
    r = gateway.post(
        f"/api/repositories/{corpus.app}/retention/apply", json={"plan_id": plan["plan_id"]}
    )
    error = assert_envelope(r, 409, "PLAN_STALE")
    assert error["detail"]["now_reaching_planned_manifests"] == ["pinned"]
    assert "1.2.0" in registry_tags(p, corpus.app)


def test_plans_expire_and_unknown_plans_are_404(
    gateway: TestClient, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.services.retention as retention

    unknown = gateway.post(
        f"/api/repositories/{corpus.app}/retention/apply", json={"plan_id": "no-such-plan"}
    )
    assert_envelope(unknown, 404, "PLAN_UNKNOWN")
    monkeypatch.setattr(retention, "PLAN_SECONDS", 0.0)
    plan = preview(gateway, corpus.app, keep_last=1)
    r = gateway.post(
        f"/api/repositories/{corpus.app}/retention/apply", json={"plan_id": plan["plan_id"]}
    )
    assert_envelope(r, 404, "PLAN_UNKNOWN")
    # A plan is for the repository it was made for.
    monkeypatch.setattr(retention, "PLAN_SECONDS", 600.0)
    plan = preview(gateway, corpus.app, keep_last=1)
    r = gateway.post(
        f"/api/repositories/{corpus.other}/retention/apply", json={"plan_id": plan["plan_id"]}
    )
    assert_envelope(r, 404, "PLAN_UNKNOWN")


def test_invalid_rules_are_400(gateway: TestClient, corpus: Corpus) -> None:
    url = f"/api/repositories/{corpus.app}/retention/preview"
    for rules in (
        {"keep_regex": "("},
        {"match_regex": "[a-"},
        {"keep_last": -1},
        {"sort": "size"},
        {"older_than_days": "soon"},
        {"unknown_rule": 1},
    ):
        error = assert_envelope(gateway.post(url, json=rules), 400, "VALIDATION_ERROR")
        assert error["detail"], rules
    assert_envelope(
        gateway.post(f"/api/repositories/{corpus.app}/retention/apply", json={}),
        400,
        "VALIDATION_ERROR",
    )


def test_bulk_delete_answers_per_item(
    retention_registry: tuple[RegistryProcess, Pusher], gateway: TestClient, corpus: Corpus
) -> None:
    _, p = retention_registry
    app = corpus.app
    main = corpus.digest(app, "main")
    absent = "sha256:" + "ab" * 32
    r = gateway.post(
        f"/api/repositories/{app}/delete",
        json={"tags": ["1.10.0", "no-such-tag"], "digests": [main, absent]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [
        {
            "tag": "1.10.0",
            "digest": corpus.digest(app, "1.10.0"),
            "status": "deleted",
            "error": None,
        },
        {"tag": "no-such-tag", "digest": None, "status": "already_gone", "error": None},
        {"tag": None, "digest": main, "status": "deleted", "error": None},
        {"tag": None, "digest": absent, "status": "already_gone", "error": None},
    ]
    tags = registry_tags(p, app)
    assert "stable" in tags and "1.10.0" not in tags and "main" not in tags  # siblings stay
    assert RegistryWalk(p).manifest(app, "stable")[0] == corpus.digest(app, "1.10.0")  # type: ignore[index]
    for body in ({"tags": ["bad tag!"]}, {"digests": ["sha256:nothex"]}):
        r = gateway.post(f"/api/repositories/{app}/delete", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] in (
            "TAG_INVALID",
            "DIGEST_INVALID",
        )
    assert registry_tags(p, app) == tags


def test_everything_is_refused_when_deletes_are_disabled(
    retention_registry: tuple[RegistryProcess, Pusher], corpus: Corpus
) -> None:
    reg, p = retention_registry
    before = registry_tags(p, corpus.app)
    with gateway_for(reg.url) as client:
        for path, body in (
            ("retention/preview", {"keep_last": 1}),
            ("retention/apply", {"plan_id": "x"}),
            ("delete", {"tags": ["main"]}),
        ):
            r = client.post(f"/api/repositories/{corpus.app}/{path}", json=body)
            assert_envelope(r, 403, "DELETE_DISABLED")
            assert r.headers["X-Upstream-Requests"] == "0"
    assert registry_tags(p, corpus.app) == before
