"""The registry's notification endpoint."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request

from gateway.dependencies import State
from gateway.errors import InvalidRequest, NotFound, Unauthorized
from gateway.models.api import EventEnvelope, EventsAccepted
from gateway.routers import errors
from gateway.routers.routing import GatewayRouter
from gateway.services.events import MAX_EVENTS_BYTES, apply_events

router = GatewayRouter(tags=["events"])


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` written in place (the body is read by
    hand, after the token check, so FastAPI does not list its model in components)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**defs[ref.removeprefix("#/$defs/")], **siblings})
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


_ENVELOPE_SCHEMA = _inlined(EventEnvelope.model_json_schema())
_REQUEST_BODY = {
    "required": True,
    "description": "A notification envelope as the registry sends it (distribution 3.x "
    "labels it events.v2, 2.8 events.v1: the same envelope); fields the gateway does not "
    "know are allowed (registries add them).",
    "content": {
        "application/vnd.docker.distribution.events.v2+json": {"schema": _ENVELOPE_SCHEMA},
        "application/vnd.docker.distribution.events.v1+json": {"schema": _ENVELOPE_SCHEMA},
        "application/json": {"schema": _ENVELOPE_SCHEMA},
    },
}


@router.post(
    "/api/events",
    response_model=EventsAccepted,
    summary="Registry notifications",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses=errors(
        {
            400: (
                (
                    "VALIDATION_ERROR",
                    "the body is not a notification envelope: not JSON, not an object, "
                    "events missing or not a list, an event or its target not an object, "
                    "or one of their string fields not a string (detail lists where)",
                ),
            ),
            401: (
                (
                    "UNAUTHORIZED",
                    "Authorization: Bearer is missing or is not the configured LR_EVENTS_TOKEN",
                ),
            ),
            404: (("NOT_FOUND", "the endpoint is off: LR_EVENTS_TOKEN is not set"),),
            413: (("PAYLOAD_TOO_LARGE", "the envelope is over 4 MiB"),),
        }
    ),
)
async def registry_events(request: Request, state: State) -> EventsAccepted:
    """Drop cached lists of the repositories named in a notification envelope, then
    record its pushes, pulls and deletes in the activity log (in the background: a store
    that cannot be written never delays or fails this answer).

    Authenticated by ``Authorization: Bearer <LR_EVENTS_TOKEN>``; off (404) without one.
    Events that change nothing (pulls, no target, an invalid repository name) are
    ignored; a body that is not an envelope is 400. The work is linear in the events
    and the entries dropped, and a large envelope is parsed off the event loop.
    """
    secret = state.settings.events_token
    if secret is None or not secret.get_secret_value():
        raise NotFound("not found")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    expected = secret.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise Unauthorized("a valid events token is required")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_EVENTS_BYTES:
            raise InvalidRequest("the event envelope is too large")
    accepted = await apply_events(state.registry, body)
    state.activity.notified(body)  # recorded in the background, after the invalidation
    return accepted
