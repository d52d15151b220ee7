"""The reference UI in chromium: themes, a phone's width, the keyboard, and what the
files may not contain under the page's Content-Security-Policy. (The README's
screenshots come from scripts/screenshots.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.support.ui import UiContext, UiPage, UiSite

UI_DIR = Path(__file__).resolve().parents[1] / "gateway" / "web" / "ui"

PHONE = {"width": 390, "height": 844}

# Pages of the standard content, each with something it must show once loaded.
PAGES = [
    ("/", "repositories"),
    ("/r/multi/oci-index", "tags"),
    ("/r/versions/app?sort=-version", "tags"),
    ("/r/multi/attested/-/image/1.0", "attestations"),
    ("/r/schema2/app/-/image/1.0/history", "history"),
    ("/r/multi/attested/-/image/1.0/history?platform=linux/arm64/v8", "history"),
]


def luminance(css_colour: str) -> float:
    """Relative luminance (0 black … 1 white) of an ``rgb(…)`` computed colour."""
    values = [int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", css_colour)[:3]]
    linear = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in values]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def colours(ui: UiPage) -> dict[str, str]:
    return dict(
        ui.page.evaluate(
            """() => ({
                body: getComputedStyle(document.body).backgroundColor,
                text: getComputedStyle(document.body).color,
                card: getComputedStyle(document.querySelector('.table-scroll')).backgroundColor,
            })"""
        )
    )


def test_light_and_dark_follow_the_system(ui_context: UiContext, ui_site: UiSite) -> None:
    seen: dict[str, dict[str, str]] = {}
    for scheme in ("light", "dark"):
        with ui_context(ui_site, color_scheme=scheme) as ui:
            ui.goto("/")
            expect(ui.page.get_by_test_id("repositories")).to_be_visible()
            seen[scheme] = colours(ui)
    light, dark = seen["light"], seen["dark"]
    assert light["body"] != dark["body"]
    assert luminance(light["body"]) > 0.8 > 0.05 > luminance(dark["body"]), seen
    assert luminance(light["text"]) < 0.05 and luminance(dark["text"]) > 0.7, seen
    assert luminance(dark["card"]) < 0.1, seen


def test_phone_width_never_scrolls_sideways(ui_context: UiContext, ui_site: UiSite) -> None:
    with ui_context(ui_site, viewport=PHONE, is_mobile=True, has_touch=True) as ui:
        for path, testid in PAGES:
            ui.goto(path)
            expect(ui.page.get_by_test_id(testid)).to_be_visible()
            expect(ui.page.locator("[aria-busy=true]")).to_have_count(0)
            width = ui.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
        # the raw manifest scrolls inside its own box
        ui.goto("/r/multi/attested/-/image/1.0")
        ui.page.locator("summary", has_text="Raw manifest").click()
        expect(ui.page.get_by_test_id("raw-manifest")).to_contain_text('"schemaVersion": 2')
        assert ui.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # tag rows are stacked, each cell labelled, rather than a table wider than the screen
        ui.goto("/r/multi/oci-index")
        cell = ui.page.locator('tr[data-tag="1.0.0"] td[data-label="Platforms"]')
        assert cell.evaluate("el => getComputedStyle(el).display") == "grid"
        before = cell.evaluate("el => getComputedStyle(el, '::before').content")
        assert before == '"Platforms"'


def test_phone_width_login_and_dialog(
    ui_context: UiContext, ui_auth_site: UiSite, ui_delete_site: UiSite
) -> None:
    with ui_context(ui_auth_site, viewport=PHONE, is_mobile=True) as ui:
        ui.goto("/r/team/app")
        expect(ui.page.get_by_label("Username")).to_be_visible()
        assert ui.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    with ui_context(ui_delete_site, viewport=PHONE, is_mobile=True) as ui:
        ui.goto("/r/del/image/-/image/2.0")
        ui.page.get_by_role("button", name="Delete image").click()
        dialog = ui.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        box = dialog.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        ui.page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)


def test_keyboard_reaches_the_search_and_follows_links(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    ui.goto("/", ui_site)
    search = page.get_by_label("Search repositories")
    expect(page.get_by_test_id("repositories")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(5):
        if search.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(search).to_be_focused()
    # the focus is visible
    outline = search.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"
    page.keyboard.type("versions")
    expect(page.get_by_test_id("repositories").locator("tbody tr")).to_have_count(1)
    page.keyboard.press("Tab")  # Per page
    page.keyboard.press("Tab")  # the one result
    link = page.get_by_role("link", name="versions/app")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{ui_site.url}/r/versions/app")
    # after a navigation the new page's heading has the focus
    expect(page.get_by_role("heading", level=1)).to_be_focused()


def test_every_control_has_a_label(ui: UiPage, ui_site: UiSite) -> None:
    page = ui.page
    for path, testid in PAGES:
        ui.goto(path, ui_site)
        expect(page.get_by_test_id(testid)).to_be_visible()
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
                .filter(el => !(el.labels?.length || el.getAttribute('aria-label')
                                || el.textContent.trim()))
                .map(el => el.outerHTML.slice(0, 80))"""
        )
        assert unlabelled == [], (path, unlabelled)
    ui.goto("/r/versions/app")
    for label in ("Search tags", "Sort by", "Per page"):
        expect(page.get_by_label(label)).to_be_visible()


# -- what the files may not hold (the CSP would block it, or it would be unsafe) -----------


def ui_files(suffix: str) -> list[Path]:
    return sorted(p for p in UI_DIR.rglob(f"*{suffix}") if p.is_file())


def test_no_inline_script_handlers_or_outside_urls() -> None:
    html = (UI_DIR / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script type="module" src="/assets/app.js">'], scripts
    assert not re.search(r"<script\b[^>]*>(?!</script>)", html), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "javascript:" not in html
    for path in ui_files(".js") + ui_files(".css") + ui_files(".html") + ui_files(".svg"):
        text = path.read_text(encoding="utf-8")
        foreign = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/\w.-]*", text)
        foreign = [u for u in foreign if not u.endswith("//www.w3.org/2000/svg")]  # xmlns
        assert foreign == [], (path.name, foreign)
        assert "@import" not in text and "@font-face" not in text, path.name


def test_javascript_builds_dom_without_html_strings() -> None:
    banned = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(")
    for path in ui_files(".js"):
        text = path.read_text(encoding="utf-8")
        code = re.sub(r"^\s*(//|\*|/\*\*).*$", "", text, flags=re.MULTILINE)  # not comments
        for word in banned:
            assert word not in code, (path.name, word)
        assert not re.search(r"new\s+Function\b", code), path.name
        assert not re.search(r"setTimeout\(\s*['\"`]", code), path.name
        # every relative import names a module that exists
        for target in re.findall(r"from\s+'(\.{1,2}/[^']+)'", text):
            assert (path.parent / target).resolve().is_file(), (path.name, target)


def test_every_module_is_preloaded() -> None:
    """index.html names every module for the browser to fetch at once, rather than one
    level of imports after another (a round trip each on a phone's network)."""
    html = (UI_DIR / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/(assets/[^"]+)">', html))
    modules = {str(p.relative_to(UI_DIR)) for p in ui_files(".js")} - {"assets/app.js"}
    assert preloaded == modules


def test_html_answers_carry_the_csp(ui_site: UiSite) -> None:
    for path in ("/", "/r/multi/oci-index", "/r/team/app/-/image/1.0/history?platform=linux/amd64"):
        r = ui_site.api(path, headers={"Accept": "text/html"})
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src" not in csp
        assert '<script type="module" src="/assets/app.js">' in r.text
    for asset in ("/assets/app.js", "/assets/views/tags.js", "/assets/app.css"):
        assert ui_site.api(asset).status_code == 200, asset
    assert ui_site.api("/assets/missing.js").status_code == 404
