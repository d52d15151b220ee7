"""From one notification event (the registry's JSON) to an activity record, or nothing.

Pure functions: what an event means depends on the event, the store's origin (see
``gateway.activity.agent``) and, for an event without a usable timestamp, the time it
arrived. The rules, in order:

1. Not an object, no valid repository name → skipped (``invalid``). Actions other than
   ``push``, ``pull`` and ``delete`` (``mount``) → skipped (``action``).
2. Sent by this gateway (the echo of a request it recorded itself) → skipped
   (``echo``), whatever the action.
3. A pull by any Light Registry gateway → skipped (``gateway_read``): browsing, usage
   walks, indexing and ``/v2`` cache fills are never pulls.
4. Pushes and pulls of blobs (``target.url`` names ``/blobs/``; without a URL, a media
   type that is not a manifest's) → skipped (``blob``): a pull is a manifest ``GET``.
5. A tag or digest that is not one, a push or pull without a digest → skipped
   (``invalid``). A pull whose ``request.method`` is not ``GET`` → skipped (``head``);
   without a method (a registry that does not say) the event is taken at its word.
6. The push of a tag-delete placeholder → a record marked ``placeholder`` (never
   listed; the store remembers it so that its delete by digest is not listed either).
7. Everything else → a record, ``via: registry``: pushes by tag or digest, pulls, and
   deletes as the registry sends them (a delete by digest is one event for the digest
   and one per tag it removed; a repository delete names neither).

The event carries the truth: the record takes its repository, tag and digest from the
event, never from reading the registry back (2.8 notifies a push before the tag reads).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.activity import agent
from gateway.activity.placeholder import is_placeholder_push
from gateway.activity.records import TEXT_LIMITS, Action, Record, clean_text, parse_time
from gateway.models import media_types as mt
from gateway.registry.names import is_digest, is_name, is_tag

SkipReason = Literal["invalid", "action", "echo", "gateway_read", "blob", "head"]
SKIP_REASONS: tuple[SkipReason, ...] = ("invalid", "action", "echo", "gateway_read", "blob", "head")

#: Manifest media types a registry may name in an event (schema 1 included: old pushes).
MANIFEST_MEDIA_TYPES = mt.MANIFEST_TYPES | {mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED}
_ACTIONS: dict[str, Action] = {"push": "push", "pull": "pull", "delete": "delete"}


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: SkipReason


def _event_id(event: Mapping[str, Any]) -> str:
    """The event's id; for one without (not distribution), a digest of its content so
    that a second delivery is still the same record."""
    given = clean_text(event.get("id"), TEXT_LIMITS["id"])
    if given is not None:
        return given
    try:
        canonical = json.dumps(event, sort_keys=True, default=str).encode()
    except (TypeError, ValueError):
        canonical = repr(sorted(event.items(), key=lambda kv: str(kv[0]))).encode()
    return "content-" + hashlib.sha256(canonical).hexdigest()[:32]


def _is_manifest(target: Mapping[str, Any]) -> bool:
    url = target.get("url")
    if isinstance(url, str) and url:
        path = urlsplit(url).path
        if "/manifests/" in path:
            return True
        if "/blobs/" in path:
            return False
    media_type = target.get("mediaType")
    return isinstance(media_type, str) and mt.base(media_type) in MANIFEST_MEDIA_TYPES


def classify(event: object, *, origin: str | None, now: int) -> Record | Skipped:
    """The record one notification event makes (see the module's docstring).

    ``origin`` is this store's origin (None: no echo is recognised); ``now`` (µs) dates
    an event whose timestamp is missing or unreadable.
    """
    if not isinstance(event, Mapping):
        return Skipped("invalid")
    action = _ACTIONS.get(event.get("action"))  # type: ignore[arg-type]
    if action is None:
        return Skipped("action" if isinstance(event.get("action"), str) else "invalid")
    target = event.get("target")
    request = event.get("request")
    request = request if isinstance(request, Mapping) else {}
    if not isinstance(target, Mapping):
        return Skipped("invalid")
    repository = target.get("repository")
    tag = target.get("tag") or None
    digest = target.get("digest") or None
    if not isinstance(repository, str) or not is_name(repository):
        return Skipped("invalid")
    user_agent = request.get("useragent")
    if agent.is_echo(user_agent, origin):
        return Skipped("echo")
    if action == "pull" and agent.is_gateway(user_agent):
        return Skipped("gateway_read")
    if action in ("push", "pull") and not _is_manifest(target):
        return Skipped("blob")
    if tag is not None and not (isinstance(tag, str) and is_tag(tag)):
        return Skipped("invalid")
    if digest is not None and not (isinstance(digest, str) and is_digest(digest)):
        return Skipped("invalid")
    if action in ("push", "pull") and digest is None:
        return Skipped("invalid")
    if action == "pull":
        method = request.get("method")
        if isinstance(method, str) and method and method.upper() != "GET":
            return Skipped("head")

    actor = event.get("actor")
    time = parse_time(event.get("timestamp"))
    return Record(
        id=_event_id(event),
        time=now if time is None else time,
        action=action,
        repository=repository,
        tag=tag,
        digest=digest,
        media_type=clean_text(target.get("mediaType"), TEXT_LIMITS["media_type"]),
        actor=clean_text(actor.get("name"), TEXT_LIMITS["actor"])
        if isinstance(actor, Mapping)
        else None,
        addr=clean_text(request.get("addr"), TEXT_LIMITS["addr"]),
        user_agent=clean_text(agent.shown(user_agent), TEXT_LIMITS["user_agent"])
        if isinstance(user_agent, str)
        else None,
        via="registry",
        placeholder=action == "push" and is_placeholder_push(repository, tag, digest),
    )


def classify_all(
    events: object, *, origin: str | None, now: int
) -> tuple[list[Record], list[Skipped]]:
    """Every event of an envelope's ``events`` list: (records, skipped)."""
    records: list[Record] = []
    skipped: list[Skipped] = []
    if not isinstance(events, list):
        return records, skipped
    for event in events:
        result = classify(event, origin=origin, now=now)
        if isinstance(result, Record):
            records.append(result)
        else:
            skipped.append(result)
    return records, skipped


def gateway_record(
    action: Action,
    repository: str,
    *,
    time: int,
    tag: str | None = None,
    digest: str | None = None,
    media_type: str | None = None,
    actor: str | None = None,
    addr: str | None = None,
    user_agent: str | None = None,
    record_id: str | None = None,
) -> Record:
    """A push, pull or delete made through the gateway (its API, retention, bulk
    delete, ``/v2``), recorded as the real client: ``actor`` is the gateway's caller,
    ``addr`` and ``user_agent`` the client's. The registry's echo of it is skipped."""
    if not is_name(repository):
        raise ValueError(f"not a repository name: {repository!r}")
    return Record(
        id=record_id or f"gateway-{uuid.uuid4().hex}",
        time=time,
        action=action,
        repository=repository,
        tag=tag,
        digest=digest,
        media_type=clean_text(media_type, TEXT_LIMITS["media_type"]),
        actor=clean_text(actor, TEXT_LIMITS["actor"]),
        addr=clean_text(addr, TEXT_LIMITS["addr"]),
        user_agent=clean_text(user_agent, TEXT_LIMITS["user_agent"]),
        via="gateway",
    )
