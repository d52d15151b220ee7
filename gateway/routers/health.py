"""Health probes: liveness (the process serves) and readiness (the registry answers).

Restart the gateway when liveness fails; send it traffic only while readiness passes.
``/api/health`` is the readiness probe under its original name.
"""

from __future__ import annotations

from gateway import __version__
from gateway.dependencies import State
from gateway.errors import UpstreamUnavailable
from gateway.models.api import (
    ActivityStoreStatus,
    Health,
    LayerIndexStatus,
    Liveness,
    RegistryStatus,
    SharedStoreStatus,
)
from gateway.models.search import SearchStatus
from gateway.routers import errors
from gateway.routers.routing import GatewayRouter
from gateway.shared_state.store import StoreUnavailable

router = GatewayRouter(tags=["health"])

READY_ERRORS = errors(
    {
        503: (
            (
                "UPSTREAM_UNAVAILABLE",
                "the registry does not answer GET /v2/ with 200 or 401 (down, 5xx or "
                "too slow); detail is the Health body, with status unavailable",
            ),
        )
    }
)


@router.get("/api/health/live", response_model=Liveness, summary="Whether the gateway serves")
async def health_live() -> Liveness:
    """200 whenever the process can answer at all: the registry is not asked, so an
    orchestrator does not restart a healthy gateway because the registry is down. A
    wedged event loop answers nothing, and the probe's own timeout fails it."""
    return Liveness(status="ok", version=__version__)


@router.get(
    "/api/health",
    response_model=Health,
    summary="Whether the registry answers",
    responses=READY_ERRORS,
)
async def health(state: State) -> Health:
    """Whether the registry answers ``GET /v2/`` (200, or 401 which proves it is alive),
    within ``LR_CONNECT_TIMEOUT``: the readiness probe. ``/api/health/ready`` is the same."""
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
        redis=await _redis_status(state),
        layer_index=LayerIndexStatus(
            available=await state.files.available(),
            disk_bytes=state.files.engine.store.disk_bytes(),
        ),
        activity=ActivityStoreStatus(**state.activity.activity.health()),
        search=_search_status(state),
    )
    if not ping.reachable:
        raise UpstreamUnavailable(
            "the registry does not answer", status=503, detail=body.model_dump()
        )
    return body


def _search_status(state: State) -> SearchStatus | None:
    service = state.search
    if service is None:
        return None
    index, walker = service.index, state.search_walker
    if index is None:
        return SearchStatus(available=False, repositories=0, images=0, index_bytes=0,
                            walks_running=0)  # fmt: skip
    return SearchStatus(
        available=True,
        repositories=index.metrics.repositories,
        images=index.metrics.images,
        index_bytes=index.size_bytes(),
        walks_running=walker.progress.running if walker is not None else 0,
    )


async def _redis_status(state: State) -> SharedStoreStatus | None:
    if state.shared is None:
        return None
    try:
        latency = await state.shared.ping()
    except StoreUnavailable:
        return SharedStoreStatus(reachable=False, latency_ms=None)
    return SharedStoreStatus(reachable=True, latency_ms=round(latency, 2))


router.add_api_route(
    "/api/health/ready",
    health,
    methods=["GET"],
    response_model=Health,
    summary="Whether the registry answers (readiness)",
    responses=READY_ERRORS,
    name="health_ready",
)
