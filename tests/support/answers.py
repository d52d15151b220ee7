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
    rows that carry their ``error``, and sizes summed over such rows."""
    if answer == good:
        return True
    if isinstance(answer, dict) and isinstance(good, dict):
        if answer.get("error"):
            return True
        if set(answer) != set(good):
            return False
        partial = has_error(answer)
        return all(
            (partial and key == "size") or degraded_from(answer[key], good[key]) for key in answer
        )
    if isinstance(answer, list) and isinstance(good, list):
        return len(answer) == len(good) and all(
            degraded_from(a, b) for a, b in zip(answer, good, strict=True)
        )
    return False
