"""The registry's notifications: each event that changes something becomes a ``Change``
(its repository, action, tag, digest, media type and actor) handed to the view, which
drops what it made stale and tells its subscribers (``CachedRegistry.notified``).

The cost is O(events + entries dropped): the envelope is parsed and checked once, the
repositories it names are deduplicated, and each store drops them through its index by
repository. A large envelope is parsed in a worker thread, so other requests are served
meanwhile. The caches are changed only on the event loop, after parsing, a slice of
repositories at a time with a yield to other requests in between: each slice is one step
(no await inside), and every drop bumps the store's generation, so a fetch that began
before it cannot store what it read.
"""

from __future__ import annotations

import json
from typing import Any

import anyio.lowlevel
import anyio.to_thread

from gateway.errors import InvalidRequest
from gateway.models import api
from gateway.registry.names import is_name
from gateway.view import CachedRegistry, Change
from gateway.view.changes import ACTIONS

MAX_EVENTS_BYTES = 4 * 1024 * 1024
# Bodies up to this size are parsed on the event loop (well under a millisecond);
# larger ones in a worker thread.
INLINE_BYTES = 64 * 1024
# The string fields of an event's target (api.EventTarget); any other field is allowed.
TARGET_STRINGS = ("repository", "mediaType", "digest", "tag")
MAX_PROBLEMS = 10
# Repositories dropped per step on the loop (each a few cache entries, ~5 us apiece).
SLICE = 256


def _problem(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def read_envelope(body: bytes) -> tuple[int, list[str]]:
    """(events understood, repositories named, in first-named order, once each)."""
    understood, by_repo = read_changes(body)
    return understood, list(by_repo)


def read_changes(body: bytes) -> tuple[int, dict[str, list[Change]]]:
    """(events understood, each repository named — in first-named order — with the
    changes its events describe).

    Raises ``InvalidRequest`` (400 ``VALIDATION_ERROR``, never echoing the body) unless
    the body is a notification envelope as ``api.EventEnvelope`` describes it: JSON, an
    object, ``events`` a list of objects, ``action`` and the target's ``repository``,
    ``mediaType``, ``digest`` and ``tag`` strings (or null) where present. Fields it does
    not know are allowed. Well-formed events that change nothing (pulls, no target, a
    repository name that is not valid) are ignored.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # Recursion: nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
        raise InvalidRequest(
            "invalid request body",
            detail=[_problem((), f"the body is {reason}", "json_invalid")],
        ) from None
    if not isinstance(doc, dict):
        raise InvalidRequest(
            "not a notification envelope",
            detail=[_problem((), "the body must be a JSON object", "model_type")],
        )
    events = doc.get("events")
    if not isinstance(events, list):
        missing = "events" not in doc
        raise InvalidRequest(
            "not a notification envelope",
            detail=[
                _problem(
                    ("events",),
                    "Field required" if missing else "events must be a list",
                    "missing" if missing else "list_type",
                )
            ],
        )
    problems: list[dict[str, Any]] = []
    understood = 0
    named: dict[str, bool] = {}  # repository -> valid name; insertion-ordered
    changes: dict[str, list[Change]] = {}
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            problems.append(_problem(("events", i), "an event must be an object", "model_type"))
        else:
            action = event.get("action")
            if action is not None and not isinstance(action, str):
                problems.append(_problem(("events", i, "action"), "not a string", "string_type"))
            target = event.get("target")
            if target is None:
                continue
            if not isinstance(target, dict):
                loc: tuple[str | int, ...] = ("events", i, "target")
                problems.append(_problem(loc, "the target must be an object", "model_type"))
            else:
                for field in TARGET_STRINGS:
                    value = target.get(field)
                    if value is not None and not isinstance(value, str):
                        loc = ("events", i, "target", field)
                        problems.append(_problem(loc, "not a string", "string_type"))
                repo = target.get("repository")
                if not problems and isinstance(repo, str) and action != "pull":
                    valid = named.get(repo)
                    if valid is None:
                        valid = named[repo] = is_name(repo)
                    understood += valid
                    if valid:
                        changes.setdefault(repo, []).append(_change(repo, action, target, event))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise InvalidRequest("not a notification envelope", detail=problems)
    return understood, changes


def _change(repo: str, action: object, target: dict[str, Any], event: dict[str, Any]) -> Change:
    """What one event says changed (its fields were checked to be strings or null)."""
    actor = event.get("actor")
    name = actor.get("name") if isinstance(actor, dict) else None
    return Change(
        "notification",
        (repo,),
        action=action if action in ACTIONS else None,  # type: ignore[arg-type]
        tag=target.get("tag"),
        digest=target.get("digest"),
        media_type=target.get("mediaType"),
        actor=name if isinstance(name, str) else None,
    )


def repositories_named(body: bytes) -> tuple[int, list[str]]:
    """``read_envelope``, with (0, []) for anything that is not an envelope."""
    try:
        return read_envelope(body)
    except InvalidRequest:
        return 0, []


async def apply_events(registry: CachedRegistry, body: bytes) -> api.EventsAccepted:
    if len(body) > INLINE_BYTES:
        understood, by_repo = await anyio.to_thread.run_sync(read_changes, body)
    else:
        understood, by_repo = read_changes(body)
    repos = list(by_repo)
    for start in range(0, len(repos), SLICE):
        if start:
            await anyio.lowlevel.checkpoint()  # let other requests run between slices
        registry.notified([c for repo in repos[start : start + SLICE] for c in by_repo[repo]])
    return api.EventsAccepted(accepted=understood, repositories=repos)
