"""Take the README's screenshots of the reference UI over the demo's content:
python scripts/screenshots.py [FILE.png ...]   (only those files; default: every one)

Starts a registry holding the demo's content (harness/demo.py) and a gateway in
front of it, lets the storage figures be counted (so the repositories page shows each
size), then photographs the pages below in Debian's chromium (Playwright) into docs/, at
desktop and at phone width. Nothing is fetched from outside 127.0.0.1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from harness.demo import demo_stack  # noqa: E402

DOCS = ROOT / "docs"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DARK_PHONE = {**PHONE, "color_scheme": "dark"}

# (file, options, path, what shows that the page is drawn)
SHOTS = [
    ("screenshot-repositories.png", DESKTOP, "/", "registry-usage"),
    ("screenshot-tags.png", DESKTOP, "/r/demo/multiarch", "tag-usage"),
    ("screenshot-image.png", DESKTOP, "/r/demo/hello/-/image/1.0", "referrers-table"),
    ("screenshot-chart.png", DESKTOP, "/r/charts/nginx/-/image/15.0.2", "chart"),
    ("screenshot-phone.png", PHONE, "/r/demo/multiarch", "tags"),
    ("screenshot-phone-dark.png", DARK_PHONE, "/r/demo/hello/-/image/1.0", "referrers-table"),
    # docs/files-inside-images.md
    ("screenshot-files.png", DESKTOP, "/r/demo/webapp/-/image/2.0/files?path=/app", "files-tree"),
    (
        "screenshot-files-preview.png",
        DESKTOP,
        "/r/demo/webapp/-/image/2.0/files?path=/app&file=/app/server.py",
        "file-preview",
    ),
    (
        "screenshot-files-layer.png",
        DESKTOP,
        "/r/demo/webapp/-/image/2.0/files?layer=2",
        "layer-changes",
    ),
    (
        "screenshot-compare.png",
        DESKTOP,
        "/r/demo/webapp/-/compare?from=1.0&to=2.0",
        "compare-files",
    ),
]


def count_storage(url: str) -> None:
    """Ask for the registry's storage until every repository is counted: the
    repositories page then shows each one's size."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        deadline = time.monotonic() + 60
        while not client.get("/api/usage").json()["complete"] and time.monotonic() < deadline:
            time.sleep(0.5)


def main() -> int:
    from playwright.sync_api import sync_playwright

    wanted = set(sys.argv[1:])
    DOCS.mkdir(exist_ok=True)
    with demo_stack() as sites, sync_playwright() as pw:
        url = sites["demo"]
        count_storage(url)
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for name, options, path, testid in SHOTS:
                if wanted and name not in wanted:
                    continue
                context = browser.new_context(**options)
                page = context.new_page()
                page.goto(url + path)
                page.get_by_test_id(testid).first.wait_for()
                page.locator("[aria-busy=true]").first.wait_for(state="detached")
                page.mouse.move(0, 0)
                page.screenshot(path=str(DOCS / name))
                print(f"wrote docs/{name}")
                context.close()
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
