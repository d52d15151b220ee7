"""Layout checks of a page of the reference UI, run in the page: what a reader sees
broken, whatever the width.

``layout_problems(page)`` lists, in words, every

- identifier broken inside itself: a tag, digest, platform chip, date, badge, name or
  button whose text runs over more than one line (they are cut with an ellipsis
  instead, the whole value in their title);
- table header whose text runs out of its column (into the next one);
- page, or table box, that scrolls sideways.

Elements that are not shown (hidden, visually hidden, zero-sized) are left out.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IDENTIFIERS", "layout_problems"]

# What must stay on one line.
IDENTIFIERS = ", ".join(
    (
        ".ident",
        ".digest",
        ".digest-full",
        ".chip",
        ".badge",
        "time",
        ".tag-link",
        ".repo-link",
        ".tabs__tab",
        ".pull-box__command",
        ".copy-button",
        ".button",
    )
)

_CHECK = """
(identifiers) => {
  const problems = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) return false;
    if (el.closest('.visually-hidden, [hidden]')) return false;
    return getComputedStyle(el).visibility !== 'hidden';
  };
  const describe = (el) =>
    `<${el.tagName.toLowerCase()} class="${el.className}"> "${el.textContent.trim().slice(0, 48)}"`;
  const lines = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = [];
    for (const r of range.getClientRects()) {
      if (r.width < 1) continue;
      if (!tops.some((t) => Math.abs(t - r.top) < 3)) tops.push(r.top);
    }
    return tops.length;
  };

  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push(
      `the page scrolls sideways: ${root.scrollWidth} px of content in ${root.clientWidth} px`);
  }
  for (const el of document.querySelectorAll(identifiers)) {
    if (!shown(el)) continue;
    const n = lines(el);
    if (n > 1) problems.push(`${describe(el)} breaks over ${n} lines`);
  }
  for (const th of document.querySelectorAll('thead th')) {
    if (!shown(th) || !shown(th.closest('thead'))) continue;
    const box = th.getBoundingClientRect();
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim() || node.parentElement.closest('.visually-hidden')) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const text = range.getBoundingClientRect();
      if (text.width > 0 && (text.left < box.left - 1 || text.right > box.right + 1)) {
        const sizes = `${Math.round(text.width)} px in ${Math.round(box.width)} px`;
        problems.push(`header ${describe(th)} runs out of its column (${sizes})`);
      }
    }
  }
  for (const box of document.querySelectorAll('.table-scroll')) {
    if (shown(box) && box.scrollWidth > box.clientWidth + 1) {
      const table = describe(box.querySelector('table') ?? box);
      problems.push(`${table} scrolls sideways: ${box.scrollWidth} px in ${box.clientWidth} px`);
    }
  }
  return problems;
}
"""


def layout_problems(page: Any) -> list[str]:
    """What is broken in the layout of ``page`` (a Playwright Page) as it is now."""
    return list(page.evaluate(_CHECK, IDENTIFIERS))
