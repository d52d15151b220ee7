"""Storage usage of a repository and of the registry (services/usage.py)."""

from __future__ import annotations

from gateway.dependencies import CurrentCaller, RepoName, State
from gateway.models.usage import RegistryUsage, RepositoryUsage, RepositoryUsageRow, TagUsage
from gateway.routers import UPSTREAM, errors
from gateway.routers.routing import GatewayRouter

router = GatewayRouter(tags=["usage"])


@router.get(
    "/api/repositories/{name:repository}/usage",
    response_model=RepositoryUsage,
    summary="A repository's storage, per tag",
    responses=errors({400: ("NAME_INVALID",), 404: ("NAME_UNKNOWN",)}, UPSTREAM),
)
async def repository_usage(state: State, caller: CurrentCaller, name: RepoName) -> RepositoryUsage:
    """Every distinct blob (layers, configs) and manifest the repository's tags reach,
    counted once; per tag its own closure and what deleting only it would free."""
    figures = await state.usage.repository(caller, name)
    return RepositoryUsage(
        repository=name,
        tags=len(figures.by_tag),
        manifests=figures.manifests,
        blobs=figures.blobs,
        total_bytes=figures.total_bytes,
        by_tag=[
            TagUsage(
                tag=row.tag, digest=row.digest, bytes=row.bytes, exclusive_bytes=row.exclusive_bytes
            )
            for row in figures.by_tag
        ],
    )


@router.get(
    "/api/usage",
    response_model=RegistryUsage,
    summary="The registry's storage, per repository",
    responses=errors(
        {404: (("NOT_FOUND", "the registry serves no catalog (GET /v2/_catalog is 404)"),)},
        UPSTREAM,
    ),
)
async def registry_usage(state: State, caller: CurrentCaller) -> RegistryUsage:
    """Over every repository the caller may read: distinct bytes once (``total_bytes``),
    the naive sum, and per repository its bytes and the bytes no other repository
    references. A large registry answers within the request deadline with
    ``complete: false``; the walk goes on in the background and the next call serves
    more."""
    usage = await state.usage.registry_usage(caller)
    return RegistryUsage(
        total_bytes=usage.figures.total_bytes,
        naive_bytes=usage.figures.naive_bytes,
        complete=usage.complete,
        repositories_counted=usage.counted,
        repositories_total=usage.total,
        repositories=[
            RepositoryUsageRow(name=name, bytes=size, exclusive_bytes=exclusive)
            for name, size, exclusive in usage.figures.repositories
        ],
    )
