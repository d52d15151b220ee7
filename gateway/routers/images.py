from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from gateway.dependencies import CurrentCaller, Reference, RepoName, State
from gateway.models.api import ImageConfig, ImageDetail
from gateway.routers import UPSTREAM, errors, warm
from gateway.routers.routing import GatewayRouter

router = GatewayRouter(tags=["images"])


@router.get(
    "/api/repositories/{name:repository}/images/{reference}/config",
    response_model=ImageConfig,
    summary="An image's config and build history",
    responses=errors(
        {
            400: (
                (
                    "VALIDATION_ERROR",
                    "platform or os_version is malformed (detail lists each problem), or "
                    "the reference is a multi-platform index and platform is missing or "
                    "matches several images (detail: {platforms, choices}, each choice "
                    "{platform, os_version, digest})",
                ),
                "NAME_INVALID",
                "TAG_INVALID",
                "DIGEST_INVALID",
            ),
            404: (
                "NAME_UNKNOWN",
                (
                    "MANIFEST_UNKNOWN",
                    "no such tag or digest; no image for that platform in the index "
                    "(detail: {platforms, choices}); or not an image (detail.media_type)",
                ),
                ("BLOB_UNKNOWN", "the image's config blob is missing from the repository"),
            ),
        },
        UPSTREAM,
    ),
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
    """An image's config (env, entrypoint, cmd, labels…) and build history, each history
    step matched to its layer. For a multi-platform index, ``platform`` picks the child
    (required when it has more than one)."""
    return await state.images.config(caller, name, reference, platform, os_version)


@router.get(
    "/api/repositories/{name:repository}/images/{reference}",
    response_model=ImageDetail,
    summary="Resolve a tag or digest to its images",
    responses=errors(
        {
            400: ("NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID"),
            404: (
                "NAME_UNKNOWN",
                "MANIFEST_UNKNOWN",
                (
                    "BLOB_UNKNOWN",
                    "a single image's config blob is missing (a missing child of an index "
                    "is reported in its platforms[] entry instead)",
                ),
            ),
        },
        UPSTREAM,
    ),
)
async def get_image(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, reference: Reference
) -> Response:
    """A tag or digest resolved: every platform image with its layers, the attestations
    apart, sizes, the tags on the same digest and its referrers counted by kind. A child
    of an index that cannot be read is an entry with ``error`` set, not a failed answer."""
    return await warm.answer(
        request,
        state,
        caller,
        lambda: state.images.detail(caller, name, reference),
        lambda image: (
            image.tags_complete
            and not any(p.error for p in image.platforms)
            and not any(a.error for a in image.attestations)
        ),
    )
