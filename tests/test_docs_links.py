"""Every link of the README, docs/ and bench/README.md leads somewhere: a file of the
repository that exists and, with a #fragment, a heading of that file (GitHub's anchors).
Links to other sites are not followed (the tests run offline); they must be https."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_REF = re.compile(r"<(?:img|a)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text without code (a link in a code block is an example, not a link)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file: lower case, punctuation dropped,
    spaces as hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        text = re.sub(r"`([^`]*)`", r"\1", heading)  # code spans keep their text
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def links(path: Path) -> list[str]:
    text = prose(path.read_text(encoding="utf-8"))
    return LINK.findall(text) + HTML_REF.findall(text)


def test_the_pages_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "bench/README.md", "docs/configuration.md", "docs/ui.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_leads_somewhere(page: Path) -> None:
    broken: list[str] = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            if not target.startswith(("https://", "mailto:")):
                broken.append(f"{target}: a link to another site must be https")
            continue
        path_part, _, fragment = target.partition("#")
        linked = (page.parent / unquote(path_part) if path_part else page).resolve()
        if not linked.exists():
            broken.append(f"{target}: no such file")
            continue
        if ROOT not in linked.parents and linked != ROOT:
            broken.append(f"{target}: outside the repository")
            continue
        if fragment:
            if linked.suffix != ".md":
                broken.append(f"{target}: a #fragment of a file that is not Markdown")
            elif fragment not in anchors(linked):
                broken.append(f"{target}: no heading #{fragment} in {linked.name}")
    assert broken == [], "\n".join(broken)


def test_the_anchor_rule() -> None:
    """The slugs GitHub makes, on headings these pages use."""
    page = ROOT / "docs" / "configuration.md"
    assert "the-host-in-pull-commands" in anchors(page)
    assert "every-fast-at-scale-figure-in-one-run-benchbench_allpy" in anchors(
        ROOT / "bench" / "README.md"
    )
