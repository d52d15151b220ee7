"""The reference UI in chromium: a repository's tags — details, sorting against the
real data, filtering, paging, copying digests and pull commands."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, expect

from harness.images import PushedIndex
from harness.waiting import eventually
from tests.support.content import VERSION_ALIASES, VERSION_TAGS
from tests.support.fixtures import FilledRegistry
from tests.support.ui import UiContext, UiPage, UiSite, format_bytes

# versions/app in version order: the versions, oldest first, then the other tags by name.
NOT_VERSIONS = sorted(["main", *VERSION_ALIASES])
VERSIONS = [tag for tag, _ in VERSION_TAGS if tag not in NOT_VERSIONS]


def expect_tags(ui: UiPage, names: list[str]) -> None:
    expect(ui.page.get_by_test_id("tags").locator("tbody tr td:first-child")).to_have_text(names)


def test_tag_row_details(ui: UiPage, ui_site: UiSite, registry: FilledRegistry) -> None:
    index = registry.content.images["multi/oci-index:1.0.0"]
    assert isinstance(index, PushedIndex)
    ui.goto("/r/multi/oci-index", ui_site)
    row = ui.page.locator('tr[data-tag="1.0.0"]')
    expect(row.locator('td[data-label="Kind"]')).to_have_text("index")
    expect(row.locator('td[data-label="Platforms"] .chip')).to_have_text(
        ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    )
    size = row.locator('td[data-label="Size"] .size')
    expect(size).to_have_text(format_bytes(index.size))
    expect(size).to_have_attribute("title", f"{index.size:,} bytes")
    assert format_bytes(index.size).endswith(" KiB")
    # created: the newest platform config, relative, the exact time on hover
    newest = max(child.created for child in index.children)
    created = row.locator('td[data-label="Created"] time')
    expect(created).to_have_attribute("datetime", newest)
    expect(created).to_have_attribute("title", newest)
    expect(created).to_have_text(re.compile(r"^\d+ (years?|months?) ago$"))
    digest = row.locator('td[data-label="Digest"]')
    expect(digest.locator("code")).to_have_text(index.digest[:19])
    expect(digest.locator("code")).to_have_attribute("title", index.digest)
    # the note on units
    expect(ui.page.get_by_text("binary units (1 KiB = 1024 bytes)")).to_be_visible()

    # a single image and an artifact (a Helm chart says so, and is pulled with helm)
    ui.goto("/r/artifacts/helm-chart", ui_site)
    row = ui.page.locator('tr[data-tag="15.0.2"]')
    expect(row.locator('td[data-label="Kind"]')).to_have_text("chart")
    helm = row.get_by_role("button", name="Copy pull command for 15.0.2 (helm pull)")
    expect(helm).to_be_visible()
    ui.goto("/r/schema2/app", ui_site)
    row = ui.page.locator('tr[data-tag="1.0"]')
    expect(row.locator('td[data-label="Kind"]')).to_have_text("image")
    expect(row.locator('td[data-label="Platforms"]')).to_have_text("linux/amd64")


def test_sort_orders_match_the_data(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/versions/app", ui_site)
    everything = sorted(VERSIONS + NOT_VERSIONS)
    expect_tags(ui, everything)
    sort = page.get_by_label("Sort by")

    sort.select_option(label="Version, newest first")
    expect_tags(ui, [*reversed(VERSIONS), *NOT_VERSIONS])
    expect(page).to_have_url(f"{ui_site.url}/r/versions/app?sort=-version")
    # 1.10.0 after 1.9.0, the release after its candidates, the v prefix ignored
    assert VERSIONS == ["0.9", "1.9.0", "1.10.0-rc1", "1.10.0-rc2", "1.10.0", "v2", "v2.0.1"]

    sort.select_option(label="Version, oldest first")
    expect_tags(ui, [*VERSIONS, *NOT_VERSIONS])

    sort.select_option(label="Name, Z → A")
    expect_tags(ui, list(reversed(everything)))

    for label, newest_first in (("Created, newest first", True), ("Created, oldest first", False)):
        sort.select_option(label=label)
        expect(page).to_have_url(re.compile(r"sort=-?created"))
        times = page.get_by_test_id("tags").locator('td[data-label="Created"] time')
        expect(times).to_have_count(len(everything))
        # The URL changes before the new order is drawn, and the table of the previous
        # order has as many rows: read the whole column until it is in the new order.

        def in_order(times: Locator = times, newest_first: bool = newest_first) -> bool:
            stamps = [t.get_attribute("datetime") or "" for t in times.all()]
            return len(stamps) == len(everything) and stamps == sorted(
                stamps, reverse=newest_first
            )

        eventually(in_order, within=10, what=f"the tags ordered {label}")

    # the order survives a reload, and back returns to the previous order
    page.reload()
    expect(sort).to_have_value("created")
    page.go_back()
    expect(sort).to_have_value("-created")


def test_filter_tags(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/versions/app?sort=version", ui_site)
    page.get_by_label("Search tags").fill("1.10")
    expect_tags(ui, ["1.10.0-rc1", "1.10.0-rc2", "1.10.0"])
    expect(page.get_by_text("3 tags matching “1.10”")).to_be_visible()
    expect(page).to_have_url(f"{ui_site.url}/r/versions/app?q=1.10&sort=version")
    page.get_by_label("Search tags").fill("nothing-like-it")
    expect(page.get_by_text("No tag matches “nothing-like-it”.")).to_be_visible()
    page.get_by_role("button", name="Clear search").click()
    expect(page.get_by_test_id("tags").locator("tbody tr")).to_have_count(10)


def test_tag_paging(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ordered = [*VERSIONS, *NOT_VERSIONS]
    ui.goto("/r/versions/app?sort=version&n=4", ui_site)
    pager = page.get_by_role("navigation", name="Tag pages")
    expect_tags(ui, ordered[:4])
    pager.get_by_role("button", name="Next →").click()
    expect_tags(ui, ordered[4:8])
    pager.get_by_role("button", name="Next →").click()
    expect_tags(ui, ordered[8:])
    expect(pager.get_by_role("button", name="Next →")).to_be_disabled()
    pager.get_by_role("button", name="← Previous").click()
    expect_tags(ui, ordered[4:8])
    pager.get_by_role("button", name="← Previous").click()
    expect_tags(ui, ordered[:4])
    expect(pager).to_contain_text("Page 1")


def test_empty_repository(ui: UiPage, ui_site: UiSite, registry: FilledRegistry) -> None:
    ui.goto(f"/r/{registry.content.emptied_repo}", ui_site)
    expect(ui.page.get_by_text("This repository has no tags.")).to_be_visible()
    expect(ui.page.get_by_text("0 tags", exact=True)).to_be_visible()


def test_copy_pull_command_and_digest(ui_context: UiContext, ui_site: UiSite) -> None:
    with ui_context(ui_site) as ui:
        ui.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        ui.goto("/r/multi/oci-index")
        row = ui.page.locator('tr[data-tag="1.0.0"]')
        button = row.get_by_role("button", name="Copy pull command for 1.0.0")
        button.click()
        expect(button).to_have_text("Copied")
        pasted = ui.page.evaluate("navigator.clipboard.readText()")
        assert pasted == f"docker pull {ui_site.pull_host}/multi/oci-index:1.0.0"
        expect(button).to_have_text("Copy pull")  # back after a moment

        digest = row.locator('td[data-label="Digest"] code').get_attribute("title")
        row.get_by_role("button", name=f"Copy digest {digest}").click()
        assert ui.page.evaluate("navigator.clipboard.readText()") == digest


def test_copy_fallback_without_clipboard_api(ui_context: UiContext, ui_site: UiSite) -> None:
    """Where the Clipboard API is missing, the text is selected in a readonly input."""
    with ui_context(ui_site) as ui:
        ui.page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
        ui.goto("/r/multi/oci-index")
        ui.page.get_by_role("button", name="Copy pull command for latest").click()
        fallback = ui.page.get_by_test_id("copy-fallback")
        command = f"docker pull {ui_site.pull_host}/multi/oci-index:latest"
        expect(fallback).to_have_value(command)
        expect(fallback).to_have_attribute("readonly", "")
        expect(fallback).to_be_focused()
        selected = fallback.evaluate("el => [el.selectionStart, el.selectionEnd]")
        assert selected == [0, len(command)]
        fallback.press("Escape")
        expect(fallback).to_have_count(0)


def test_unknown_repository_gets_a_page_of_its_own(ui: UiPage, ui_site: UiSite) -> None:
    """One message, and none of the controls of a repository (search, sort, storage,
    clean-up) that could only fail again."""
    page = ui.page
    ui.goto("/r/no/such/repo", ui_site)
    expect(page.get_by_role("heading", level=1)).to_have_text("Repository not found")
    state = page.get_by_test_id("unknown-repository")
    expect(state).to_contain_text("no/such/repo")
    expect(state).to_contain_text("NAME_UNKNOWN · HTTP 404")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_label("Search tags")).to_have_count(0)
    expect(page.get_by_test_id("tag-usage")).to_have_count(0)
    expect(page.get_by_test_id("retention-open")).to_have_count(0)
    state.get_by_role("link", name="Show all repositories").click()
    expect(page.get_by_test_id("repositories")).to_be_visible()


def test_a_tag_whose_details_failed_says_why(ui: UiPage, ui_site: UiSite) -> None:
    body = {
        "repository": "versions/app",
        "total": 2,
        "next": None,
        "tags": [
            {"name": "good", "digest": "sha256:" + "a" * 64, "kind": "image", "size": 10},
            {"name": "bad", "error": {"code": "UPSTREAM_INVALID", "message": "digest mismatch"}},
        ],
    }
    ui.page.route(
        re.compile(r"/api/repositories/versions/app/tags\?"),
        lambda route: route.fulfill(status=200, content_type="application/json", json=body),
    )
    ui.goto("/r/versions/app", ui_site)
    bad = ui.page.locator('tr[data-tag="bad"]')
    expect(bad).to_have_class("is-error")
    expect(bad).to_contain_text("digest mismatch UPSTREAM_INVALID")
    expect(bad.get_by_role("link", name="bad")).to_be_visible()
    expect(ui.page.locator('tr[data-tag="good"] td[data-label="Size"]')).to_have_text("10 B")
