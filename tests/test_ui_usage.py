"""The reference UI in chromium: storage usage and the retention dialog.

A registry of its own (the dialog deletes): the registry page charts repositories by
exclusive bytes, with a progress bar while the count is incomplete; the repository
page shows each tag's bytes and exclusive bytes; the retention dialog goes rules →
preview (what stays and why) → confirm → per-item results."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Route, expect

from harness.images import Pusher
from harness.registry import RegistryProcess
from tests.support.ui import UiPage, UiSite, _site, format_bytes
from tests.support.usage_corpus import Corpus, push_usage_corpus


@pytest.fixture(scope="module")
def usage_site(registry_factory: Any) -> Iterator[tuple[UiSite, Pusher, Corpus]]:
    process: RegistryProcess = registry_factory()
    with Pusher(process.url) as p:
        corpus = push_usage_corpus(p, "ui")
        with _site(process.url, delete_enabled=True) as site:
            yield site, p, corpus


def test_registry_page_charts_repositories_by_exclusive_bytes(
    ui: UiPage, usage_site: tuple[UiSite, Pusher, Corpus]
) -> None:
    site, _, _ = usage_site
    expected = site.api("/api/usage").json()
    assert expected["complete"]
    ui.goto("/", site)
    chart = ui.page.get_by_test_id("usage-chart")
    names = [r["name"] for r in expected["repositories"]]
    expect(chart.locator("tbody tr td:first-child")).to_have_text(names)
    expect(chart.locator("tbody tr .size")).to_have_text(
        [format_bytes(r["exclusive_bytes"]) for r in expected["repositories"]]
    )
    totals = ui.page.get_by_test_id("usage-totals")
    expect(totals).to_contain_text(format_bytes(expected["total_bytes"]))
    expect(totals).to_contain_text(format_bytes(expected["naive_bytes"]))
    expect(ui.page.get_by_test_id("usage-progress")).to_have_count(0)


def test_registry_page_shows_progress_and_polls_until_complete(
    ui: UiPage, usage_site: tuple[UiSite, Pusher, Corpus]
) -> None:
    site, _, _ = usage_site
    complete = site.api("/api/usage").json()
    partial = {
        **complete,
        "complete": False,
        "repositories_counted": 1,
        "repositories": complete["repositories"][:1],
    }
    answers = [partial]

    def first_partial(route: Route) -> None:
        if answers:
            route.fulfill(
                status=200, content_type="application/json", body=json.dumps(answers.pop())
            )
        else:
            route.continue_()

    ui.page.route("**/api/usage", first_partial)
    ui.goto("/", site)
    progress = ui.page.get_by_test_id("usage-progress")
    expect(progress).to_contain_text(f"1 of {complete['repositories_total']} repositories")
    expect(progress.locator("progress")).to_have_attribute("value", "1")
    # The next poll is the real, complete answer: the bar goes, every row is there.
    expect(progress).to_have_count(0)
    rows = ui.page.get_by_test_id("usage-chart").locator("tbody tr")
    expect(rows).to_have_count(len(complete["repositories"]))


def test_repository_page_shows_each_tags_bytes(
    ui: UiPage, usage_site: tuple[UiSite, Pusher, Corpus]
) -> None:
    site, _, corpus = usage_site
    expected = site.api(f"/api/repositories/{corpus.other}/usage").json()
    ui.goto(f"/r/{corpus.other}", site)
    table = ui.page.get_by_test_id("tag-usage-table")
    for row in expected["by_tag"]:
        sizes = table.locator(f'tr[data-tag="{row["tag"]}"] .size')
        expect(sizes).to_have_text(
            [format_bytes(row["bytes"]), format_bytes(row["exclusive_bytes"])]
        )
    expect(ui.page.get_by_test_id("repository-usage-totals")).to_contain_text(
        format_bytes(expected["total_bytes"])
    )


def test_retention_dialog_previews_then_applies(
    ui: UiPage, usage_site: tuple[UiSite, Pusher, Corpus]
) -> None:
    site, p, corpus = usage_site
    page = ui.page
    ui.goto(f"/r/{corpus.multi}", site)
    page.get_by_test_id("retention-open").click()
    dialog = page.get_by_role("dialog", name=f"Clean up {corpus.multi}")
    expect(dialog).to_be_visible()
    dialog.locator("#retention-keep-last").fill("1")
    dialog.locator("#retention-keep-regex").fill("(")
    dialog.get_by_role("button", name="Preview").click()
    expect(dialog.get_by_role("alert")).to_contain_text("VALIDATION_ERROR")
    dialog.locator("#retention-keep-regex").fill("^latest$")
    dialog.get_by_role("button", name="Preview").click()

    preview = dialog.get_by_test_id("retention-preview")
    expect(preview.locator('tr[data-fate="delete"] td:first-child')).to_have_text(["1.0.0"])
    # why, in words rather than the API's field names
    expect(preview.locator('tr[data-tag="latest"]')).to_contain_text(
        "Matches “^latest$”, which is always kept"
    )
    expect(preview.locator('tr[data-tag="1.1.0"]')).to_contain_text("The newest by version")
    expect(preview.locator('tr[data-tag="1.0.0"]')).to_contain_text("its image goes too")
    expect(preview).not_to_contain_text("keep_")
    expect(dialog.get_by_test_id("retention-summary")).to_contain_text("1 tag and 5 manifests")
    assert sorted(p.tags(corpus.multi) or []) == ["1.0.0", "1.1.0", "latest"]  # not yet

    dialog.get_by_role("button", name="Delete 1 tag").click()
    expect(dialog.get_by_test_id("retention-done")).to_contain_text("Done: 6 items")
    expect(
        dialog.locator('[data-testid="retention-results"] tr[data-status="deleted"]')
    ).to_have_count(6)
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_test_id("tags").locator("tbody tr td:first-child")).to_have_text(
        ["1.1.0", "latest"]
    )
    assert sorted(p.tags(corpus.multi) or []) == ["1.1.0", "latest"]


def test_repositories_list_shows_size_and_last_change_once_known(
    ui: UiPage, usage_site: tuple[UiSite, Pusher, Corpus]
) -> None:
    """Before anything is counted the columns say "—"; once the registry's walk counted
    every repository, each row has its size. A write through the gateway gives the
    repository a last change."""
    site, _, corpus = usage_site
    page = ui.page
    ui.goto("/", site)
    expect(page.get_by_role("columnheader", name="Size")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Last changed")).to_be_visible()
    complete = site.api("/api/usage").json()  # the walk (the page asked for it too)
    assert complete["complete"]
    page.reload()
    rows = page.get_by_test_id("repositories")
    for repo in complete["repositories"]:
        row = rows.locator(f'tr[data-name="{repo["name"]}"]')
        expect(row.get_by_test_id("repository-size")).to_have_text(format_bytes(repo["bytes"]))
    # a tag deleted through the gateway: its repository changed just now
    app = corpus.app
    tag = site.api(f"/api/repositories/{app}/tags").json()["tags"][-1]["name"]
    r = site.api(
        f"/api/repositories/{app}/tags/{tag}",
        method="DELETE",
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert r.status_code == 202
    page.reload()
    changed = rows.locator(f'tr[data-name="{app}"]').get_by_test_id("repository-changed")
    expect(changed).to_have_text("just now")
    expect(changed.locator("time")).to_have_attribute("datetime", re.compile(r"Z$"))
