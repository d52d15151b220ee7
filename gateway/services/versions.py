"""Natural / semantic version order for tags.

``1.9.0 < 1.10.0-rc1 < 1.10.0-rc2 < 1.10.0 < v2 < v2.0.1``; a leading ``v`` is ignored;
pre-releases (``-rc1``, ``-alpine``) sort before their release, numerically where they
hold numbers (``rc2 < rc10``); build metadata (``+build``) only breaks ties. Tags that
are not versions (``latest``, ``main``, ``sha-1a2b3c4``, a bare commit id like
``3b9c1d2``) are not given a key.
"""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"[vV]?(\d+(?:\.\d+)*)(?:[-_.]?([0-9A-Za-z][0-9A-Za-z.\-_]*))?")
_CHUNK_RE = re.compile(r"(\d+)|(\D+)")
_COMMIT_RE = re.compile(r"[0-9a-f]{7,64}")  # a bare git commit id, like 3b9c1d2

VersionKey = tuple[tuple[int, ...], int, tuple[tuple[int, int, str], ...], str]


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    # Numbers sort before words at the same position, and numerically among themselves.
    return tuple(
        (0, int(num), "") if num else (1, 0, word.lower()) for num, word in _CHUNK_RE.findall(text)
    )


def version_key(tag: str) -> VersionKey | None:
    """A sort key for a version tag, or None when the tag is not a version."""
    m = _VERSION_RE.fullmatch(tag)
    if not m or (_COMMIT_RE.fullmatch(tag) and not tag.isdigit()):
        return None
    numbers = tuple(int(part) for part in m.group(1).split("."))
    rest = m.group(2) or ""
    pre, _, build = rest.partition("+")
    if pre:
        return numbers, 0, _natural(pre), tag
    return numbers, 1, (), build + "\0" + tag
