"""The reference UI in chromium: deletes. With deletes on (a registry of its own): a tag
delete keeps its siblings, an image delete names every tag it removes, a selection of
tags goes in one bulk delete whose confirmation names every tag and image that goes,
each behind a confirmation with Cancel focused and Escape closing it; every view of the
repository refreshes after (the list and the storage panel). With deletes off: no
delete control at all."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, expect

from tests.support.ui import UiPage, UiSite, format_bytes


def tag_cells(ui: UiPage) -> Locator:
    return ui.page.get_by_test_id("tags").locator("tbody tr td:first-child")


def test_tag_delete_keeps_the_siblings(ui: UiPage, ui_delete_site: UiSite) -> None:
    page = ui.page
    image = ui_delete_site.images["del/tag:1.0"]
    ui.goto("/r/del/tag", ui_delete_site)
    expect(tag_cells(ui)).to_have_text(["1.0", "2.0", "stable"])

    delete = page.get_by_role("button", name="Delete tag stable")
    delete.click()
    dialog = page.get_by_role("dialog", name="Delete tag stable?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("This removes the tag del/tag:stable.")
    expect(dialog).to_contain_text(image.digest[:19])
    cancel = dialog.get_by_role("button", name="Cancel")
    expect(cancel).to_be_focused()  # a stray Enter deletes nothing
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(tag_cells(ui)).to_have_text(["1.0", "2.0", "stable"])
    expect(delete).to_be_focused()  # the focus returns to where it was

    delete.click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert ui_delete_site.api("/api/repositories/del/tag/images/stable").status_code == 200

    delete.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete tag").click()
    expect(page.locator(".notice__text")).to_have_text(
        "Deleted tag stable of del/tag. Untagged: stable."
    )
    expect(tag_cells(ui)).to_have_text(["1.0", "2.0"])
    # the sibling on the same digest survived
    sibling = ui_delete_site.api("/api/repositories/del/tag/images/1.0")
    assert sibling.status_code == 200
    assert sibling.json()["digest"] == image.digest
    assert ui_delete_site.api("/api/repositories/del/tag/images/stable").status_code == 404


def test_image_delete_lists_the_tags_it_removes(ui: UiPage, ui_delete_site: UiSite) -> None:
    page = ui.page
    image = ui_delete_site.images["del/image:1.0"]
    ui.goto("/r/del/image/-/image/prod", ui_delete_site)
    expect(page.get_by_test_id("same-digest-tags").locator("li")).to_have_text(["1.0", "prod"])
    page.get_by_role("button", name="Delete image").click()
    dialog = page.get_by_role("dialog", name=f"Delete image {image.digest[:19]}?")
    expect(dialog).to_contain_text(image.digest)
    expect(dialog).to_contain_text("It removes these 2 tags:")
    expect(dialog.get_by_test_id("tags-removed").locator("li")).to_have_text(["1.0", "prod"])
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()

    dialog.get_by_role("button", name="Delete image").click()
    # back to the tag list, refreshed, with what the answer untagged
    expect(page).to_have_url(f"{ui_delete_site.url}/r/del/image")
    expect(page.locator(".notice__text")).to_have_text(
        f"Deleted image {image.digest[:19]} from del/image. Untagged: 1.0, prod."
    )
    expect(tag_cells(ui)).to_have_text(["2.0"])
    assert (
        ui_delete_site.api(f"/api/repositories/del/image/images/{image.digest}").status_code == 404
    )
    # the deleted image is not where Back would lead: the entry was replaced
    page.go_back()
    expect(page).not_to_have_url(re.compile("/-/image/prod"))


def test_tag_delete_from_the_image_page(ui: UiPage, ui_delete_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/del/index/-/image/latest", ui_delete_site)
    expect(page.get_by_test_id("platform")).to_have_count(2)
    page.get_by_role("button", name="Delete tag latest").click()
    dialog = page.get_by_role("dialog", name="Delete tag latest?")
    dialog.get_by_role("button", name="Delete tag").click()
    expect(page).to_have_url(f"{ui_delete_site.url}/r/del/index")
    expect(page.get_by_text("Deleted tag latest of del/index. Untagged: latest.")).to_be_visible()
    expect(tag_cells(ui)).to_have_text(["1.0"])
    # the index itself is still there under 1.0
    page.get_by_role("link", name="1.0", exact=True).click()
    expect(page.get_by_test_id("platform")).to_have_count(2)
    expect(page.get_by_test_id("same-digest-tags").locator("li")).to_have_text(["1.0"])
    # the notice does not follow the user around
    expect(page.get_by_text("Deleted tag latest")).to_have_count(0)


def test_a_refused_delete_shows_the_envelope(ui: UiPage, ui_delete_site: UiSite) -> None:
    """The tag went elsewhere meanwhile: the error, not a silent success."""
    page = ui.page
    ui.goto("/r/del/tag", ui_delete_site)
    expect(tag_cells(ui).first).to_be_visible()
    page.route(
        re.compile(r"/api/repositories/del/tag/tags/2\.0$"),
        lambda route: route.fulfill(
            status=404,
            content_type="application/json",
            body='{"error": {"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}}',
        ),
    )
    page.get_by_role("button", name="Delete tag 2.0").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete tag").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"The tag 2\.0 could not be deleted: manifest unknown \(MANIFEST_UNKNOWN\)")
    )


def usage_tags(ui: UiPage) -> Locator:
    return ui.page.get_by_test_id("tag-usage-table").locator("tbody tr td:first-child")


def test_a_single_tag_delete_refreshes_the_storage_panel(
    ui: UiPage, ui_delete_site: UiSite
) -> None:
    page = ui.page
    ui.goto("/r/del/usage", ui_delete_site)
    expect(usage_tags(ui)).to_have_text(["1.0", "2.0"])
    page.get_by_role("button", name="Delete tag 2.0").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete tag").click()
    expect(tag_cells(ui)).to_have_text(["1.0"])
    # "Storage by tag" no longer counts what is gone
    expect(usage_tags(ui)).to_have_text(["1.0"])
    left = ui_delete_site.api("/api/repositories/del/usage/usage").json()
    expect(page.get_by_test_id("repository-usage-totals")).to_contain_text(
        format_bytes(left["total_bytes"])
    )


def test_bulk_delete_of_selected_tags(ui: UiPage, ui_delete_site: UiSite) -> None:
    """1.0 and 2.0 selected: 2.0's image goes (no other tag points at it); 1.0 goes
    alone, its image stays (stable points at it). The dialog says exactly that."""
    page = ui.page
    images = ui_delete_site.images
    ui.goto("/r/del/bulk", ui_delete_site)
    expect(tag_cells(ui)).to_have_text(["1.0", "2.0", "3.0", "stable"])
    delete = page.get_by_test_id("delete-selected")
    expect(delete).to_be_disabled()
    page.get_by_role("checkbox", name="Select 1.0").check()
    page.get_by_role("checkbox", name="Select 2.0").check()
    expect(page.get_by_test_id("selection-count")).to_have_text("2 tags selected")
    delete.click()
    dialog = page.get_by_role("dialog", name="Delete 2 tags and 1 image?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    going = dialog.get_by_test_id("images-removed").locator("li")
    expect(going).to_have_count(1)
    expect(going).to_contain_text(images["del/bulk:2.0"].digest[:19])
    expect(going).to_contain_text("2.0")
    expect(dialog.get_by_test_id("tags-removed").locator("li")).to_have_text(["1.0"])
    expect(dialog).to_contain_text("the images they point at stay")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator(".notice__text")).to_have_text("Deleted 2 items of del/bulk.")
    expect(tag_cells(ui)).to_have_text(["3.0", "stable"])
    expect(usage_tags(ui)).to_have_count(2)  # the storage panel follows (largest first)
    assert sorted(usage_tags(ui).all_inner_texts()) == ["3.0", "stable"]
    expect(page.get_by_test_id("selection-count")).to_have_text("None selected")
    two = images["del/bulk:2.0"].digest
    assert ui_delete_site.api(f"/api/repositories/del/bulk/images/{two}").status_code == 404
    kept = ui_delete_site.api("/api/repositories/del/bulk/images/stable").json()
    assert kept["digest"] == images["del/bulk:1.0"].digest
    assert kept["tags"] == ["stable"]


def test_select_every_tag_on_the_page(ui: UiPage, ui_delete_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/del/bulk?n=2", ui_delete_site)
    expect(tag_cells(ui)).to_have_count(2)
    every = page.get_by_role("checkbox", name="Select every tag on this page")
    every.check()
    expect(page.get_by_test_id("selection-count")).to_have_text("2 tags selected")
    expect(page.locator(".row-select:checked")).to_have_count(2)
    page.locator(".row-select").first.uncheck()
    expect(page.get_by_test_id("selection-count")).to_have_text("1 tag selected")
    expect(every).not_to_be_checked()
    page.get_by_test_id("delete-selected").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(tag_cells(ui)).to_have_count(2)  # nothing deleted


def test_no_clean_up_in_an_empty_repository(ui: UiPage, ui_delete_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/del/empty", ui_delete_site)
    expect(page.get_by_text("This repository has no tags.")).to_be_visible()
    expect(page.get_by_test_id("repository-usage-totals")).to_be_visible()
    expect(page.get_by_test_id("retention-open")).to_have_count(0)
    ui.goto("/r/del/usage")
    expect(page.get_by_test_id("retention-open")).to_be_visible()


def test_no_delete_control_when_deletes_are_off(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ui.goto("/r/oci/app", ui_site)
    expect(page.get_by_test_id("tags").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_test_id("selection-bar")).to_have_count(0)
    ui.goto("/r/oci/app/-/image/1.0")
    expect(page.get_by_test_id("platform")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    expect(page.get_by_role("link", name="Config & history")).to_have_count(2)
