from __future__ import annotations

from fastapi import APIRouter

from gateway.dependencies import CurrentCaller, Digest, RepoName, State, Tag
from gateway.models.api import ImageDeleted, TagDeleted
from gateway.routers import UPSTREAM, errors

router = APIRouter(tags=["delete"])


@router.delete(
    "/api/repositories/{name:path}/images/{digest}",
    status_code=202,
    response_model=ImageDeleted,
    responses=errors(400, 404, 405, *UPSTREAM),
)
async def delete_image(
    state: State, caller: CurrentCaller, name: RepoName, digest: Digest
) -> ImageDeleted:
    """Delete a manifest by digest, and so every tag pointing at it (when enabled)."""
    return await state.deletes.delete_image(caller, name, digest)


@router.delete(
    "/api/repositories/{name:path}/tags/{tag}",
    status_code=202,
    response_model=TagDeleted,
    responses=errors(400, 404, 405, *UPSTREAM),
)
async def delete_tag(state: State, caller: CurrentCaller, name: RepoName, tag: Tag) -> TagDeleted:
    """Remove one tag; other tags on the same digest survive (when enabled)."""
    return await state.deletes.delete_tag(caller, name, tag)
