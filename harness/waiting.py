"""Waiting for something that happens on its own time (a server starting, a message
reaching another replica, a background fill): one polling loop for every test.

``eventually(check)`` asks ``check`` until it answers something true and returns that
answer. An ``AssertionError`` from ``check`` (or one of the ``retry`` exceptions: a
server not listening yet) means "not yet". When ``within`` seconds pass, the test fails
with ``what`` and the last answer or error. Any other exception fails at once (a server
process that died: there is nothing to wait for).

The bound is a test's assertion ("seen within 1 s"), not a sleep that a timing relies on:
a quick answer returns at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    *,
    within: float = 10.0,
    every: float = 0.05,
    what: str = "the condition",
    retry: tuple[type[BaseException], ...] = (),
) -> T:
    """``check()``'s first true answer within ``within`` seconds, asked every ``every``."""
    deadline = time.monotonic() + within
    last: object = None
    while True:
        try:
            answer = check()
        except (AssertionError, *retry) as exc:
            last = exc
        else:
            if answer:
                return answer
            last = answer
        if time.monotonic() >= deadline:
            raise AssertionError(f"not seen within {within} s: {what} (last: {last!r})")
        time.sleep(every)
