"""The activity log: the feed and the stale report (services/activity.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from gateway.dependencies import CurrentCaller, State
from gateway.models.activity import ActivityPage, StalePage
from gateway.routers import UPSTREAM, errors
from gateway.routers.routing import GatewayRouter

router = GatewayRouter(tags=["activity"])

UNAVAILABLE = {
    503: (
        (
            "ACTIVITY_UNAVAILABLE",
            "the activity store cannot be read now (a full or read-only data folder, Redis "
            "down): refused rather than answered empty",
        ),
    )
}


@router.get(
    "/api/activity",
    response_model=ActivityPage,
    summary="Pushes, pulls and deletes, newest first",
    responses=errors({400: ("VALIDATION_ERROR",)}, UNAVAILABLE, UPSTREAM),
)
async def activity_feed(
    state: State,
    caller: CurrentCaller,
    repository: Annotated[str, Query(max_length=256, description="Only this repository.")] = "",
    action: Annotated[str, Query(description="push, pull or delete.")] = "",
    actor: Annotated[str, Query(max_length=256, description="Only this user's.")] = "",
    since: Annotated[str, Query(max_length=64, description="Only after this RFC 3339 time.")] = "",
    n: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 50,
    last: Annotated[str, Query(max_length=64, description="The previous page's next.")] = "",
) -> ActivityPage:
    """What the registry notified and what was made through the gateway, of the
    repositories the registry lets the caller pull. A pull is a manifest GET by a client;
    the gateway's own reads and HEAD requests are never pulls."""
    page = await state.activity.feed(
        caller,
        repository=repository or None,
        action=action or None,
        actor=actor or None,
        since=since or None,
        n=n,
        last=last or None,
    )
    return ActivityPage.model_validate(page)


@router.get(
    "/api/stale",
    response_model=StalePage,
    summary="Tags whose image was not pulled for days",
    responses=errors({400: ("VALIDATION_ERROR", "NAME_INVALID")}, UNAVAILABLE, UPSTREAM),
)
async def stale_tags(
    state: State,
    caller: CurrentCaller,
    days: Annotated[float, Query(gt=0, le=36500, description="The period, in days.")] = 30,
    repository: Annotated[str, Query(max_length=256, description="Only this repository.")] = "",
    n: Annotated[int, Query(ge=1, le=1000, description="Tags per page.")] = 50,
    last: Annotated[str, Query(max_length=400, description="The previous page's next.")] = "",
) -> StalePage:
    """Tags (in repository, then tag order) whose image was not pulled in ``days`` days,
    with what deleting only that tag would free. Never pulled since ``tracking_since``
    counts as not pulled; a tag pushed within the period is left out (too new)."""
    page = await state.activity.stale(
        caller,
        state.usage,
        days=days,
        repository=repository or None,
        n=n,
        last=last or None,
    )
    return StalePage.model_validate(page)
