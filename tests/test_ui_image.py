"""The reference UI in chromium: image detail (platforms, layers, attestations, tags on
the same digest, annotations, raw manifest, downloads), config and history, errors,
unknown routes, and deep links across reload, back and forward."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from harness.images import PushedImage, PushedIndex
from tests.support.fixtures import FilledRegistry
from tests.support.ui import UiPage, UiSite, format_bytes


def test_index_detail(ui: UiPage, ui_site: UiSite, registry: FilledRegistry) -> None:
    index = registry.content.images["multi/attested:1.0"]
    assert isinstance(index, PushedIndex)
    page = ui.page
    ui.goto("/r/multi/attested/-/image/1.0", ui_site)
    expect(page).to_have_title("multi/attested:1.0 — Light Registry")
    expect(page.get_by_role("heading", level=1)).to_have_text("multi/attested:1.0")
    expect(page.get_by_role("heading", name="Platforms (2)")).to_be_visible()
    cards = page.get_by_test_id("platform")
    expect(cards.locator("h3")).to_have_text(["linux/amd64", "linux/arm64/v8"])
    for card, child in zip(cards.all(), index.children, strict=True):
        expect(card).to_contain_text(child.digest[:19])
        expect(card).to_contain_text(format_bytes(child.size))
        layers = card.get_by_test_id("layers")
        expect(layers.locator("tbody tr")).to_have_count(len(child.layers))
        for row, (digest, media_type, size) in zip(
            layers.locator("tbody tr").all(), child.layers, strict=True
        ):
            expect(row).to_contain_text(digest[:19])
            expect(row).to_contain_text(media_type)
            expect(row).to_contain_text(format_bytes(size))
        created = card.locator("time")
        expect(created).to_have_attribute("datetime", child.created)
    # attestations apart, each naming the platform it describes; never a platform card
    attestations = page.get_by_test_id("attestations")
    expect(attestations.get_by_role("heading")).to_have_text("Attestations (2)")
    rows = attestations.locator("tbody tr")
    expect(rows).to_have_count(2)
    for row, att in zip(rows.all(), index.attestations, strict=True):
        expect(row).to_contain_text(att.digest[:19])
        expect(row).to_contain_text("https://slsa.dev/provenance/v0.2")
    expect(rows.nth(0)).to_contain_text("linux/amd64")
    expect(rows.nth(1)).to_contain_text("linux/arm64/v8")
    # the pull command by tag, and the index's size
    expect(page.locator(".pull-box code")).to_have_text(
        f"docker pull {ui_site.pull_host}/multi/attested:1.0"
    )
    expect(page.get_by_text(format_bytes(index.size), exact=True)).to_be_visible()


def test_tags_on_the_same_digest_and_open_by_digest(
    ui: UiPage, ui_site: UiSite, registry: FilledRegistry
) -> None:
    image = registry.content.images["oci/app:1.0"]
    page = ui.page
    ui.goto("/r/oci/app/-/image/1.0", ui_site)
    same = page.get_by_test_id("same-digest-tags")
    expect(same.locator("li")).to_have_text(["1.0", "latest"])
    expect(same.get_by_text("1.0")).to_have_attribute("aria-current", "page")
    same.get_by_role("link", name="latest").click()
    expect(page).to_have_url(f"{ui_site.url}/r/oci/app/-/image/latest")
    expect(page.get_by_role("heading", level=1)).to_have_text("oci/app:latest")
    expect(page.locator(".digest-full").first).to_have_text(image.digest)

    # a child of an index, opened by its digest
    index = registry.content.images["multi/oci-index:1.0.0"]
    assert isinstance(index, PushedIndex)
    child = index.children[1]
    ui.goto("/r/multi/oci-index/-/image/1.0.0")
    card = page.get_by_test_id("platform").filter(has_text="linux/arm64/v8")
    card.get_by_role("link", name="Open this manifest").click()
    expect(page).to_have_url(f"{ui_site.url}/r/multi/oci-index/-/image/{child.digest}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"multi/oci-index@{child.digest[:19]}"
    )
    expect(page.get_by_text("No tag points at this digest")).to_be_visible()
    expect(page.locator(".pull-box code")).to_have_text(
        f"docker pull {ui_site.pull_host}/multi/oci-index@{child.digest}"
    )


def test_annotations_and_raw_manifest(
    ui: UiPage, ui_site: UiSite, registry: FilledRegistry
) -> None:
    chart = registry.content.images["artifacts/helm-chart:15.0.2"]
    page = ui.page
    ui.goto("/r/artifacts/helm-chart/-/image/15.0.2", ui_site)
    annotations = page.get_by_role("region", name="Annotations")
    expect(
        annotations.get_by_role(
            "row", name="org.opencontainers.image.description A chart for tests"
        )
    ).to_be_visible()
    expect(page.get_by_text("application/vnd.cncf.helm.config.v1+json").first).to_be_visible()
    expect(page.get_by_role("link", name="Config & history")).to_have_count(0)

    page.locator("summary", has_text="Raw manifest").click()
    raw = page.get_by_test_id("raw-manifest")
    pretty = json.dumps(json.loads(chart.manifest), indent=2)
    expect(raw).to_have_text(pretty)


def test_blob_download_links(ui: UiPage, ui_site: UiSite, registry: FilledRegistry) -> None:
    image = registry.content.images["schema2/app:1.0"]
    assert isinstance(image, PushedImage)
    page = ui.page
    ui.goto("/r/schema2/app/-/image/1.0", ui_site)
    layer_digest = image.layers[0][0]
    link = page.get_by_role("link", name=f"Download layer {layer_digest}")
    href = link.get_attribute("href")
    assert href == f"/api/repositories/schema2/app/blobs/{layer_digest.replace(':', '%3A')}"
    assert link.get_attribute("download") == ""
    assert ui_site.api(href).content == image.layer_data[0]
    config = page.get_by_role("link", name="Download config of linux/amd64")
    config_href = config.get_attribute("href") or ""
    assert ui_site.api(config_href).content == image.config
    # the browser downloads it (Content-Disposition: attachment) rather than navigating
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename
    expect(page).to_have_url(f"{ui_site.url}/r/schema2/app/-/image/1.0")


def test_broken_index_entry_says_what_is_wrong(
    ui: UiPage, ui_site: UiSite, registry: FilledRegistry
) -> None:
    ui.goto("/r/broken/index/-/image/1.0", ui_site)
    broken = ui.page.get_by_test_id("platform").filter(has_text="linux/arm64/v8")
    expect(broken.get_by_role("alert")).to_contain_text("manifest unknown")
    expect(broken.get_by_role("alert")).to_contain_text("MANIFEST_UNKNOWN")
    expect(broken).to_contain_text(registry.content.broken_child_digest[:19])
    fine = ui.page.get_by_test_id("platform").filter(has_text="linux/amd64")
    expect(fine.get_by_test_id("layers")).to_be_visible()


def test_config_and_history(ui: UiPage, ui_site: UiSite, registry: FilledRegistry) -> None:
    image = registry.content.images["schema2/app:1.0"]
    assert isinstance(image, PushedImage)
    page = ui.page
    ui.goto("/r/schema2/app/-/image/1.0/history", ui_site)
    config = page.get_by_test_id("config")
    expect(config.get_by_test_id("env").locator("li")).to_have_text(
        ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_ENV=production"]
    )
    facts = {"Cmd": "/app/server --port 8080", "Working dir": "/app", "Exposed ports": "8080/tcp"}
    for term, value in facts.items():
        row = config.locator(".facts__row").filter(has=page.locator(f"dt:text-is('{term}')"))
        expect(row.locator("dd")).to_have_text(value)
    expect(config.locator(".facts__row", has_text="Entrypoint").locator("dd")).to_have_text("none")
    expect(config.locator(".facts__row", has_text="User").locator("dd")).to_have_text(
        "root (default)"
    )
    expect(config.get_by_role("row", name="maintainer team@example.com")).to_be_visible()

    steps = page.get_by_test_id("history").locator("tbody tr")
    expect(steps).to_have_count(4)
    expect(steps.locator(".command")).to_have_text(
        ["ADD file:0 in /", "ENV STEP=1", "ADD file:1 in /", 'CMD ["sh"]']
    )
    # the exact text as stored, on hover
    expect(steps.nth(1).locator(".command")).to_have_attribute(
        "title", "/bin/sh -c #(nop)  ENV STEP=1"
    )
    expect(steps.nth(1)).to_contain_text("empty layer")
    expect(steps.nth(3)).to_contain_text("empty layer")
    # bars: each layer's width relative to the largest
    sizes = [size for _, _, size in image.layers]
    widths = [
        steps.nth(i).locator(".bar__fill").evaluate("el => parseFloat(el.style.width)")
        for i in (0, 2)
    ]
    for width, size in zip(widths, sizes, strict=True):
        assert abs(width - 100 * size / max(sizes)) < 0.01, (widths, sizes)
    expect(steps.nth(0)).to_contain_text(format_bytes(sizes[0]))


def test_history_of_an_index_picks_a_platform(
    ui: UiPage, ui_site: UiSite, registry: FilledRegistry
) -> None:
    page = ui.page
    ui.goto("/r/multi/oci-index/-/image/1.0.0", ui_site)
    page.get_by_role("link", name="Config & history").first.click()
    # an index needs a platform: the first one is chosen, in the URL
    expect(page).to_have_url(
        f"{ui_site.url}/r/multi/oci-index/-/image/1.0.0/history?platform=linux%2Famd64"
    )
    platforms = page.get_by_role("navigation", name="Platforms")
    expect(platforms.get_by_role("link")).to_have_text(
        ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    )
    platforms.get_by_role("link", name="linux/arm/v7").click()
    expect(page).to_have_url(
        f"{ui_site.url}/r/multi/oci-index/-/image/1.0.0/history?platform=linux%2Farm%2Fv7"
    )
    config = page.get_by_test_id("config")
    expect(config.locator(".facts__row", has_text="Platform").locator("dd")).to_have_text(
        "linux/arm/v7"
    )
    expect(platforms.get_by_role("link", name="linux/arm/v7")).to_have_attribute(
        "aria-current", "page"
    )
    # a platform the index does not have: the envelope's message, the switcher stays
    ui.goto("/r/multi/oci-index/-/image/1.0.0/history?platform=windows/amd64")
    expect(page.get_by_role("alert")).to_contain_text("The config could not be read")
    expect(platforms.get_by_role("link")).to_have_count(3)


def test_unknown_tag_shows_the_envelope_message(ui: UiPage, ui_site: UiSite) -> None:
    ui.goto("/r/versions/app/-/image/9.9.9", ui_site)
    alert = ui.page.get_by_role("alert")
    expect(alert).to_contain_text("The image versions/app:9.9.9 could not be shown")
    expect(alert).to_contain_text("manifest unknown")
    expect(alert).to_contain_text("MANIFEST_UNKNOWN · HTTP 404")
    # the way back is still there
    expect(
        ui.page.get_by_role("navigation", name="Breadcrumb").get_by_role(
            "link", name="versions/app"
        )
    ).to_be_visible()


def test_unknown_routes_show_not_found(ui: UiPage, ui_site: UiSite) -> None:
    for path in ("/no/such/page", "/r/versions/app/-/nothing", "/r/versions/app/-/image/1.0/x"):
        ui.goto(path, ui_site)
        expect(ui.page.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(ui.page.get_by_test_id("not-found")).to_contain_text(path)
    ui.page.get_by_role("link", name="Show all repositories").click()
    expect(ui.page).to_have_url(f"{ui_site.url}/")


def test_deep_links_survive_reload_back_and_forward(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    tags_url = "/r/versions/app?q=1.&sort=-version"
    ui.goto(tags_url, ui_site)
    names = page.get_by_test_id("tags").locator("tbody tr td:first-child")
    expected = ["1.10.0", "1.10.0-rc2", "1.10.0-rc1", "1.9.0"]
    expect(names).to_have_text(expected)
    page.reload()
    expect(names).to_have_text(expected)
    expect(page.get_by_label("Search tags")).to_have_value("1.")
    expect(page.get_by_label("Sort by")).to_have_value("-version")

    page.get_by_role("link", name="1.9.0", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("versions/app:1.9.0")
    page.get_by_role("link", name="Config & history").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Config and history")
    page.reload()
    expect(page.get_by_test_id("history")).to_be_visible()

    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("versions/app:1.9.0")
    page.go_back()
    expect(page).to_have_url(ui_site.url + tags_url.replace("q=1.", "q=1."))
    expect(names).to_have_text(expected)
    expect(page.get_by_label("Sort by")).to_have_value("-version")
    page.go_forward()
    expect(page.get_by_role("heading", level=1)).to_have_text("versions/app:1.9.0")
    page.go_forward()
    expect(page.get_by_role("heading", level=1)).to_have_text("Config and history")
