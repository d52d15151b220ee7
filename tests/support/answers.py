"""Judging an answer given while the registry failed: a page with what it has.

A 200 the gateway gives while the registry misbehaves is either the answer it gives
when all is well, or that answer with some rows (repositories, tags, platforms,
attestations) replaced by rows carrying their ``error``; totals summed over rows
(``size``) may then differ. Anything else is a wrong answer served as a right one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["degraded_from", "has_error"]


def has_error(value: Any) -> bool:
    """Whether a JSON value holds a non-empty ``error`` anywhere."""
    if isinstance(value, dict):
        return bool(value.get("error")) or any(has_error(v) for v in value.values())
    if isinstance(value, list):
        return any(has_error(v) for v in value)
    return False


def degraded_from(answer: Any, good: Any) -> bool:
    """Whether ``answer`` is ``good`` as far as the registry could be read: equal, except
    rows that carry their ``error``, sizes summed over such rows, and a tag page's
    created order when it says it is not final for want of those rows' dates."""
    if answer == good:
        return True
    if isinstance(answer, dict) and isinstance(good, dict):
        if answer.get("error"):
            return True
        if set(answer) != set(good):
            return False
        partial = has_error(answer)
        reordered = partial and _unfinished_order(answer, good)
        if reordered and not _same_rows(answer["tags"], good["tags"]):
            return False
        return all(
            (partial and key == "size")
            or (reordered and key in ("tags", "complete"))
            or degraded_from(answer[key], good[key])
            for key in answer
        )
    if isinstance(answer, list) and isinstance(good, list):
        return len(answer) == len(good) and all(
            degraded_from(a, b) for a, b in zip(answer, good, strict=True)
        )
    return False


def _unfinished_order(answer: dict[str, Any], good: dict[str, Any]) -> bool:
    """A tag page whose order the gateway says is not final where the good one was: a
    created order built while some rows could not be read (they sort as undated)."""
    return (
        answer.get("complete") is False
        and good.get("complete") is True
        and isinstance(answer.get("tags"), list)
        and isinstance(good.get("tags"), list)
    )


def _same_rows(rows: list[Any], good: list[Any]) -> bool:
    """The same tags, each row degraded from its own, in any order."""
    mine = {row.get("name"): row for row in rows if isinstance(row, dict)}
    theirs = {row.get("name"): row for row in good if isinstance(row, dict)}
    return (
        len(mine) == len(rows)
        and mine.keys() == theirs.keys()
        and all(degraded_from(mine[name], theirs[name]) for name in mine)
    )
