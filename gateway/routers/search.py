"""``GET /api/search``: digests, labels, tag globs and packages across the registry
(services/search.py; the syntax in docs/search.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query as Param

from gateway.dependencies import CurrentCaller, State
from gateway.errors import InvalidRequest, SearchUnavailable
from gateway.models.search import (
    SearchIndexed,
    SearchMatch,
    SearchPage,
    SearchQuery,
    SearchResult,
)
from gateway.registry.credentials import Caller
from gateway.routers import UPSTREAM, errors
from gateway.routers.routing import GatewayRouter
from gateway.search import NameSearch, from_box, from_params, page_size
from gateway.services.search import SearchService

router = GatewayRouter(tags=["search"])


@router.get(
    "/api/search",
    response_model=SearchPage,
    summary="Find tags by digest, label, tag glob or package, in every repository",
    responses=errors(
        {
            400: ("VALIDATION_ERROR", "TAG_INVALID", "DIGEST_INVALID"),
            503: ("SEARCH_UNAVAILABLE",),
        },
        UPSTREAM,
    ),
)
async def search(
    state: State,
    caller: CurrentCaller,
    digest: Annotated[str | None, Param(description="sha256:<hex>, or 12+ hex digits")] = None,
    label: Annotated[str | None, Param(description="key, or key=value")] = None,
    tag: Annotated[str | None, Param(description="a glob: * any characters, ? one")] = None,
    package: Annotated[str | None, Param(description="name, or name@version")] = None,
    q: Annotated[
        str | None,
        Param(
            description="The search box's text instead of the four: label:k=v, tag:glob, "
            "pkg:name@version, digest:…, a digest or 12+ hex digits; anything else is a "
            "repository name filter (answered in ``repositories``)."
        ),
    ] = None,
    n: Annotated[int | None, Param(description="Results per page, 1 to 1000")] = None,
    last: Annotated[str | None, Param(description="The previous page's next")] = None,
) -> SearchPage:
    """Every tag (and platform of a multi-platform index) that is, contains or uses a
    digest, has a label, matches a tag glob, or lists a package in its SBOMs, from the
    index alone, among the repositories the caller may pull. Exactly one of ``digest``,
    ``label``, ``tag``, ``package`` (or ``q``)."""
    size = page_size(n)
    if q is not None:
        if any(v is not None for v in (digest, label, tag, package)):
            raise InvalidRequest("give q alone, or one of digest, label, tag or package")
        understood = from_box(q)
    else:
        understood = from_params(digest=digest, label=label, tag=tag, package=package)
    service = state.search
    if service is None:
        raise SearchUnavailable("the search index could not be opened on this replica")
    if isinstance(understood, NameSearch):
        return await _names(service, caller, understood.text, size)
    page, _names_seen = await service.search(caller, understood, size, last)
    return SearchPage(
        results=[
            SearchResult(
                repository=r.repository,
                tag=r.tag,
                digest=r.digest,
                platform=r.platform,
                match=SearchMatch(kind=r.match.kind, value=r.match.value),
            )
            for r in page.results
        ],
        complete=page.complete,
        indexed=SearchIndexed(
            repositories=page.indexed.repositories,
            images=page.indexed.images,
            as_of=page.indexed.as_of,
        ),
        next=page.next,
        query=SearchQuery(kind=understood.kind, text=understood.text),
    )


async def _names(service: SearchService, caller: Caller, text: str, size: int) -> SearchPage:
    visible = await service.visible(caller)
    wanted = text.lower()
    found = [name for name in visible.names if wanted in name.lower()][:size]
    return SearchPage(
        results=[],
        complete=visible.complete,
        indexed=SearchIndexed(repositories=0, images=0, as_of=None),
        next=None,
        query=SearchQuery(kind="name", text=text),
        repositories=found,
    )
