"""The registry's notification endpoint."""

from __future__ import annotations

import hmac

from fastapi import Request

from gateway.dependencies import State
from gateway.errors import InvalidRequest, NotFound, Unauthorized
from gateway.models.api import EventsAccepted
from gateway.routers import errors
from gateway.routers.routing import GatewayRouter
from gateway.services.events import MAX_EVENTS_BYTES, apply_events

router = GatewayRouter(tags=["events"])


@router.post(
    "/api/events",
    response_model=EventsAccepted,
    summary="Registry notifications",
    responses=errors(
        {
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
    """Drop cached lists of the repositories named in a notification envelope.

    Authenticated by ``Authorization: Bearer <LR_EVENTS_TOKEN>``; off (404) without one.
    """
    secret = state.settings.events_token
    if secret is None or not secret.get_secret_value():
        raise NotFound("not found", code="NOT_FOUND")
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
    return apply_events(state.registry, body)
