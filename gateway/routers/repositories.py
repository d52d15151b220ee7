from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from gateway.dependencies import CurrentCaller, RepoName, State
from gateway.models.api import RepositoryPage, TagPage
from gateway.registry.names import (
    NAME_MAX,
    NAME_PATTERN,
    SEARCH_PATTERN,
    TAG_MAX,
    TAG_PATTERN,
    anchored,
)
from gateway.routers import UPSTREAM, errors, warm
from gateway.routers.routing import GatewayRouter
from gateway.services.tags import Sort

router = GatewayRouter(tags=["repositories"])


@router.get(
    "/api/repositories",
    response_model=RepositoryPage,
    summary="List repositories with tag counts",
    responses=errors(
        {
            400: (
                (
                    "VALIDATION_ERROR",
                    "n outside 1..1000, last not a repository name, or last or q over 255 "
                    "characters or holding a control character",
                ),
                "PAGINATION_NUMBER_INVALID",
            ),
            404: (("NOT_FOUND", "the registry serves no catalog (GET /v2/_catalog is 404)"),),
        },
        UPSTREAM,
    ),
)
async def list_repositories(
    request: Request,
    state: State,
    caller: CurrentCaller,
    n: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 50,
    last: Annotated[
        str | None,
        Query(
            max_length=NAME_MAX,
            pattern=anchored(NAME_PATTERN, optional=True),
            description="The previous page's next (a repository name).",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=NAME_MAX,
            pattern=anchored(SEARCH_PATTERN),
            description="Case-insensitive substring of the name.",
        ),
    ] = None,
) -> Response:
    """One page of repositories (sorted by name) with their tag counts. ``q`` filters the
    whole catalog; a repository whose tags cannot be counted is a row with ``error``."""
    return await warm.answer(
        request,
        state,
        caller,
        lambda: state.repositories.page(caller, n=n, last=last or None, q=q or None),
        lambda page: not any(row.error for row in page.repositories),
    )


@router.get(
    "/api/repositories/{name:repository}/tags",
    response_model=TagPage,
    summary="List a repository's tags",
    responses=errors(
        {
            400: (
                (
                    "VALIDATION_ERROR",
                    "n outside 1..1000, an unknown sort, last not a tag, or last or q over "
                    "128 characters or holding a control character",
                ),
                "NAME_INVALID",
                "PAGINATION_NUMBER_INVALID",
            ),
            404: ("NAME_UNKNOWN",),
        },
        UPSTREAM,
    ),
)
async def list_tags(
    request: Request,
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    n: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    last: Annotated[
        str | None,
        Query(
            max_length=TAG_MAX,
            pattern=anchored(TAG_PATTERN, optional=True),
            description="The previous page's next (a tag).",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=TAG_MAX,
            pattern=anchored(SEARCH_PATTERN),
            description="Case-insensitive substring of the tag.",
        ),
    ] = None,
    sort: Annotated[Sort, Query(description="Order; created implies details.")] = "name",
    details: Annotated[
        bool, Query(description="Fill digest, kind, platforms, size, created and referrers.")
    ] = False,
    include_artifacts: Annotated[
        bool,
        Query(
            description="List the artifact tags too (sha256-<hex> referrers fallback, cosign's "
            "sha256-<hex>.sig/.att/.sbom); by default they are left out and counted in hidden."
        ),
    ] = False,
) -> Response:
    """One page of a repository's tags, optionally with each tag's resolved details
    (``details=true``: digest, kind, platforms, size, created). A tag whose details cannot
    be read is a row with ``error``."""
    return await warm.answer(
        request,
        state,
        caller,
        lambda: state.tags.page(
            caller,
            name,
            n=n,
            last=last or None,
            q=q or None,
            sort=sort,
            details=details,
            include_artifacts=include_artifacts,
        ),
        lambda page: page.complete and not any(row.error for row in page.tags),
    )
