"""The reference UI's search in chromium: the header's search box, the search page grouped
by repository with links to the image pages, a digest linking to its search ("where else
is this used"), a name going to the repositories page's filter, and the page at a phone's
width (no sideways scroll, identifiers unbroken). The search corpus on a registry of its
own, walked by a service account."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from harness.images import Pusher
from harness.registry import RegistryProcess
from harness.waiting import eventually
from tests.support.layout import layout_problems
from tests.support.search_corpus import Corpus, build_search_corpus, push_search_corpus
from tests.support.search_truth import expected
from tests.support.ui import UiContext, UiPage, UiSite, _site

PHONE = {"width": 390, "height": 844}
SERVICE = {"registry_username": "walker", "registry_password": "walker-pw"}


@pytest.fixture(scope="module")
def search_site(registry_factory: Any) -> Iterator[tuple[UiSite, Corpus]]:
    process: RegistryProcess = registry_factory()
    corpus = build_search_corpus("seen")
    with Pusher(process.url) as p:
        push_search_corpus(p, corpus)
    with _site(process.url, **SERVICE) as site:

        def walked() -> bool:
            return bool(site.api("/api/search", params={"tag": "*"}).json()["complete"])

        eventually(walked, within=30, what="the walk")
        yield site, corpus


def test_the_header_box_searches_and_groups_by_repository(
    ui: UiPage, search_site: tuple[UiSite, Corpus]
) -> None:
    site, corpus = search_site
    ui.goto("/", site)
    box = ui.page.get_by_role("searchbox", name="Search the registry")
    box.fill("pkg:openssl@3.0.7")
    box.press("Enter")
    want = expected(corpus, "package", "openssl@3.0.7")
    hits = ui.page.get_by_test_id("search-hit")
    expect(hits).to_have_count(len(want))
    groups = ui.page.get_by_test_id("search-group")
    expect(groups).to_have_count(len({row[0] for row in want}))
    assert ui.path().startswith("/search?q=pkg")
    expect(box).to_have_value("pkg:openssl@3.0.7")
    first = want[0]
    link = groups.first.locator("a.search-hit__tag").first
    expect(link).to_have_text(first[1])
    link.click()
    expect(ui.page.locator("main[data-view=image]")).to_be_visible()
    assert ui.path() == f"/r/{first[0]}/-/image/{first[1]}"


def test_a_digest_links_to_where_else_it_is_used(
    ui: UiPage, search_site: tuple[UiSite, Corpus]
) -> None:
    site, corpus = search_site
    repo = corpus.repo("web")
    digest = corpus.digest("web", "1.1")
    ui.goto(f"/r/{repo}/-/image/1.1", site)
    ui.page.get_by_title("Where else is this used?").click()
    want = expected(corpus, "digest", digest)
    expect(ui.page.get_by_test_id("search-hit")).to_have_count(len(want))
    expect(ui.page.get_by_test_id("search-summary")).to_contain_text("digest")
    # a layer's digest, too: the shared base layer is used by several repositories
    ui.goto(f"/r/{repo}/-/image/1.0", site)
    layers = ui.page.locator("td[data-label=Digest] [data-digest-search]")
    expect(layers.first).to_be_visible()
    base = layers.first.locator("code").get_attribute("title")
    assert base is not None
    layers.first.click()
    used = {row[0] for row in expected(corpus, "digest", base)}
    assert len(used) >= 2
    expect(ui.page.get_by_test_id("search-group")).to_have_count(len(used))


def test_a_name_goes_to_the_repositories_filter(
    ui: UiPage, search_site: tuple[UiSite, Corpus]
) -> None:
    site, _ = search_site
    ui.goto("/", site)
    box = ui.page.get_by_role("searchbox", name="Search the registry")
    box.fill("seen/wor")
    box.press("Enter")
    rows = ui.page.get_by_test_id("repositories").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-name", "seen/worker")
    assert ui.path() == "/?q=seen%2Fwor"


def test_the_search_page_at_a_phones_width(
    ui_context: UiContext, search_site: tuple[UiSite, Corpus]
) -> None:
    site, _ = search_site
    with ui_context(site, viewport=PHONE, is_mobile=True, has_touch=True) as ui:
        for q in ("tag:*", "label:team", "pkg:openssl"):
            ui.goto(f"/search?q={q}")
            expect(ui.page.get_by_test_id("search-hit").first).to_be_visible()
            expect(ui.page.locator("[aria-busy=true]")).to_have_count(0)
            assert layout_problems(ui.page) == [], q
            width = ui.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (q, width)
