"""The reference UI at 1920, 1280, 1024 and 390 px wide, light and dark: identifiers
never break inside themselves, badges never stack letter by letter, table headers never
run into each other, and no page (nor table) scrolls sideways — on the demo's pages and
on names and tags as long as the registry allows. Each width runs in one scheme, so
each scheme is seen at a desktop and at a phone width.

(Every page load is also held to the layout-shift budget, by the ``ui_context``
checks.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from harness.images import Pusher, push_image, push_index
from harness.lighthouse import AXE
from harness.registry import RegistryProcess
from tests.support.layout import layout_problems
from tests.support.ui import DemoSite, UiContext, UiPage, UiSite, _site

WIDTHS = [(1920, "light"), (1280, "dark"), (1024, "light"), (390, "dark")]
IDS = [f"{w}px-{scheme}" for w, scheme in WIDTHS]

# The demo's views, each with what shows that it is drawn.
DEMO_PAGES = [
    ("/", "repositories"),
    ("/r/demo/multiarch", "tags"),
    ("/r/demo/releases?n=50&sort=-version", "tags"),
    ("/r/demo/nightly?n=100&sort=-created", "tags"),
    ("/r/demo/multiarch/-/image/1.0.0", "attestations"),
    ("/r/demo/hello/-/image/1.0", "referrers-table"),
    ("/r/charts/nginx/-/image/15.0.2", "chart"),
    ("/r/demo/multiarch/-/image/1.0.0/history?platform=linux/arm64/v8", "history"),
    ("/r/demo/webapp/-/image/2.0/files?path=/app/static&deleted=1", "files-tree"),
    ("/r/demo/webapp/-/image/2.0/files?file=/app/server.py", "file-preview"),
    ("/r/demo/webapp/-/compare?from=1.0&to=2.0", "compare-files"),
]

LONG_REPO = "stress/a-rather-long-repository-name/nested/several/levels/deep-for-the-layout-test"
LONG_TAG = "feature-" + "0123456789abcdef" * 7 + "-build4"  # 127 of the 128 allowed
PLATFORMS = [
    ("amd64", None),
    ("arm64", "v8"),
    ("arm", "v7"),
    ("arm", "v6"),
    ("386", None),
    ("ppc64le", None),
    ("s390x", None),
    ("riscv64", None),
]


@pytest.fixture(scope="module")
def long_names_site(registry_factory: Callable[..., RegistryProcess]) -> Iterator[UiSite]:
    """A registry with the longest names: a 90-character repository, a 127-character
    tag, an index of 8 platforms under a long tag."""
    assert len(LONG_TAG) <= 128
    process = registry_factory()
    with Pusher(process.url) as p:
        push_image(p, LONG_REPO, LONG_TAG, created="2024-05-01T10:00:00Z")
        children = [
            push_image(p, LONG_REPO, None, architecture=arch, variant=variant)
            for arch, variant in PLATFORMS
        ]
        push_index(p, LONG_REPO, "multi-" + LONG_TAG[:100], children)
        push_image(p, "short", "1", n_layers=1)
    with _site(process.url, delete_enabled=True) as site:
        yield site


def check(ui: UiPage, path: str, testid: str) -> list[str]:
    ui.goto(path)
    expect(ui.page.get_by_test_id(testid).first).to_be_visible()
    expect(ui.page.locator("[aria-busy=true]")).to_have_count(0)
    return [f"{path}: {problem}" for problem in layout_problems(ui.page)]


def context_options(width: int, scheme: str) -> dict[str, object]:
    phone = width < 600
    return {
        "viewport": {"width": width, "height": 844 if phone else 900},
        "is_mobile": phone,
        "has_touch": phone,
        "color_scheme": scheme,
    }


@pytest.mark.parametrize(("width", "scheme"), WIDTHS, ids=IDS)
def test_demo_pages_hold_their_layout(
    ui_context: UiContext, demo_site: DemoSite, width: int, scheme: str
) -> None:
    """In the dark scheme the pages also pass axe's accessibility rules, contrast among
    them: Lighthouse (which runs axe) audits the light scheme only."""
    problems: list[str] = []
    axe = accessibility_check() if scheme == "dark" else None
    options = {**context_options(width, scheme), "bypass_csp": axe is not None}  # axe's script
    with ui_context(demo_site, **options) as ui:
        for path, testid in DEMO_PAGES:
            problems += check(ui, path, testid)
            if axe is not None:
                problems += [f"{path}: {p}" for p in axe(ui)]
        # the retention preview: the dialog's table, its badges and headers
        ui.goto("/r/demo/releases")
        ui.page.get_by_test_id("retention-open").click()
        dialog = ui.page.get_by_role("dialog")
        dialog.get_by_role("button", name="Preview").click()
        expect(dialog.get_by_test_id("retention-preview").locator("tbody tr")).to_have_count(60)
        problems += [f"retention preview: {p}" for p in layout_problems(ui.page)]
        if axe is not None:
            problems += [f"retention preview: {p}" for p in axe(ui)]
        ui.page.keyboard.press("Escape")
    assert problems == [], "\n".join(problems)


AXE_RUN = """async () => {
  const found = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']});
  const where = (v) => v.nodes.map((n) => n.target.join(' ')).join(', ');
  return found.violations.map((v) => `${v.id}: ${where(v)}`);
}"""


def accessibility_check() -> Callable[[UiPage], list[str]] | None:
    """axe-core (installed with Lighthouse) run in a page: its violations, in words.
    None where it is not installed (npm ci --prefix tests/lighthouse): then, as the
    Lighthouse module, the check is left out, the layout's still made."""
    if not AXE.is_file():
        return None
    script = AXE.read_text(encoding="utf-8")

    def run(ui: UiPage) -> list[str]:
        ui.page.add_script_tag(content=script)
        return list(ui.page.evaluate(AXE_RUN))

    return run


SORTS = ["name", "-name", "-version", "version", "-created", "created"]
PAGE_SIZES = [10, 20, 50, 100]


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_long_tag_lists_hold_still_in_every_order_and_page_size(
    ui_context: UiContext, demo_site: DemoSite, width: int
) -> None:
    """The 60- and 240-tag lists, each sort with a page size (every size in turn): every
    load is held to the layout-shift budget (ui_context), and its rows are all there."""
    with ui_context(demo_site, **context_options(width, "light")) as ui:
        for repo, total in (("demo/releases", 60), ("demo/nightly", 240)):
            for i, sort in enumerate(SORTS):
                n = PAGE_SIZES[i % len(PAGE_SIZES)]
                ui.goto(f"/r/{repo}?sort={sort}&n={n}")
                rows = ui.page.get_by_test_id("tags").locator("tbody tr")
                expect(rows).to_have_count(min(n, total))
                expect(ui.page.get_by_test_id("tag-usage")).to_be_attached()


@pytest.mark.parametrize(("width", "scheme"), WIDTHS, ids=IDS)
def test_longest_names_are_cut_not_broken(
    ui_context: UiContext, long_names_site: UiSite, width: int, scheme: str
) -> None:
    problems: list[str] = []
    with ui_context(long_names_site, **context_options(width, scheme)) as ui:
        problems += check(ui, "/", "repositories")
        problems += check(ui, f"/r/{LONG_REPO}", "tags")
        problems += check(ui, f"/r/{LONG_REPO}/-/image/{LONG_TAG}", "layers")
        problems += check(ui, f"/r/{LONG_REPO}/-/image/multi-{LONG_TAG[:100]}", "platform")
        # the whole tag is there to hover and to copy, though it is cut on screen
        ui.goto(f"/r/{LONG_REPO}")
        link = ui.page.get_by_test_id("tags").get_by_role("link", name=LONG_TAG, exact=True)
        expect(link).to_have_attribute("title", LONG_TAG)
        expect(link).to_have_text(LONG_TAG)
    assert problems == [], "\n".join(problems)


AXE_RUN = """async () => {
  const found = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']});
  const where = (v) => v.nodes.map((n) => n.target.join(' ')).join(', ');
  return found.violations.map((v) => `${v.id}: ${where(v)}`);
}"""

