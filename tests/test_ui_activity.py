"""The reference UI in chromium: the Activity page, last use on tag rows and the image
page, and the Stale report with its way into the retention preview.

A registry of its own and a gateway whose activity log began 90 days ago (opened before
the gateway, as an upgrade finds it); notifications are posted as the registry sends
them. Every page is checked for layout shift, CSP and script errors (``ui``), at a
desktop width and at 390 px (no sideways scroll, rows as cards).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from harness.images import PushedImage, Pusher, push_image
from harness.registry import RegistryProcess
from harness.waiting import eventually
from tests.support.layout import layout_problems
from tests.support.ui import UiContext, UiPage, UiSite, _site
from tests.test_activity_answers import AUTH, TOKEN, backdated_store, event
from tests.test_ui_widths import IDS, WIDTHS, check, context_options

REPO = "ui/act"


@pytest.fixture(scope="module")
def activity_site(
    registry_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[UiSite, dict[str, PushedImage]]]:
    process: RegistryProcess = registry_factory(delete_enabled=True)
    with Pusher(process.url) as p:
        images = {
            tag: push_image(p, REPO, tag, n_layers=1, seed=f"ui-act-{tag}")
            for tag in ("1.0", "2.0", "old")
        }
    data_dir: Path = tmp_path_factory.mktemp("ui-activity")
    backdated_store(data_dir, 90)
    with _site(process.url, events_token=TOKEN, delete_enabled=True, data_dir=data_dir) as site:
        pull = event("pull", REPO, images["1.0"].digest, tag="1.0", event_id="ui-pull")
        push = event("push", REPO, images["2.0"].digest, tag="2.0", actor="bob", event_id="ui-push")
        r = site.api("/api/events", method="POST", json={"events": [pull, push]}, headers=AUTH)
        assert r.status_code == 200

        def listed() -> bool:
            events = site.api("/api/activity").json()["events"]
            return {"ui-pull", "ui-push"} <= {e["id"] for e in events}

        eventually(listed, what="the events recorded")
        yield site, images


def post(site: UiSite, *events: dict[str, Any]) -> None:
    r = site.api("/api/events", method="POST", json={"events": list(events)}, headers=AUTH)
    assert r.status_code == 200, r.text


def test_the_activity_page_lists_filters_and_follows(
    ui: UiPage, activity_site: tuple[UiSite, dict[str, PushedImage]]
) -> None:
    site, images = activity_site
    ui.goto("/activity", site)
    table = ui.page.get_by_test_id("activity")
    expect(table.locator("tbody tr").first).to_be_visible()
    expect(table.locator('tr[data-id="ui-pull"] td[data-label="User"]')).to_have_text("alice")
    expect(table.locator('tr[data-id="ui-push"] td[data-label="User"]')).to_have_text("bob")
    # newest first: a push notified now shows at the top within seconds, unasked
    post(
        site, event("push", REPO, images["old"].digest, tag="old", actor="carol", event_id="ui-new")
    )
    expect(table.locator("tbody tr").first).to_have_attribute("data-id", "ui-new", timeout=8000)
    # filter by action and user
    ui.page.locator("#activity-action").select_option("pull")
    expect(table.locator("tbody tr")).to_have_count(1)
    assert "action=pull" in ui.path()
    ui.page.locator("#activity-action").select_option("")
    ui.page.locator("#activity-actor").fill("bob")
    ui.page.get_by_role("button", name="Filter").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_have_attribute("data-id", "ui-push")
    ui.page.locator("#activity-repository").fill("nothing/here")
    ui.page.get_by_role("button", name="Filter").click()
    expect(ui.page.get_by_text("No activity matches these filters.")).to_be_visible()


def test_tag_rows_and_the_image_page_say_when_last_used(
    ui: UiPage, activity_site: tuple[UiSite, dict[str, PushedImage]]
) -> None:
    site, _ = activity_site
    ui.goto(f"/r/{REPO}", site)
    row = ui.page.locator('[data-testid="tags"] tr[data-tag="1.0"]')
    expect(row.get_by_test_id("last-use")).to_contain_text("pulled")
    expect(row.get_by_test_id("last-use")).to_contain_text("by alice")
    pushed = ui.page.locator('[data-testid="tags"] tr[data-tag="2.0"]').get_by_test_id("last-use")
    expect(pushed).to_contain_text("no pull recorded")
    expect(pushed).to_contain_text("pushed")
    expect(pushed).to_contain_text("by bob")
    ui.goto(f"/r/{REPO}/-/image/1.0")
    expect(ui.page.get_by_test_id("last-use")).to_contain_text("by alice")


def test_the_stale_report_lists_and_links_into_retention(
    ui: UiPage, registry_factory: Any, tmp_path: Path
) -> None:
    process: RegistryProcess = registry_factory(delete_enabled=True)
    with Pusher(process.url) as p:
        for tag in ("a", "b"):
            push_image(p, "ui/stale", tag, n_layers=1, seed=f"ui-stale-{tag}")
    backdated_store(tmp_path, 90)
    with _site(process.url, delete_enabled=True, data_dir=tmp_path) as site:
        ui.goto("/stale?days=30", site)
        table = ui.page.get_by_test_id("stale")
        expect(table.locator("tbody tr")).to_have_count(2)
        expect(table.locator('td[data-label="Frees"]').first).not_to_have_text("—")
        ui.page.get_by_test_id("stale-clean-up").click()
        expect(ui.page.locator("#retention-not-pulled")).to_have_value("30")
        ui.page.get_by_role("button", name="Preview").click()
        preview = ui.page.get_by_test_id("retention-preview")
        expect(preview.locator('tr[data-fate="delete"]')).to_have_count(2)
        ui.page.get_by_role("button", name="Cancel").click()
        # the days selector: the period is in the URL, the rows follow
        ui.page.locator("#stale-days").select_option("7")
        assert "days=7" in ui.path()
        expect(ui.page.get_by_test_id("stale-summary")).to_contain_text("7 days")
        expect(table.locator("tbody tr")).to_have_count(2)


@pytest.mark.parametrize(("width", "scheme"), WIDTHS, ids=IDS)
def test_the_pages_hold_their_layout_at_every_width(
    ui_context: UiContext,
    activity_site: tuple[UiSite, dict[str, PushedImage]],
    width: int,
    scheme: str,
) -> None:
    """Identifiers cut, not broken; nothing scrolls sideways; cards under 720 px (the
    face's checks, ``test_ui_widths.layout_problems``), with last use on the tag rows."""
    site, _ = activity_site
    problems: list[str] = []
    with ui_context(site, **context_options(width, scheme)) as ui:
        problems += check(ui, "/activity", "activity")
        problems += check(ui, f"/r/{REPO}", "tags")
        problems += check(ui, f"/r/{REPO}/-/image/1.0", "last-use")
        ui.goto("/stale")
        expect(ui.page.get_by_test_id("stale-summary")).not_to_have_text("\u00a0")
        problems += [f"/stale: {p}" for p in layout_problems(ui.page)]
        if width < 720:
            rows = ui.page.get_by_test_id("activity")
            ui.goto("/activity")
            display = rows.locator("tbody tr").first.evaluate("el => getComputedStyle(el).display")
            assert display == "block"
    assert problems == [], "\n".join(problems)
