"""A clock a test moves by hand, in place of ``time.monotonic`` where a timing is asserted
(an expiry, a renewal, a refresh): the test says how much time passed instead of
sleeping, so it asserts the rule, not the machine's speed."""

from __future__ import annotations

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
