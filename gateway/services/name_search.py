"""Substring search over a catalog, remembered per catalog.

A catalog is a shared, immutable list (gateway.shared_lists) that lives while some cache
entry holds it. A search over it runs ``str.find`` over the names joined into one text
(built once per catalog, about 1.6 MB for 100,000 names), which is C-speed: about 1 ms
for 100,000 names, against 8 ms for a test of each name; a needle found in very many
names (``-``) finishes as that per-name test, so it never costs much more. The
same search again, by anyone holding the same catalog, is a lookup. A longer search
typed after a shorter one (``app`` then ``appl``) scans only what the shorter one found.
A result is only ever used for the very list object it was computed from (a weak
reference checks it), so a new catalog is never answered from an old one's results.
"""

from __future__ import annotations

import bisect
import weakref
from array import array
from collections.abc import Sequence

from cachetools import LRUCache

#: Matches found with str.find before the rest is scanned name by name: past this many,
#: finding each next match (a find and a bisect) costs more than testing every name.
FIND_LIMIT = 256


class _Text:
    """A catalog's names joined by newlines (no name holds one), and where each starts."""

    def __init__(self, names: Sequence[str]) -> None:
        self.text = "\n".join(names) + "\n"
        starts = array("q", [0])
        offset = 0
        for name in names:
            offset += len(name) + 1
            starts.append(offset)
        self.starts = starts

    def find(self, names: Sequence[str], needle: str) -> list[str]:
        text, starts = self.text, self.starts
        found: list[str] = []
        at = text.find(needle)
        while at != -1:
            k = bisect.bisect_right(starts, at) - 1
            found.append(names[k])
            if len(found) >= FIND_LIMIT:
                found.extend(name for name in names[k + 1 :] if needle in name)
                break
            at = text.find(needle, starts[k + 1])
        return found


class NameSearch:
    def __init__(self, entries: int = 512, texts: int = 8) -> None:
        self._found: LRUCache[tuple[int, str], tuple[weakref.ref[Sequence[str]], list[str]]] = (
            LRUCache(entries)
        )
        self._texts: LRUCache[int, tuple[weakref.ref[Sequence[str]], _Text]] = LRUCache(texts)

    def _text(self, names: Sequence[str], ref: weakref.ref[Sequence[str]]) -> _Text:
        held = self._texts.get(id(names))
        if held is not None and held[0]() is names:
            return held[1]
        text = _Text(names)
        self._texts[id(names)] = (ref, text)
        return text

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
        if "\n" in needle:
            return []  # no name holds one (and the joined text would match across names)
        found = None
        for shorter in (needle[:-1], needle[1:]):
            narrower = self._known(names, shorter) if shorter else None
            if narrower is not None:
                # Every match of needle also holds the shorter needle.
                found = [name for name in narrower if needle in name]
                break
        if found is None:
            found = self._text(names, ref).find(names, needle)
        self._found[(id(names), needle)] = (ref, found)
        return found
