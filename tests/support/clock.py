"""A clock a test moves by hand: code that takes a ``clock`` callable reads it instead
of the real one, so a test of what happens "30 days later" never sleeps."""

from __future__ import annotations

from datetime import UTC, datetime


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
