"""What the activity engine keeps and answers: records, cursors, marks, times.

Times are integers of microseconds since the epoch (UTC) everywhere inside the engine:
they sort, compare and store the same in SQLite and in Redis, and Go's nanosecond
timestamps lose nothing that a person would see. They become RFC 3339 text (``Z``) only
on the way out (``format_time``).

A record's place in the feed is its ``Cursor``: (time, sequence). The sequence is given
by the store when the record is written, so two events of the same microsecond still
have a strict order and a page boundary never falls between twins. The ``next`` of a
feed page is the last listed record's cursor written as text; a client hands it back as
``last`` and gets what comes after it, newest first.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from gateway.datastore import StoreUnavailable
from gateway.errors import InvalidRequest

Action = Literal["push", "pull", "delete"]
Via = Literal["registry", "gateway"]
ACTIONS: tuple[Action, ...] = ("push", "pull", "delete")
VIAS: tuple[Via, ...] = ("registry", "gateway")

#: Longest text kept for each free-text field of an event (the rest is cut off): what
#: a registry or a client sends is bounded before it is stored or shown.
TEXT_LIMITS = {
    "id": 128,
    "actor": 256,
    "addr": 128,
    "user_agent": 256,
    "media_type": 255,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CURSOR_RE = re.compile(r"([0-9]{1,17})\.([0-9]{1,17})", re.ASCII)
_US = 1_000_000


class ActivityUnavailable(StoreUnavailable):
    """The activity store could not be read or written (a full disk, a read-only
    folder, Redis down or full). A ``StoreUnavailable``: whoever catches that catches
    this. Reads that only decorate another answer never see it (see ``Activity``)."""


def clean_text(value: object, limit: int) -> str | None:
    """A string field as kept: control characters replaced, cut to ``limit``; None for
    anything that is not a non-empty string."""
    if not isinstance(value, str) or not value:
        return None
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", value[:limit]) or None


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // _US, tz=UTC).replace(microsecond=us % _US)


def format_time(us: int) -> str:
    """RFC 3339 in UTC, with the fraction only when there is one (as image dates are)."""
    moment = from_us(us)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(fmt)


def parse_time(value: object) -> int | None:
    """An event's ``timestamp`` (RFC 3339, Go's nanoseconds and offsets allowed) as
    microseconds, or None when it is absent or not a time. Years before 1970 are None:
    Go writes its zero time (0001-01-01) for "unknown"."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python reads at most 6 fractional digits
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]:0<6}{rest[digits:]}" if digits else head + rest
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        us = to_us(moment)
    except OverflowError:
        return None
    return us if us >= 0 else None


class Cursor(NamedTuple):
    """A record's place in the feed: newer is greater."""

    time: int
    seq: int

    def text(self) -> str:
        return f"{self.time}.{self.seq}"

    @classmethod
    def parse(cls, value: str) -> Cursor:
        """A ``last`` as given back by a client; 400 ``VALIDATION_ERROR`` if it is not
        one this engine wrote."""
        match = _CURSOR_RE.fullmatch(value)
        if match is None:
            raise InvalidRequest(
                "last is not a cursor of this list (use the previous page's next)",
                detail=[{"loc": ["query", "last"], "msg": "not a cursor", "type": "value_error"}],
            )
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True, slots=True)
class Record:
    """One push, pull or delete, as listed in the feed.

    ``placeholder`` marks the push of the gateway's tag-delete placeholder (see
    ``gateway.activity.placeholder``): never listed, only remembered so that its delete
    by digest is not listed either.
    """

    id: str
    time: int
    action: Action
    repository: str
    tag: str | None = None
    digest: str | None = None
    media_type: str | None = None
    actor: str | None = None
    addr: str | None = None
    user_agent: str | None = None
    via: Via = "registry"
    placeholder: bool = False

    def to_json(self) -> dict[str, Any]:
        """The fields a store keeps (compact keys are not worth their obscurity)."""
        out: dict[str, Any] = {
            "id": self.id,
            "time": self.time,
            "action": self.action,
            "repository": self.repository,
            "via": self.via,
        }
        for name in ("tag", "digest", "media_type", "actor", "addr", "user_agent"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        return cls(
            id=str(data["id"]),
            time=int(data["time"]),
            action=data["action"],
            repository=str(data["repository"]),
            tag=data.get("tag"),
            digest=data.get("digest"),
            media_type=data.get("media_type"),
            actor=data.get("actor"),
            addr=data.get("addr"),
            user_agent=data.get("user_agent"),
            via=data.get("via", "registry"),
        )

    def api(self) -> dict[str, Any]:
        """The event as ``GET /api/activity`` lists it (API.md, third round)."""
        return {
            "id": self.id,
            "time": format_time(self.time),
            "action": self.action,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "media_type": self.media_type,
            "actor": self.actor,
            "via": self.via,
            "client": {"addr": self.addr, "user_agent": self.user_agent},
        }


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored record and its place in the feed."""

    cursor: Cursor
    record: Record


@dataclass(frozen=True, slots=True)
class Filter:
    """The feed's filters that a store can apply itself (rights come on top)."""

    repository: str | None = None
    action: Action | None = None
    actor: str | None = None
    since: int | None = None  # microseconds; records at or after it
    #: The repositories the caller may pull, when the caller's rights are a known set.
    allowed: frozenset[str] | None = None

    def matches(self, record: Record) -> bool:
        return (
            (self.repository is None or record.repository == self.repository)
            and (self.action is None or record.action == self.action)
            and (self.actor is None or record.actor == self.actor)
            and (self.since is None or record.time >= self.since)
            and (self.allowed is None or record.repository in self.allowed)
        )


@dataclass(frozen=True, slots=True)
class Scan:
    """One batch read from a store, newest first.

    ``entries`` are the records that pass the filter; ``scanned`` how many the store
    looked at to find them, ``last`` the cursor of the last one it looked at (where the
    next batch starts) and ``exhausted`` whether nothing older is left.
    """

    entries: list[Entry]
    scanned: int
    last: Cursor | None
    exhausted: bool


@dataclass(frozen=True, slots=True)
class Mark:
    """The latest pull of a digest or push of a tag: when, by whom, how."""

    time: int
    actor: str | None = None
    via: Via = "registry"
    digest: str | None = None  # for a push: the digest the tag was pushed as

    def api(self) -> str:
        return format_time(self.time)


@dataclass(frozen=True, slots=True)
class Marks:
    last_pulled: Mark | None = None
    last_pushed: Mark | None = None


NO_MARKS = Marks()


class Pulled(enum.Enum):
    """What the activity says of one tag over a period of days (the stale report,
    retention's ``not_pulled_days``)."""

    RECENTLY = "pulled recently"  # its image was pulled within the period
    PUSHED = "pushed recently"  # not pulled, but pushed within the period: too new to say
    UNKNOWN = "not tracked long enough"  # not pulled since tracking began, within the period
    NOT = "not pulled"  # tracked for the whole period, there for all of it, not pulled

    @property
    def keeps(self) -> bool:
        """Whether ``not_pulled_days`` keeps the tag: only ``NOT`` lets it go (a rule
        that deletes must not act on what the activity cannot tell)."""
        return self is not Pulled.NOT

    @property
    def stale(self) -> bool:
        """Whether the stale report lists the tag: never pulled since tracking began
        counts as not pulled there (the report deletes nothing)."""
        return self in (Pulled.NOT, Pulled.UNKNOWN)


def days_ago(now: int, days: float) -> int:
    return now - int(days * 86_400 * _US)


def verdict(marks: Marks, *, cutoff: int, tracking_since: int) -> Pulled:
    """``Pulled`` for a tag's marks, the period starting at ``cutoff`` (µs)."""
    if marks.last_pulled is not None and marks.last_pulled.time >= cutoff:
        return Pulled.RECENTLY
    if marks.last_pushed is not None and marks.last_pushed.time >= cutoff:
        return Pulled.PUSHED
    return Pulled.UNKNOWN if tracking_since > cutoff else Pulled.NOT


class MarkKey(NamedTuple):
    """A tag row (or an image detail) whose marks are wanted."""

    repository: str
    tag: str | None
    digest: str | None


@dataclass(frozen=True, slots=True)
class Added:
    """What writing a batch of records did, as counted by the engine."""

    recorded: list[Record] = field(default_factory=list)
    duplicates: int = 0
    placeholders: int = 0
    #: Records kept in the feed after the write (the store's size, for metrics).
    size: int = 0
