"""The reference UI in chromium: the catalog — browsing down to an image's history,
search as you type, paging with the cursor stack, empty and error states."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Route, expect

from tests.support.fixtures import FilledRegistry
from tests.support.ui import UiPage, UiSite

PAGE_SIZE = 20  # the UI's default page size for repositories


def repo_rows(ui: UiPage) -> Any:
    return ui.page.get_by_test_id("repositories").locator("tbody tr")


def expect_names(ui: UiPage, names: list[str], testid: str = "repositories") -> None:
    """The first cells of a table's rows are exactly ``names`` (waits for them)."""
    cells = ui.page.get_by_test_id(testid).locator("tbody tr td:first-child")
    expect(cells).to_have_text(names)


def test_catalog_to_repository_to_image_to_history(
    ui: UiPage, ui_site: UiSite, registry: FilledRegistry
) -> None:
    page = ui.page
    ui.goto("/", ui_site)
    expect(page).to_have_title("Repositories — Light Registry")
    expect(page.get_by_role("heading", level=1)).to_have_text("Repositories")
    total = len(registry.content.repositories)
    expect(page.get_by_test_id("repositories-summary")).to_have_text(
        f"{total} repositories in this registry"
    )
    expect(repo_rows(ui)).to_have_count(PAGE_SIZE)
    expect_names(ui, registry.content.repositories[:PAGE_SIZE])
    # tag counts, as the registry holds them
    expect(page.get_by_role("row", name="many/repo-000 2 tags")).to_be_visible()
    expect(page.get_by_role("row", name="emptied/repo 0 tags")).to_be_visible()
    # the header: product name and the registry's pull host
    expect(page.get_by_role("link", name="Light Registry")).to_be_visible()
    expect(page.locator("#pull-host")).to_contain_text(ui_site.pull_host)

    page.get_by_label("Search repositories").fill("versions")
    page.get_by_role("link", name="versions/app", exact=True).click()
    expect(page).to_have_url(f"{ui_site.url}/r/versions/app")
    expect(page.get_by_role("heading", level=1)).to_have_text("versions/app")
    expect(page.get_by_text("10 tags", exact=True)).to_be_visible()

    page.get_by_role("link", name="1.10.0", exact=True).click()
    expect(page).to_have_url(f"{ui_site.url}/r/versions/app/-/image/1.10.0")
    expect(page.get_by_role("heading", level=1)).to_have_text("versions/app:1.10.0")
    expect(page.get_by_role("heading", name="Image", exact=True)).to_be_visible()
    expect(page.get_by_test_id("layers")).to_have_count(1)

    page.get_by_role("link", name="Config & history").first.click()
    expect(page).to_have_url(f"{ui_site.url}/r/versions/app/-/image/1.10.0/history")
    expect(page.get_by_role("heading", level=1)).to_have_text("Config and history")
    label = page.get_by_role("row", name=re.compile("org.opencontainers.image.version"))
    expect(label).to_contain_text("1.10.0")
    expect(page.get_by_test_id("history").locator("tbody tr")).to_have_count(2)

    # the breadcrumbs lead back up
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    crumbs.get_by_role("link", name="versions/app").click()
    expect(page).to_have_url(f"{ui_site.url}/r/versions/app")
    crumbs.get_by_role("link", name="Repositories").click()
    expect(page).to_have_url(f"{ui_site.url}/")
    expect(repo_rows(ui)).to_have_count(PAGE_SIZE)


def test_search_as_you_type_asks_once_per_pause(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ui.goto("/", ui_site)
    expect(repo_rows(ui)).to_have_count(PAGE_SIZE)
    asked: list[str] = []
    page.on(
        "request",
        lambda r: asked.append(r.url) if "/api/repositories?" in r.url and "q=" in r.url else None,
    )
    page.get_by_label("Search repositories").press_sequentially("multi/", delay=40)
    expect(repo_rows(ui)).to_have_count(3)
    expect_names(ui, ["multi/attested", "multi/docker-list", "multi/oci-index"])
    expect(page.get_by_test_id("repositories-summary")).to_have_text(
        "3 repositories matching “multi/”"
    )
    # debounced: keystrokes 40 ms apart make one request, for the whole word
    assert len(asked) == 1, asked
    assert "q=multi%2F" in asked[0]
    # the search is in the URL (a reload keeps it), replacing the entry rather than adding one
    expect(page).to_have_url(f"{ui_site.url}/?q=multi%2F")
    page.reload()
    expect(repo_rows(ui)).to_have_count(3)
    expect(page.get_by_label("Search repositories")).to_have_value("multi/")

    # narrowing further, case-insensitively, on the server
    page.get_by_label("Search repositories").fill("DOCKER")
    expect(repo_rows(ui)).to_have_count(1)
    expect(page.get_by_role("link", name="multi/docker-list")).to_be_visible()


def test_paging_next_and_previous(ui: UiPage, ui_site: UiSite, registry: FilledRegistry) -> None:
    page = ui.page
    names = registry.content.repositories
    pages = [names[i : i + PAGE_SIZE] for i in range(0, len(names), PAGE_SIZE)]
    assert len(pages) >= 3, "the standard content pages the catalog"
    ui.goto("/", ui_site)
    pager = page.get_by_role("navigation", name="Repository pages")
    previous = pager.get_by_role("button", name="← Previous")
    following = pager.get_by_role("button", name="Next →")
    expect(previous).to_be_disabled()
    expect(pager).to_contain_text("Page 1")

    for number, expected in enumerate(pages[1:], start=2):
        following.click()
        expect(pager).to_contain_text(f"Page {number}")
        expect(repo_rows(ui).first).to_have_text(re.compile("^" + re.escape(expected[0])))
        expect_names(ui, expected)
    expect(following).to_be_disabled()
    # the cursor is in the URL
    assert f"last={pages[-2][-1].replace('/', '%2F')}" in page.url

    # a reload keeps the page, and the stack of earlier cursors (history.state)
    page.reload()
    expect(pager).to_contain_text(f"Page {len(pages)}")
    expect_names(ui, pages[-1])

    for number in range(len(pages) - 1, 0, -1):
        previous.click()
        expect(pager).to_contain_text(f"Page {number}")
        expect_names(ui, pages[number - 1])
    expect(previous).to_be_disabled()
    expect(page).to_have_url(f"{ui_site.url}/")

    # back and forward walk the pages too
    following.click()
    expect(pager).to_contain_text("Page 2")
    page.go_back()
    expect(pager).to_contain_text("Page 1")
    page.go_forward()
    expect(pager).to_contain_text("Page 2")
    expect_names(ui, pages[1])


def test_paging_a_shared_link_without_the_cursor_stack(
    ui: UiPage, ui_site: UiSite, registry: FilledRegistry
) -> None:
    names = registry.content.repositories
    ui.goto(f"/?n=10&last={names[19]}", ui_site)
    pager = ui.page.get_by_role("navigation", name="Repository pages")
    expect_names(ui, names[20:30])
    expect(ui.page.get_by_label("Per page")).to_have_value("10")
    # no stack of earlier cursors in a fresh tab: "previous" means the first page
    pager.get_by_role("button", name="← First page").click()
    expect(pager).to_contain_text("Page 1")
    expect_names(ui, names[:10])


def test_filter_with_no_match_and_clearing_it(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ui.goto("/", ui_site)
    page.get_by_label("Search repositories").fill("zzz-nothing")
    expect(page.get_by_text("No repository matches “zzz-nothing”.")).to_be_visible()
    expect(page.get_by_test_id("repositories-summary")).to_have_text(
        "0 repositories matching “zzz-nothing”"
    )
    expect(page.get_by_text("This registry has no repositories yet.")).to_have_count(0)
    page.get_by_role("button", name="Clear search").click()
    expect(repo_rows(ui)).to_have_count(PAGE_SIZE)
    expect(page.get_by_label("Search repositories")).to_have_value("")


def test_empty_registry_message(ui: UiPage, ui_empty_site: UiSite) -> None:
    page = ui.page
    ui.goto("/", ui_empty_site)
    expect(page.get_by_text("This registry has no repositories yet.")).to_be_visible()
    expect(page.get_by_text(f"docker push {ui_empty_site.pull_host}/<name>:<tag>")).to_be_visible()
    expect(page.get_by_test_id("repositories-summary")).to_have_text(
        "0 repositories in this registry"
    )


def test_rows_with_an_error_are_shown_as_such(ui: UiPage, ui_site: UiSite) -> None:
    """A repository whose tags could not be counted (e.g. the registry denied them)."""
    body = {
        "repositories": [
            {"name": "team/open", "tag_count": 3, "error": None},
            {
                "name": "team/secret",
                "tag_count": None,
                "error": {"code": "DENIED", "message": "requested access is denied"},
            },
        ],
        "total": 2,
        "next": None,
    }

    def answer(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    ui.page.route(re.compile(r"/api/repositories(\?.*)?$"), answer)
    ui.goto("/", ui_site)
    row = ui.page.get_by_test_id("repositories").locator("tr", has_text="team/secret")
    expect(row).to_contain_text("Tags could not be read: requested access is denied DENIED")
    expect(row).to_have_class("is-error")
    expect(ui.page.get_by_role("row", name="team/open 3 tags")).to_be_visible()


def test_loading_state_is_announced(ui: UiPage, ui_site: UiSite) -> None:
    """While the tag list is on its way, the results region is aria-busy with a status."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    tags_api = re.compile(r"/api/repositories/versions/app/tags")
    ui.page.route(tags_api, hold)
    ui.goto("/r/versions/app", ui_site)
    busy = ui.page.locator(".results[aria-busy=true]")
    expect(busy).to_have_count(1)
    expect(busy.get_by_role("status")).to_have_text("Loading tags…")
    assert len(held) == 1
    held[0].continue_()
    expect(ui.page.get_by_test_id("tags").locator("tbody tr")).to_have_count(10)
    expect(ui.page.locator(".results[aria-busy]")).to_have_count(0)


def test_nested_repository_names(ui: UiPage, ui_site: UiSite) -> None:
    """Names with several "/" map to /r/<name> and /r/<name>/-/image/<reference>."""
    page = ui.page
    ui.goto("/?q=team/app", ui_site)
    expect_names(ui, ["team/app/api", "team/app/web"])
    page.get_by_role("link", name="team/app/api").click()
    expect(page).to_have_url(f"{ui_site.url}/r/team/app/api")
    page.get_by_role("link", name="v1.2.3").click()
    expect(page).to_have_url(f"{ui_site.url}/r/team/app/api/-/image/v1.2.3")
    expect(page.get_by_role("heading", level=1)).to_have_text("team/app/api:v1.2.3")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("team/app/api:v1.2.3")
    expect(page.get_by_test_id("platform")).to_have_count(1)
