from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.dependencies import CurrentCaller, Reference, RepoName, State
from gateway.models.api import ImageConfig, ImageDetail
from gateway.routers import UPSTREAM, errors

router = APIRouter(tags=["images"])


@router.get(
    "/api/repositories/{name:path}/images/{reference}/config",
    response_model=ImageConfig,
    responses=errors(400, 404, *UPSTREAM),
)
async def get_image_config(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    reference: Reference,
    platform: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?$",
            description="os/architecture[/variant]; required for a multi-platform index.",
        ),
    ] = None,
    os_version: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[A-Za-z0-9._-]+$",
            description="The platform's os.version, to tell apart Windows images.",
        ),
    ] = None,
) -> ImageConfig:
    """An image's config and build history (one platform of an index)."""
    return await state.images.config(caller, name, reference, platform, os_version)


@router.get(
    "/api/repositories/{name:path}/images/{reference}",
    response_model=ImageDetail,
    responses=errors(400, 404, *UPSTREAM),
)
async def get_image(
    state: State, caller: CurrentCaller, name: RepoName, reference: Reference
) -> ImageDetail:
    """A tag or digest resolved: every platform image, attestations, sizes and tags."""
    return await state.images.detail(caller, name, reference)
