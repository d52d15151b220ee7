from __future__ import annotations

from fastapi import APIRouter

from gateway import __version__
from gateway.dependencies import State
from gateway.errors import UpstreamUnavailable
from gateway.models.api import Health, RegistryStatus
from gateway.routers import errors

router = APIRouter(tags=["health"])


@router.get(
    "/api/health",
    response_model=Health,
    summary="Whether the registry answers",
    responses=errors(
        {
            503: (
                (
                    "UPSTREAM_UNAVAILABLE",
                    "the registry does not answer GET /v2/ with 200 or 401 (down, 5xx or "
                    "too slow); detail is the Health body, with status unavailable",
                ),
            )
        }
    ),
)
async def health(state: State) -> Health:
    """Whether the registry answers ``GET /v2/`` (200, or 401 which proves it is alive)."""
    ping = await state.status.ping()
    auth = ping.auth if ping.auth in ("none", "basic", "bearer") else "none"
    body = Health(
        status="ok" if ping.reachable else "unavailable",
        version=__version__,
        registry=RegistryStatus(
            url=state.settings.registry_url,
            reachable=ping.reachable,
            status_code=ping.status_code,
            api_version=ping.api_version,
            auth=auth,
            latency_ms=ping.latency_ms,
        ),
    )
    if not ping.reachable:
        raise UpstreamUnavailable(
            "the registry does not answer", status=503, detail=body.model_dump()
        )
    return body
