from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.dependencies import CurrentCaller, RepoName, State
from gateway.models.api import RepositoryPage, TagPage
from gateway.routers import UPSTREAM, errors
from gateway.services.tags import Sort

router = APIRouter(tags=["repositories"])


@router.get("/api/repositories", response_model=RepositoryPage, responses=errors(400, *UPSTREAM))
async def list_repositories(
    state: State,
    caller: CurrentCaller,
    n: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 50,
    last: Annotated[
        str | None, Query(max_length=255, description="The previous page's next.")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=255, description="Case-insensitive substring of the name.")
    ] = None,
) -> RepositoryPage:
    """One page of repositories (sorted by name) with their tag counts."""
    return await state.repositories.page(caller, n=n, last=last or None, q=q or None)


@router.get(
    "/api/repositories/{name:path}/tags",
    response_model=TagPage,
    responses=errors(400, 404, *UPSTREAM),
)
async def list_tags(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    n: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    last: Annotated[
        str | None, Query(max_length=128, description="The previous page's next.")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=128, description="Case-insensitive substring of the tag.")
    ] = None,
    sort: Annotated[Sort, Query(description="Order; created implies details.")] = "name",
    details: Annotated[
        bool, Query(description="Fill digest, kind, platforms, size and created.")
    ] = False,
) -> TagPage:
    """One page of a repository's tags, optionally with each tag's resolved details."""
    return await state.tags.page(
        caller, name, n=n, last=last or None, q=q or None, sort=sort, details=details
    )
