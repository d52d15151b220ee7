"""What refers to an image: signatures, SBOMs, attestations (gateway/services/referrers.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from gateway.dependencies import CurrentCaller, Reference, RepoName, State
from gateway.models.api import ReferrerList
from gateway.routers import UPSTREAM, errors, warm
from gateway.routers.routing import GatewayRouter

router = GatewayRouter(tags=["images"])


@router.get(
    "/api/repositories/{name:repository}/images/{reference}/referrers",
    response_model=ReferrerList,
    summary="Signatures, SBOMs and attestations of an image",
    responses=errors(
        {
            400: (
                (
                    "VALIDATION_ERROR",
                    "artifact_type or platform is malformed; platform given for a single "
                    "image, or missing a match in the index (detail: {platforms, choices})",
                ),
                "NAME_INVALID",
                "TAG_INVALID",
                "DIGEST_INVALID",
            ),
            404: (
                "NAME_UNKNOWN",
                (
                    "MANIFEST_UNKNOWN",
                    "no such tag or digest, or no image for that platform in the index",
                ),
            ),
        },
        UPSTREAM,
    ),
)
async def get_referrers(
    request: Request,
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    reference: Reference,
    artifact_type: Annotated[
        str | None,
        Query(
            max_length=255,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
            description="Only the referrers of this artifact type, e.g. application/spdx+json.",
        ),
    ] = None,
    platform: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?$",
            description="os/architecture[/variant]: the referrers of that child of an index "
            "rather than of the index itself.",
        ),
    ] = None,
) -> Response:
    """Every artifact that refers to the image: from the registry's referrers API when it
    has one, else the fallback index tagged ``sha256-<hex>``, plus cosign's
    ``sha256-<hex>.sig``/``.att``/``.sbom`` tags (one entry per layer). ``source`` says
    which; ``kind`` is signature, sbom, attestation or other."""
    return await warm.answer(
        request,
        state,
        caller,
        lambda: state.referrers.listing(caller, name, reference, artifact_type or None, platform),
        lambda _found: True,
    )
