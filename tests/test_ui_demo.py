"""The reference UI over the demo's content (``scripts/demo.sh`` seeds the same): the
signed image with its SBOM, the index with BuildKit attestations, the Helm chart with its
metadata and ``helm pull``, another artifact with ``oras pull``; and the host every pull
command names (``/api/config`` ``registry.pull_host``: LR_PULL_HOST, else the page's own
host while the gateway serves ``/v2``, else the registry's)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.fixtures import FilledRegistry
from tests.support.ui import DemoSite, UiPage, _site


def test_the_signed_image_shows_its_signature_and_sbom(ui: UiPage, demo_site: DemoSite) -> None:
    demo = demo_site.demo
    page = ui.page
    ui.goto("/r/demo/hello/-/image/1.0", demo_site)
    card = page.get_by_test_id("referrers")
    expect(card.get_by_role("heading")).to_have_text("Signatures and SBOMs (2)")
    expect(card.get_by_test_id("signed-badge")).to_have_text("has signature (not verified)")
    expect(card).to_contain_text("listed, not verified")
    rows = card.get_by_test_id("referrers-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(card.locator('tr[data-kind="signature"]')).to_contain_text(demo.signature[:19])
    expect(card.locator('tr[data-kind="signature"]')).to_contain_text(".sig")
    expect(card.locator('tr[data-kind="sbom"]')).to_contain_text("application/spdx+json")
    expect(card.locator('tr[data-kind="sbom"]')).to_contain_text(demo.sbom[:19])
    # the tag list says so too, and hides the signature's own tag
    ui.goto("/r/demo/hello")
    row = page.get_by_test_id("tags").locator('tr[data-tag="1.0"]')
    expect(row.get_by_test_id("signed-badge")).to_be_visible()
    expect(page.get_by_test_id("artifact-tags")).to_contain_text("2 signature, SBOM and")


def test_the_index_lists_its_buildkit_attestations(ui: UiPage, demo_site: DemoSite) -> None:
    ui.goto("/r/demo/multiarch/-/image/1.0.0", demo_site)
    expect(ui.page.get_by_test_id("platform")).to_have_count(3)
    attestations = ui.page.get_by_test_id("attestations")
    expect(attestations.locator("tbody tr")).to_have_count(3)
    expect(attestations).to_contain_text("https://slsa.dev/provenance/v0.2")
    expect(attestations.locator("tbody tr").first).to_contain_text("linux/amd64")


def test_a_helm_chart_shows_its_metadata_and_helm_pull(ui: UiPage, demo_site: DemoSite) -> None:
    page = ui.page
    ui.goto("/r/charts/nginx/-/image/15.0.2", demo_site)
    chart = page.get_by_test_id("chart")
    expect(chart.get_by_role("heading")).to_have_text("Helm chart")
    for term, value in (
        ("Chart", "nginx"),
        ("Version", "15.0.2"),
        ("App version", "1.25.0"),
        ("Description", "NGINX Open Source: a web server"),
    ):
        expect(chart.locator(".facts__row", has_text=term).first).to_contain_text(value)
    host = demo_site.pull_host
    expect(chart.locator(".pull-box code")).to_have_text(
        f"helm pull oci://{host}/charts/nginx --version 15.0.2"
    )
    expect(page.get_by_text("docker pull")).to_have_count(0)
    # by digest: helm pull takes the digest after @
    digest = demo_site.demo.pushed[demo_site.demo.chart].digest
    ui.goto(f"/r/charts/nginx/-/image/{digest}")
    expect(page.get_by_test_id("chart").locator(".pull-box code")).to_have_text(
        f"helm pull oci://{host}/charts/nginx@{digest}"
    )


def test_another_artifact_is_pulled_with_oras(ui: UiPage, demo_site: DemoSite) -> None:
    page = ui.page
    ui.goto("/r/demo/notes/-/image/1.0", demo_site)
    expect(page.locator(".pull-box code")).to_have_text(
        f"oras pull {demo_site.pull_host}/demo/notes:1.0"
    )
    expect(page.get_by_test_id("chart")).to_have_count(0)
    ui.goto("/r/demo/notes")
    row = page.get_by_test_id("tags").locator('tr[data-tag="1.0"]')
    expect(row.locator('td[data-label="Kind"]')).to_have_text("artifact")
    expect(row.get_by_role("button", name="Copy pull command for 1.0 (oras pull)")).to_be_visible()


def test_pull_commands_name_the_host_pulls_go_to(
    ui: UiPage, demo_site: DemoSite, registry: FilledRegistry
) -> None:
    page = ui.page
    # /v2 served, LR_PULL_HOST unset: the host the page came from (the gateway's)
    ui.goto("/r/demo/hello/-/image/1.0", demo_site)
    gateway_host = demo_site.url.removeprefix("http://")
    assert demo_site.api("/api/config").json()["registry"]["pull_host"] is None
    command = f"docker pull {gateway_host}/demo/hello:1.0"
    expect(page.locator(".pull-box code")).to_have_text(command)
    expect(page.locator("#pull-host")).to_contain_text(gateway_host)
    # /v2 off: the registry's own host
    with _site(registry.url, v2_mode="off") as off:
        ui.goto("/r/oci/app/-/image/1.0", off)
        registry_host = registry.url.removeprefix("http://")
        expect(page.locator(".pull-box code")).to_have_text(
            f"docker pull {registry_host}/oci/app:1.0"
        )
    # LR_PULL_HOST: always that one
    with _site(registry.url, pull_host="registry.example.com") as named:
        ui.goto("/r/oci/app/-/image/1.0", named)
        expect(page.locator(".pull-box code")).to_have_text(
            "docker pull registry.example.com/oci/app:1.0"
        )
        expect(page.locator("#pull-host")).to_have_text(re.compile("registry.example.com"))
