"""The registry's notifications: drop the cached lists of the repositories they name."""

from __future__ import annotations

import json

from gateway.models import api
from gateway.registry.names import is_name
from gateway.services.cached_registry import CachedRegistry

MAX_EVENTS_BYTES = 4 * 1024 * 1024


def repositories_named(body: bytes) -> tuple[int, list[str]]:
    """(events understood, repositories named) of an envelope; anything odd is ignored."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        return 0, []
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        return 0, []
    understood = 0
    repos: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        target = event.get("target")
        repo = target.get("repository") if isinstance(target, dict) else None
        if isinstance(repo, str) and is_name(repo) and event.get("action") != "pull":
            understood += 1
            if repo not in repos:
                repos.append(repo)
    return understood, repos


def apply_events(registry: CachedRegistry, body: bytes) -> api.EventsAccepted:
    understood, repos = repositories_named(body)
    for repo in repos:
        registry.forget_repository(repo)
    return api.EventsAccepted(accepted=understood, repositories=repos)
