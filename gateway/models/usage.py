"""What the SPA receives for storage usage, retention and bulk deletes (API.md: Usage,
Retention and bulk delete). Part of the OpenAPI document, like ``models.api``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.models.api import ErrorBody


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- usage -------------------------------------------------------------------------------


class TagUsage(_Api):
    tag: str = Field(description="The tag.")
    digest: str = Field(description="The manifest or index the tag points at.")
    bytes: int = Field(
        description="The tag's closure: its manifest, for an index every child (platform "
        "images and attestations), each config and layer, every distinct digest once."
    )
    exclusive_bytes: int = Field(
        description="What deleting only this tag frees in this repository: the part of its "
        "closure no other tag reaches (0 when another tag shares its digest)."
    )


class RepositoryUsage(_Api):
    """A repository's storage, each distinct blob and manifest counted once."""

    repository: str = Field(description="The repository name.")
    tags: int = Field(description="Tags counted.")
    manifests: int = Field(description="Distinct manifests the tags reach (children included).")
    blobs: int = Field(description="Distinct blobs (configs and layers) the tags reach.")
    total_bytes: int = Field(
        description="Every distinct blob once, plus each distinct manifest's bytes."
    )
    by_tag: list[TagUsage] = Field(description="Per tag, largest bytes first.")


class RepositoryUsageRow(_Api):
    name: str = Field(description="The repository name.")
    bytes: int = Field(description="The repository's total_bytes.")
    exclusive_bytes: int = Field(
        description="Bytes no other repository references: what deleting the repository would free."
    )


class RegistryUsage(_Api):
    """The registry's storage over every repository the caller may read."""

    total_bytes: int = Field(description="Each distinct blob and manifest once, over all.")
    naive_bytes: int = Field(
        description="The sum of the repositories' totals (what counts layers shared "
        "between repositories once per repository)."
    )
    complete: bool = Field(
        description="Whether every repository of the catalog is counted; false: the walk "
        "goes on in the background, ask again (poll) for more."
    )
    repositories_counted: int = Field(description="Repositories counted so far.")
    repositories_total: int = Field(description="Repositories in the caller's catalog.")
    repositories: list[RepositoryUsageRow] = Field(
        description="The repositories counted, largest exclusive_bytes first."
    )


# -- retention ---------------------------------------------------------------------------


class RetentionRules(_Api):
    """Rules combine: a tag is deleted when it matches match_regex (every tag if null),
    is not among the keep_last newest (by sort) of the tags match_regex selects, does
    not match keep_regex, (if set) is older than older_than_days and (if set) was not
    pulled for not_pulled_days. Artifact tags
    (sha256-<hex>, cosign's .sig/.att/.sbom) are never selected on their own: they go
    when their subject's manifest goes and stay otherwise."""

    keep_last: int | None = Field(
        default=None, ge=0, le=100_000, description="Keep the N newest by sort."
    )
    sort: Literal["version", "created"] = Field(
        default="version",
        description="What newest means for keep_last: natural version order (tags that "
        "are not versions count as oldest), or the image's created date (unknown: oldest).",
    )
    keep_regex: str | None = Field(
        default=None, max_length=1000, description="Tags matching it (re.search) are kept."
    )
    older_than_days: float | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="Only tags whose image is older than this many days are deleted (an "
        "unknown date is kept).",
    )
    match_regex: str | None = Field(
        default=None,
        max_length=1000,
        description="Only tags matching it (re.search) are considered; null: every tag.",
    )
    not_pulled_days: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="Only tags whose image was not pulled for this many days are deleted "
        "(the activity log; a pull by any tag or by digest counts). Kept otherwise, with "
        "reason 'pulled recently', or 'not_pulled_days: pushed recently' / 'not tracked "
        "long enough' / 'activity unavailable' when the log cannot vouch for it.",
    )


class PlannedTag(_Api):
    tag: str = Field(description="The tag.")
    digest: str = Field(description="The digest it points at (pinned by the plan).")
    reason: str | None = Field(
        default=None,
        description="Why it goes as it does: an artifact tag with its subject (referrer of "
        "sha256:…), or a tag removed alone while its image stays (tag only: …); null when "
        "its manifest goes with it.",
    )


class KeptTag(_Api):
    tag: str = Field(description="The tag.")
    digest: str = Field(description="The digest it points at.")
    reason: str = Field(description="The rule that kept it.")


class RetentionPlan(_Api):
    plan_id: str = Field(description="Pass it to retention/apply; pins these digests.")
    expires_at: str = Field(description="When the plan is forgotten (RFC 3339, UTC).")
    delete: list[PlannedTag] = Field(description="Tags that would be deleted.")
    keep: list[KeptTag] = Field(description="Tags kept, each with why.")
    manifests: list[str] = Field(
        description="Manifests that would be deleted: those no kept tag reaches (an index's "
        "children included unless a kept tag reaches them)."
    )
    freed_bytes: int = Field(description="Exactly what the repository's usage would shrink by.")


class ApplyRequest(_Api):
    plan_id: str = Field(max_length=100, description="A retention/preview answer's plan_id.")


class BulkDeleteRequest(_Api):
    tags: list[str] = Field(default_factory=list, max_length=1000, description="Tags to remove.")
    digests: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Manifests to delete (every tag on them goes).",
    )


class ItemResult(_Api):
    tag: str | None = Field(description="The tag, or null for a manifest deleted by digest.")
    digest: str | None = Field(description="The digest concerned (null: unknown).")
    status: Literal["deleted", "already_gone", "failed"] = Field(
        description="deleted; already_gone (not there any more: nothing to do); failed (see error)."
    )
    error: ErrorBody | None = Field(description="Why it failed (status failed), else null.")


class DeleteResults(_Api):
    results: list[ItemResult] = Field(description="One entry per item, in order.")
