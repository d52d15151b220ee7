"""Measure the reference UI's Lighthouse budgets over the demo's content and print the
table of docs/ui.md: python scripts/ui_budgets.py [--write]

Starts what the test does (tests/test_ui_lighthouse.py): a registry holding the demo's
content with a gateway in front (and a registry that asks for credentials, for the
login view), then Lighthouse (npm ci --prefix tests/lighthouse; Debian's chromium) over
every view with the mobile and the desktop preset. --write puts the table into
docs/ui.md, between its "ui-budgets" markers. Takes a minute or two.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.demo import demo_stack  # noqa: E402
from harness.lighthouse import (  # noqa: E402
    PRESETS,
    VIEWS,
    lighthouse_missing,
    over_budget,
    run_lighthouse,
    table,
)

DOC = ROOT / "docs" / "ui.md"
MARKERS = re.compile(r"(<!-- ui-budgets -->\n).*?(<!-- /ui-budgets -->)", re.S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the table into docs/ui.md")
    args = parser.parse_args(argv)
    missing = lighthouse_missing()
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    with demo_stack(login=True) as sites:
        pages = [
            {"name": name, "url": sites[site] + path, "preset": preset}
            for preset in PRESETS
            for name, site, path in VIEWS
        ]
        results = run_lighthouse(pages)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"{table(results)}\n\nMeasured {when} with Lighthouse 12 (`scripts/ui_budgets.py`).\n"
    print(text)
    problems = [p for r in results for p in over_budget(r)]
    for problem in problems:
        print(f"under budget: {problem}", file=sys.stderr)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        if not MARKERS.search(doc):
            print(f"error: {DOC} has no ui-budgets markers", file=sys.stderr)
            return 2
        DOC.write_text(MARKERS.sub(lambda m: m[1] + text + m[2], doc), encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
