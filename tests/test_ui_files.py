"""The Files and Compare views in chromium, over the demo's ``demo/webapp`` (two
versions of one app): the merged tree with each entry's layer, a layer's own changes
biggest first, a file's preview with its download link, and the diff of two tags
(config changes, then files, filtered). Every load is held to the layout-shift budget
and the other checks of the ``ui`` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from harness.images import Pusher
from harness.layer_images import Layer, push_layers
from harness.layer_trees import OCI_GZIP, random_gzip_layer
from tests.support.layout import layout_problems
from tests.support.ui import DemoSite, UiContext, UiPage, UiSite, _site


def test_the_merged_tree_a_layer_and_a_preview(ui: UiPage, demo_site: DemoSite) -> None:
    page = ui.page
    ui.goto("/r/demo/webapp/-/image/2.0", demo_site)
    page.get_by_test_id("files-link").click()
    tree = page.get_by_test_id("files-tree")
    expect(tree).to_contain_text("app/")
    expect(tree).to_contain_text("bin/")
    tree.get_by_role("link", name="app/").click()
    expect(tree.locator("caption")).to_contain_text("in /app")
    row = tree.locator("tbody tr", has_text="healthcheck.sh")
    expect(row).to_contain_text("-rwxr-xr-x")
    expect(row.locator("td").last).to_have_text("3")  # given by the third layer
    expect(tree).not_to_contain_text("legacy.css")
    tree.get_by_role("link", name="server.py").click()
    preview = page.get_by_test_id("file-preview")
    expect(preview.get_by_test_id("file-text")).to_contain_text("routes.serve(port=8080)")
    download = preview.get_by_role("link", name="Download")
    assert "/api/repositories/demo/webapp/images/2.0/file?" in (
        download.get_attribute("href") or ""
    )
    # what was deleted, and by which layer
    ui.goto("/r/demo/webapp/-/image/2.0/files?path=/app/static&deleted=1")
    expect(page.get_by_test_id("files-tree").locator("tr.is-deleted")).to_contain_text(
        "deleted by layer 3"
    )
    # one layer: what it added, changed and deleted, biggest first
    page.locator("#files-view").select_option(index=2)
    changes = page.get_by_test_id("layer-changes")
    expect(changes.get_by_role("heading")).to_have_text("Layer 2 of 3")
    first = changes.locator("tbody tr").first
    expect(first).to_contain_text("/app/static/bundle.js")
    expect(first).to_contain_text("added")


def test_compare_two_tags(ui: UiPage, demo_site: DemoSite) -> None:
    page = ui.page
    ui.goto("/r/demo/webapp/-/image/2.0", demo_site)
    page.get_by_test_id("compare-link").click()
    page.locator("#compare-from").select_option("1.0")
    page.get_by_role("button", name="Compare").click()
    config = page.get_by_test_id("compare-config")
    expect(config).to_contain_text("env APP_VERSION")
    expect(config).to_contain_text("cmd")
    summary = page.get_by_test_id("compare-summary")
    expect(summary).to_contain_text("1 shared")
    files = page.get_by_test_id("compare-files")
    expect(files.locator("tr", has_text="/app/routes.py")).to_contain_text("added")
    expect(files.locator("tr", has_text="/app/static/legacy.css")).to_contain_text("removed")
    expect(files.locator("tr", has_text="/app/config.yaml")).to_contain_text("mode")
    expect(files).not_to_contain_text("/bin/busybox")  # the shared base: no change
    page.locator("#compare-change").select_option("changed")
    expect(files.locator("tbody tr").first).to_contain_text("changed")
    expect(page.get_by_test_id("compare-files").locator("tbody")).not_to_contain_text("added")


def test_phone_width_shows_cards_without_sideways_scroll(
    ui_context: UiContext, demo_site: DemoSite
) -> None:
    phone = {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark"}
    with ui_context(demo_site, **phone) as ui:
        for path, testid in (
            ("/r/demo/webapp/-/image/2.0/files?path=/app", "files-tree"),
            ("/r/demo/webapp/-/compare?from=1.0&to=2.0", "compare-files"),
            ("/r/demo/webapp/-/image/2.0/files?file=/etc/os-release", "file-preview"),
        ):
            ui.goto(path)
            expect(ui.page.get_by_test_id(testid)).to_be_visible()
            expect(ui.page.locator("[aria-busy=true]")).to_have_count(0)
            assert layout_problems(ui.page) == [], path


@pytest.fixture(scope="module")
def slow_site(registry_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiSite]:
    """A gateway whose requests have no time to wait on a layer read (a 1 s deadline,
    less the second kept to answer): every first ask of a layer is a 202."""
    process = registry_factory()
    data, _path, _content = random_gzip_layer(total=8 * 1024 * 1024)
    with Pusher(process.url) as p:
        push_layers(p, "big/layer", "1", [Layer(data, OCI_GZIP)])
    data_dir = tmp_path_factory.mktemp("slow-site")  # its own: no index from elsewhere
    with _site(process.url, request_timeout=1.0, data_dir=data_dir) as site:
        yield site


def test_progress_is_shown_while_a_layer_is_read(ui: UiPage, slow_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/big/layer/-/image/1/files", slow_site)
    expect(page.get_by_test_id("indexing")).to_contain_text("Reading the layers once")
    tree = page.get_by_test_id("files-tree")
    expect(tree).to_contain_text("data/", timeout=30_000)  # the polls end in the listing
    expect(page.get_by_test_id("indexing")).to_have_count(0)


def test_compare_offers_the_platforms_of_two_indexes(ui: UiPage, demo_site: DemoSite) -> None:
    page = ui.page
    ui.goto("/r/demo/multiarch/-/compare?from=1.0.0&to=latest", demo_site)
    choices = page.get_by_test_id("compare-platforms")
    choices.get_by_role("link", name="linux/arm64/v8").click()
    expect(page.get_by_test_id("compare-summary")).to_contain_text("linux/arm64/v8")
    expect(page.get_by_test_id("compare-summary")).to_contain_text("0 only in from")
