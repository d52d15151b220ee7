"""The reference UI in chromium: signatures, SBOMs and attestations on the image page (a
"has signature" badge: a signature exists, not verified; the entries with a link to each
raw artifact manifest) and the artifact tags the tag list hides, with the button that
lists them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import expect

from harness.images import Pusher
from harness.referrers import Corpus, push_referrers_corpus
from harness.registry import RegistryProcess, free_port
from tests.support.gateway_server import GatewayServer
from tests.support.ui import UiPage, UiSite

REPO = "ref/app"


@pytest.fixture(scope="module")
def referrers_site(
    registry_factory: Callable[..., RegistryProcess],
) -> Iterator[tuple[UiSite, Corpus]]:
    process = registry_factory()
    with Pusher(process.url) as p:
        corpus = push_referrers_corpus(p, REPO)
    if corpus is None:
        pytest.skip("real-world fixtures not found (set LR_SHARED_DIR)")
    server = GatewayServer(process.url, free_port()).start()
    try:
        yield UiSite(server, process.url, httpx.URL(process.url).netloc.decode()), corpus
    finally:
        server.stop()


def test_image_page_shows_signed_badge_and_referrers(
    ui: UiPage, referrers_site: tuple[UiSite, Corpus]
) -> None:
    site, corpus = referrers_site
    page = ui.page
    ui.goto(f"/r/{REPO}/-/image/sbom", site)
    card = page.get_by_test_id("referrers")
    expect(card.get_by_role("heading")).to_have_text("Signatures and SBOMs (2)")
    # it says that a signature exists, not that it was verified
    badge = card.get_by_test_id("signed-badge")
    expect(badge).to_have_text("has signature (not verified)")
    expect(badge).to_have_attribute("title", re.compile("not verified"))
    expect(card).to_contain_text("from the referrers index tag")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("SBOM")
    expect(rows.nth(0)).to_contain_text("application/spdx+json")
    expect(rows.nth(0)).to_contain_text(corpus.spdx.digest[:19])
    expect(rows.nth(1)).to_contain_text("Signature")
    expect(rows.nth(1)).to_contain_text("application/vnd.cncf.notary.signature")
    # The link opens the artifact's raw manifest, bytes as stored.
    link = rows.nth(0).get_by_role("link", name=f"Manifest of SBOM {corpus.spdx.digest}")
    href = link.get_attribute("href")
    encoded = corpus.spdx.digest.replace(":", "%3A")  # encodeURIComponent
    assert href == f"/api/repositories/{REPO}/manifests/{encoded}"
    raw = site.api(href)
    assert raw.status_code == 200 and raw.content == corpus.spdx.manifest
    # The summary counts them by kind.
    expect(page.locator(".facts").first).to_contain_text("1 sbom")


def test_cosign_signature_and_an_image_with_none(
    ui: UiPage, referrers_site: tuple[UiSite, Corpus]
) -> None:
    site, corpus = referrers_site
    page = ui.page
    ui.goto(f"/r/{REPO}/-/image/signed", site)
    card = page.get_by_test_id("referrers")
    expect(card.get_by_test_id("signed-badge")).to_be_visible()
    expect(card).to_contain_text("from cosign’s tags")
    expect(card.locator("tbody tr")).to_have_count(1)
    expect(card.locator("tbody tr")).to_contain_text(
        "application/vnd.dev.cosign.simplesigning.v1+json"
    )
    ui.goto(f"/r/{REPO}/-/image/plain")
    expect(page.get_by_role("heading", name="Summary")).to_be_visible()
    expect(page.get_by_test_id("referrers")).to_have_count(0)
    expect(page.get_by_test_id("signed-badge")).to_have_count(0)
    # A child of an index: its own referrers, on its own page.
    ui.goto(f"/r/{REPO}/-/image/{corpus.multi.children[1].digest}")
    card = page.get_by_test_id("referrers")
    expect(card.get_by_role("heading")).to_have_text("Signatures and SBOMs (2)")
    expect(card.get_by_test_id("signed-badge")).to_have_count(0)
    expect(card.locator("tbody tr").nth(1)).to_contain_text("Attestation")


def test_tag_list_hides_artifact_tags_and_shows_them_on_request(
    ui: UiPage, referrers_site: tuple[UiSite, Corpus]
) -> None:
    site, _corpus = referrers_site
    page = ui.page
    ui.goto(f"/r/{REPO}", site)
    rows = page.get_by_test_id("tags").locator("tbody tr")
    expect(rows).to_have_count(5)
    expect(page.get_by_test_id("artifact-tags")).to_contain_text(
        "5 signature, SBOM and attestation tags hidden"
    )
    table = page.get_by_test_id("tags")  # the tag list (the usage panel lists tags too)
    signed = table.locator("tr[data-tag='signed']")
    expect(signed.get_by_test_id("signed-badge")).to_be_visible()
    expect(table.locator("tr[data-tag='plain']").get_by_test_id("signed-badge")).to_have_count(0)
    page.get_by_test_id("artifact-tags-toggle").click()
    expect(rows).to_have_count(10)
    expect(page.get_by_test_id("artifact-tags")).to_contain_text("tags listed")
    assert "artifacts=1" in ui.path()
    expect(table.locator("tr[data-tag$='.sig']")).to_have_count(2)
    page.get_by_test_id("artifact-tags-toggle").click()
    expect(rows).to_have_count(5)
    assert "artifacts=1" not in ui.path()
