"""Substring search over a catalog, remembered per catalog.

A catalog is a shared, immutable list (gateway.shared_lists) that lives while some cache
entry holds it. A search over 100,000 names is a scan of all of them (about 8 ms); the
same search again, by anyone holding the same catalog, is a lookup. A longer search
typed after a shorter one (``app`` then ``appl``) scans only what the shorter one found.
A result is only ever used for the very list object it was computed from (a weak
reference checks it), so a new catalog is never answered from an old one's results.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from cachetools import LRUCache


class NameSearch:
    def __init__(self, entries: int = 512) -> None:
        self._found: LRUCache[tuple[int, str], tuple[weakref.ref[Sequence[str]], list[str]]] = (
            LRUCache(entries)
        )

    def _known(self, names: Sequence[str], needle: str) -> list[str] | None:
        hit = self._found.get((id(names), needle))
        if hit is None or hit[0]() is not names:
            return None
        return hit[1]

    def find(self, names: Sequence[str], needle: str) -> list[str]:
        """The names holding ``needle`` (already lowercase), in the catalog's order."""
        found = self._known(names, needle)
        if found is not None:
            return found
        try:
            ref: weakref.ref[Sequence[str]] = weakref.ref(names)
        except TypeError:  # a plain list (not shared): nothing to remember it by
            return [name for name in names if needle in name]
        base: Sequence[str] = names
        for shorter in (needle[:-1], needle[1:]):
            narrower = self._known(names, shorter) if shorter else None
            if narrower is not None:
                base = narrower  # every match of needle also holds the shorter needle
                break
        found = [name for name in base if needle in name]
        self._found[(id(names), needle)] = (ref, found)
        return found
