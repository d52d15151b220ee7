"""``GET /metrics``: the Prometheus text format, outside ``/api`` and the OpenAPI schema.

Open unless ``LR_METRICS_TOKEN`` is set; then ``Authorization: Bearer <token>`` is
required (compared in constant time), and anything else is a 401 with the envelope —
never a ``WWW-Authenticate: Basic`` that would pop a browser's login dialog.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.dependencies import State
from gateway.errors import Unauthorized

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def prometheus_metrics(request: Request, state: State) -> Response:
    # ``async``: the collectors read the caches and the session store on the event
    # loop, where everything else changes them, so a scrape sees them still.
    secret = state.settings.metrics_token
    if secret is not None and secret.get_secret_value():
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = secret.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise Unauthorized("a valid metrics token is required")
    body = generate_latest(state.metrics.registry)
    return Response(
        body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
    )
