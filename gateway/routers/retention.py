"""Retention previews and their application, and bulk deletes (services/retention.py,
services/bulk_delete.py). Deletes enabled only; CSRF rules as for every POST."""

from __future__ import annotations

from gateway.dependencies import CurrentCaller, RepoName, State
from gateway.models.usage import (
    ApplyRequest,
    BulkDeleteRequest,
    DeleteResults,
    RetentionPlan,
    RetentionRules,
)
from gateway.routers import STATE_CHANGING, UPSTREAM, errors
from gateway.routers.routing import GatewayRouter

router = GatewayRouter(tags=["retention"])

_DISABLED = {403: ("DELETE_DISABLED",)}


@router.post(
    "/api/repositories/{name:repository}/retention/preview",
    response_model=RetentionPlan,
    summary="What retention rules would delete, and what stays",
    responses=errors(
        {
            400: (("VALIDATION_ERROR", "an invalid regex or rule"), "NAME_INVALID"),
            404: ("NAME_UNKNOWN",),
        },
        _DISABLED,
        UPSTREAM,
        STATE_CHANGING,
    ),
)
async def preview(
    state: State, caller: CurrentCaller, name: RepoName, rules: RetentionRules
) -> RetentionPlan:
    """The tags the rules delete and those kept (with the rule that kept each), the
    manifests that would go, the bytes freed, and a plan_id pinning these digests.
    Nothing is deleted."""
    return await state.retention.preview(caller, name, rules)


@router.post(
    "/api/repositories/{name:repository}/retention/apply",
    response_model=DeleteResults,
    summary="Apply a retention preview's plan",
    responses=errors(
        {
            400: ("VALIDATION_ERROR", "NAME_INVALID"),
            404: (("PLAN_UNKNOWN", "no such plan for this caller, or it expired"),),
            409: (
                (
                    "PLAN_STALE",
                    "a planned tag now points elsewhere, or a kept tag now reaches a planned "
                    "manifest; nothing was deleted",
                ),
            ),
        },
        _DISABLED,
        UPSTREAM,
        STATE_CHANGING,
    ),
)
async def apply(
    state: State, caller: CurrentCaller, name: RepoName, body: ApplyRequest
) -> DeleteResults:
    """Delete exactly the plan's tags and manifests, answered per item."""
    results = await state.retention.apply(caller, name, body.plan_id)
    if any(r.status == "deleted" for r in results):
        state.last_changed.note((name,))
    return DeleteResults(results=results)


@router.post(
    "/api/repositories/{name:repository}/delete",
    response_model=DeleteResults,
    summary="Delete several tags and manifests",
    responses=errors(
        {400: ("VALIDATION_ERROR", "NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID")},
        _DISABLED,
        UPSTREAM,
        STATE_CHANGING,
    ),
)
async def bulk_delete(
    state: State, caller: CurrentCaller, name: RepoName, body: BulkDeleteRequest
) -> DeleteResults:
    """Remove the tags (other tags on their digests survive), then delete the manifests
    (every tag on them goes); one result per item: deleted, already_gone or failed (with
    the error, e.g. 403 DENIED for a caller without delete rights)."""
    results = await state.bulk_deletes.delete(caller, name, body.tags, body.digests)
    if any(r.status == "deleted" for r in results):
        state.last_changed.note((name,))
    return DeleteResults(results=results)
