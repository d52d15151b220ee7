"""Identical lists held once: catalogs and tag lists shared between callers by content.

Catalogs and tag lists are cached per caller, since what the registry lists depends on
who asks. Most callers are answered the very same list, though: 200 users of a
100,000-repository registry would otherwise hold 200 copies of its catalog. Each list
is interned here by a digest of its content, so the per-caller cache entries (the part
that is per caller: "the registry answered this to this caller") all point at one
immutable copy.

- ``SharedList`` is a ``list`` that refuses every change (``TypeError``): it is handed
  to every caller that was answered the same entries, so nobody may alter it.
- ``ListInterner.intern`` returns the copy already held for equal content, or makes
  the new one the shared copy. A digest match is confirmed by comparing the entries,
  so different lists never share, whatever the digest.
- The interner holds its copies weakly: a copy lives exactly as long as some cache
  entry (or a request in flight) refers to it, so invalidation and expiry free it as
  before.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable
from typing import Any, NoReturn, SupportsIndex


class SharedList(list[str]):
    """An immutable list of strings, shared between cache entries (and callers)."""

    __slots__ = ("__weakref__",)

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("a shared list is immutable: copy it (list(...)) to change it")

    def __setitem__(self, index: Any, value: Any) -> NoReturn:
        self._refuse()

    def __delitem__(self, index: SupportsIndex | slice) -> NoReturn:
        self._refuse()

    def __iadd__(self, other: Iterable[str]) -> NoReturn:  # type: ignore[override, misc]
        self._refuse()

    def __imul__(self, count: SupportsIndex) -> NoReturn:
        self._refuse()

    def append(self, value: str) -> NoReturn:
        self._refuse()

    def extend(self, values: Iterable[str]) -> NoReturn:
        self._refuse()

    def insert(self, index: SupportsIndex, value: str) -> NoReturn:
        self._refuse()

    def remove(self, value: str) -> NoReturn:
        self._refuse()

    def pop(self, index: SupportsIndex = -1) -> NoReturn:
        self._refuse()

    def clear(self) -> NoReturn:
        self._refuse()

    def sort(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def reverse(self) -> NoReturn:
        self._refuse()

    def __copy__(self) -> list[str]:
        return list(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


def _digest(entries: list[str]) -> bytes:
    h = hashlib.sha256(len(entries).to_bytes(8, "big"))
    # NUL never occurs in a repository name or a tag; the entries compared on a match
    # make the result exact anyway.
    h.update("\0".join(entries).encode("utf-8", "surrogatepass"))
    return h.digest()


class ListInterner:
    """One ``SharedList`` per distinct content, as long as something refers to it."""

    def __init__(self) -> None:
        self._copies: weakref.WeakValueDictionary[bytes, SharedList] = weakref.WeakValueDictionary()
        # Plain counters (a metric, and what the tests read).
        self.shared = 0  # lists answered with a copy already held
        self.stored = 0  # lists that became a new copy

    def intern(self, entries: Iterable[str]) -> SharedList:
        """The shared copy of ``entries`` (made from them when none is held)."""
        if isinstance(entries, SharedList):
            return entries
        items = entries if isinstance(entries, list) else list(entries)
        key = _digest(items)
        held = self._copies.get(key)
        if held is not None and list.__eq__(held, items):
            self.shared += 1
            return held
        fresh = SharedList(items)
        self.stored += 1
        if held is None:
            self._copies[key] = fresh
        return fresh

    def __len__(self) -> int:
        return len(self._copies)
