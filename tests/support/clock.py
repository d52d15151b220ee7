"""Clocks a test moves by hand, so a test of what happens "30 seconds" or "30 days"
later asserts the rule, not the machine's speed, and never sleeps.

- ``Clock``: in place of ``time.monotonic`` where a timing is asserted (an expiry, a
  renewal, a refresh).
- ``FakeClock``: wall-clock microseconds since the epoch, for code that takes a
  ``clock`` callable (``gateway.activity``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType, SimpleNamespace

import pytest


class Clock:
    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def install(self, monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> Clock:
        """Make ``time.monotonic`` of each module (that did ``import time``) read this
        clock, for the rest of the test."""
        for module in modules:
            monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=self.monotonic))
        return self


class FakeClock:
    """Microseconds since the epoch (what ``gateway.activity`` reads), moved by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        moment = start or datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
        self.us = int(moment.timestamp()) * 1_000_000 + moment.microsecond

    def __call__(self) -> int:
        return self.us

    def advance(self, *, days: float = 0, seconds: float = 0) -> int:
        self.us += int((days * 86_400 + seconds) * 1_000_000)
        return self.us
