from __future__ import annotations

from typing import Annotated

from fastapi import Query

from gateway.dependencies import CurrentCaller, Digest, RepoName, State, Tag
from gateway.models.api import ImageDeleted, TagDeleted
from gateway.routers import STATE_CHANGING, UPSTREAM, errors
from gateway.routers.routing import GatewayRouter

router = GatewayRouter(tags=["delete"])


@router.delete(
    "/api/repositories/{name:repository}/images/{digest}",
    status_code=202,
    response_model=ImageDeleted,
    summary="Delete an image, and every tag on it",
    responses=errors(
        {
            400: ("NAME_INVALID", "DIGEST_INVALID"),
            403: (
                "DELETE_DISABLED",
                ("DENIED", "the registry refuses this caller the delete"),
            ),
            404: ("NAME_UNKNOWN", ("MANIFEST_UNKNOWN", "no such digest in this repository")),
            405: ("UNSUPPORTED",),
        },
        UPSTREAM,
        STATE_CHANGING,
    ),
)
async def delete_image(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    digest: Digest,
    with_referrers: Annotated[
        bool,
        Query(
            description="Delete its referrers too (signatures, SBOMs, attestations and the "
            "sha256-<hex> fallback index); without it they stay and are listed in "
            "referrers_left."
        ),
    ] = False,
) -> ImageDeleted:
    """Delete a manifest by digest, and so every tag pointing at it (when deletes are
    enabled; otherwise 403 ``DELETE_DISABLED`` and nothing is sent to the registry).
    A deleted referrer is taken out of its subject's fallback index."""
    deleted = await state.deletes.delete_image(caller, name, digest, with_referrers=with_referrers)
    state.last_changed.note((name,))
    return deleted


@router.delete(
    "/api/repositories/{name:repository}/tags/{tag}",
    status_code=202,
    response_model=TagDeleted,
    summary="Delete one tag",
    responses=errors(
        {
            400: ("NAME_INVALID", "TAG_INVALID"),
            403: (
                "DELETE_DISABLED",
                (
                    "DENIED",
                    "the registry refuses this caller the delete (on distribution 2.x a "
                    "tag delete needs push and delete rights)",
                ),
            ),
            404: ("NAME_UNKNOWN", ("MANIFEST_UNKNOWN", "no such tag in this repository")),
            405: ("UNSUPPORTED",),
        },
        UPSTREAM,
        STATE_CHANGING,
    ),
)
async def delete_tag(state: State, caller: CurrentCaller, name: RepoName, tag: Tag) -> TagDeleted:
    """Remove one tag; other tags on the same digest survive (when deletes are enabled;
    otherwise 403 ``DELETE_DISABLED`` and nothing is sent to the registry)."""
    deleted = await state.deletes.delete_tag(caller, name, tag)
    state.last_changed.note((name,))
    return deleted
