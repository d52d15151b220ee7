"""Retention: a preview of what rules would delete, then exactly that, applied.

Selection (``select``, pure):

- artifact tags (``models.artifact_tags``: ``sha256-<hex>``, cosign's ``.sig``,
  ``.att``, ``.sbom``) are never selected on their own: they follow their subject.
  When the plan deletes the subject's manifest they are deleted too (reason
  ``referrer of sha256:…``); otherwise they are kept;
- every other tag is deleted when it matches ``match_regex`` (every tag if null), is
  not among the ``keep_last`` newest of the tags ``match_regex`` selects (by version —
  the tag list's order, tags that are no version counting as oldest — or by created,
  an unknown date counting as oldest), does not match ``keep_regex``, and, when
  ``older_than_days`` is set, is older than that (an unknown date is kept), and, when
  ``not_pulled_days`` is set, was not pulled for that long (``retention_pulls``).

The plan (``RetentionService.preview``): a manifest goes only when no kept tag reaches
it — a tag to delete that shares its digest with a kept tag is removed by a tag delete
and the manifest stays; the children of a deleted index go with it unless a kept tag
reaches them (the children of kept indexes are protected); ``freed_bytes`` is what the
repository's usage shrinks by (``storage_closure.freed_bytes``). The plan pins the
digests it saw, is kept per caller for ``PLAN_SECONDS``, and answers 404 once expired.

Apply (``RetentionService.apply``) reads the repository afresh and refuses with 409
``PLAN_STALE`` — sending no delete — when a planned tag now points at another digest,
or a tag the plan keeps (or a new one) now reaches a manifest the plan deletes. Then it
deletes the planned tags whose manifest stays (tag deletes, siblings kept), then the
planned manifests (parents before children), answering per item; nothing the preview
did not list is deleted. A plan is applied once.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.errors import GatewayError, InvalidRequest, NotFound, PlanStale, PlanUnknown, aborts
from gateway.models import oci
from gateway.models.artifact_tags import is_artifact_tag, subject_of
from gateway.models.usage import (
    ItemResult,
    KeptTag,
    PlannedTag,
    RetentionPlan,
    RetentionRules,
)
from gateway.registry.credentials import Caller
from gateway.services.bulk_delete import BulkDeleteService, TagItem, done
from gateway.services.deletes import DeleteService
from gateway.services.images import ImageService
from gateway.services.retention_plans import Plan, PlanStore
from gateway.services.retention_pulls import PulledWithin, kept_by_pulls
from gateway.services.storage_closure import RepoFigures, freed_bytes, reached
from gateway.services.usage import UsageService, bounded
from gateway.services.versions import version_key
from gateway.view import CachedRegistry

PLAN_SECONDS = 600.0  # how long a preview's plan can be applied


@dataclass(frozen=True)
class Rules:
    keep_last: int | None
    sort: str
    keep_regex: re.Pattern[str] | None
    older_than_days: float | None
    match_regex: re.Pattern[str] | None

    @property
    def needs_dates(self) -> bool:
        return (self.keep_last is not None and self.sort == "created") or (
            self.older_than_days is not None
        )


def _compile(field: str, pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise InvalidRequest(
            "invalid regular expression",
            detail=[{"loc": ["body", field], "msg": str(exc), "type": "value_error.regex"}],
        ) from None


def compile_rules(rules: RetentionRules) -> Rules:
    """The rules, their regexes compiled (400 VALIDATION_ERROR for an invalid one)."""
    return Rules(
        keep_last=rules.keep_last,
        sort=rules.sort,
        keep_regex=_compile("keep_regex", rules.keep_regex),
        older_than_days=rules.older_than_days,
        match_regex=_compile("match_regex", rules.match_regex),
    )


def newest_first(tags: Sequence[str], sort: str, created: Mapping[str, str | None]) -> list[str]:
    """The tags, newest first: by version (the others after, by name) or by created
    (unknown dates last, ties by name)."""
    if sort == "created":
        by_name = sorted(tags)
        return sorted(by_name, key=lambda t: oci.time_order(created.get(t)), reverse=True)
    versions = sorted(
        (t for t in tags if version_key(t) is not None),
        key=lambda t: version_key(t),  # type: ignore[arg-type, return-value]
        reverse=True,
    )
    return versions + sorted(t for t in tags if version_key(t) is None)


@dataclass(frozen=True)
class Selection:
    delete: list[str]
    keep: dict[str, str]  # tag -> reason


def select(
    tags: Sequence[str], rules: Rules, created: Mapping[str, str | None], now: datetime
) -> Selection:
    """Which of the (non-artifact) ``tags`` the rules delete, and why the others stay."""
    keep: dict[str, str] = {}
    matched: list[str] = []
    for tag in tags:
        if rules.match_regex is not None and not rules.match_regex.search(tag):
            keep[tag] = "match_regex: not matched"
        else:
            matched.append(tag)
    top: set[str] = set()
    if rules.keep_last is not None:
        top = set(newest_first(matched, rules.sort, created)[: rules.keep_last])
    cutoff = None
    if rules.older_than_days is not None:
        cutoff = now - timedelta(days=rules.older_than_days)
    delete: list[str] = []
    for tag in matched:
        if tag in top:
            keep[tag] = f"keep_last: among the {rules.keep_last} newest by {rules.sort}"
        elif rules.keep_regex is not None and rules.keep_regex.search(tag):
            keep[tag] = "keep_regex: matched"
        elif cutoff is not None and not created.get(tag):
            keep[tag] = "older_than_days: created date unknown"
        elif cutoff is not None and oci.time_order(created.get(tag)) >= cutoff:
            keep[tag] = f"older_than_days: newer than {rules.older_than_days:g} days"
        else:
            delete.append(tag)
    return Selection(delete=delete, keep=keep)


def plan_figures(
    figures: RepoFigures, selection: Selection
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(tag -> reason of the deleted, tag -> reason of the kept, manifests to delete),
    artifact tags following their subjects, until nothing changes."""
    digests = figures.tag_digests
    deleted = {tag: "" for tag in selection.delete}
    artifacts = [t for t in digests if is_artifact_tag(t)]
    while True:
        kept_tags = [t for t in digests if t not in deleted]
        kept_items = reached(figures.tag_items, kept_tags)
        gone = reached(figures.tag_items, deleted) - kept_items
        manifests = gone & figures.manifest_digests
        added = False
        for tag in artifacts:
            subject = subject_of(tag)
            if tag not in deleted and subject in manifests:
                deleted[tag] = f"referrer of {subject}"
                added = True
        if not added:
            break
    keep = dict(selection.keep)
    for tag in artifacts:
        if tag not in deleted:
            keep[tag] = f"referrer of {subject_of(tag)}, which stays"
    # Parents before children: the tags' own digests first, then the rest.
    tops = [d for t, d in digests.items() if t in deleted and d in manifests]
    ordered = list(dict.fromkeys(tops + sorted(manifests - set(tops))))
    return deleted, keep, ordered


def _delete_reason(
    tag: str, digests: Mapping[str, str], deleted: Mapping[str, str], manifests: Sequence[str]
) -> str | None:
    """Why a planned tag goes as it does: with its subject (an artifact tag), or alone
    while its image stays; None for a tag whose manifest goes with it."""
    if deleted[tag]:
        return deleted[tag]
    digest = digests[tag]
    if digest in manifests:
        return None
    siblings = sorted(t for t, d in digests.items() if d == digest and t not in deleted)
    where = f"tagged {', '.join(siblings)}" if siblings else "in a kept index"
    return f"tag only: its image stays ({where})"


class RetentionService:
    def __init__(
        self,
        registry: CachedRegistry,
        images: ImageService,
        usage: UsageService,
        deletes: DeleteService,
        bulk: BulkDeleteService,
        plans: PlanStore | None = None,
    ) -> None:
        self.registry = registry
        self.images = images
        self.usage = usage
        self.deletes = deletes
        self.bulk = bulk
        self.plans = plans if plans is not None else PlanStore()
        # not_pulled_days: the activity log's verdicts (set by the state).
        self.pulled_within: PulledWithin | None = None

    async def _fresh(self, caller: Caller, repo: str) -> RepoFigures:
        self.registry.refresh(caller, repo)
        return await self.usage.repository(caller, repo)

    async def _dates(self, caller: Caller, repo: str, digests: set[str]) -> dict[str, str | None]:
        async def one(digest: str) -> tuple[str, str | None]:
            try:
                return digest, (await self.images.summary(caller, repo, digest)).created
            except GatewayError as exc:
                if aborts(exc, one_repository=True):
                    raise
                return digest, None  # unknown: kept by older_than_days, oldest by created

        limit = self.usage.concurrency
        return dict(await bounded(limit, one, sorted(digests)))

    async def preview(self, caller: Caller, repo: str, rules: RetentionRules) -> RetentionPlan:
        self.deletes.check_enabled()
        compiled = compile_rules(rules)
        figures = await self._fresh(caller, repo)
        digests = figures.tag_digests
        candidates = [t for t in sorted(digests) if not is_artifact_tag(t)]
        created: dict[str, str | None] = {}
        if compiled.needs_dates:
            by_digest = await self._dates(caller, repo, {digests[t] for t in candidates})
            created = {t: by_digest.get(digests[t]) for t in candidates}
        selection = select(candidates, compiled, created, datetime.now(UTC))
        if rules.not_pulled_days is not None:
            pulled = await kept_by_pulls(
                self.pulled_within, repo, selection.delete, digests, rules.not_pulled_days
            )
            selection = Selection(
                delete=[t for t in selection.delete if t not in pulled],
                keep={**selection.keep, **pulled},
            )
        deleted, keep, manifests = plan_figures(figures, selection)
        plan_id = secrets.token_urlsafe(16)
        expires_at = datetime.now(UTC) + timedelta(seconds=PLAN_SECONDS)
        answer = RetentionPlan(
            plan_id=plan_id,
            expires_at=expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            delete=[
                PlannedTag(
                    tag=t, digest=digests[t], reason=_delete_reason(t, digests, deleted, manifests)
                )
                for t in sorted(deleted)
            ],
            keep=[KeptTag(tag=t, digest=digests[t], reason=keep[t]) for t in sorted(keep)],
            manifests=manifests,
            freed_bytes=freed_bytes(figures.tag_items, set(deleted)),
        )
        await self.plans.put(
            Plan(
                plan_id=plan_id,
                caller_key=caller.key,
                repo=repo,
                expires=time.time() + PLAN_SECONDS,
                expires_at=answer.expires_at,
                delete={t: digests[t] for t in deleted},
                manifests=manifests,
                answer=answer,
            )
        )
        return answer

    async def _plan(self, caller: Caller, repo: str, plan_id: str) -> Plan:
        plan = await self.plans.get(caller.key, repo, plan_id)
        if plan is None:
            # Another caller's plan is as unknown as none: nothing tells it exists.
            raise PlanUnknown("no such plan, or it expired: preview again")
        return plan

    async def apply(self, caller: Caller, repo: str, plan_id: str) -> list[ItemResult]:
        self.deletes.check_enabled()
        plan = await self._plan(caller, repo, plan_id)
        try:
            figures = await self._fresh(caller, repo)
        except NotFound:
            figures = RepoFigures(items={}, manifests=0, blobs=0)  # everything is gone
        now = figures.tag_digests
        moved = sorted(t for t, d in plan.delete.items() if t in now and now[t] != d)
        planned = set(plan.manifests)
        reaching = sorted(
            t for t in now if t not in plan.delete and planned & set(figures.tag_items.get(t, {}))
        )
        if moved or reaching:
            raise PlanStale(
                "the repository changed since the preview: preview again",
                detail={"moved": moved, "now_reaching_planned_manifests": reaching},
            )
        if not await self.plans.take(plan):  # applied once, by one replica
            raise PlanUnknown("no such plan, or it expired: preview again")
        async with self.registry.writing(caller, repo) as batch:
            tag_only = [
                TagItem(t, d if t in now else None)
                for t, d in sorted(plan.delete.items())
                if d not in planned
            ]
            results = await self.bulk.delete_tags(batch, tag_only)
            removed = await self.bulk.delete_manifests(batch, plan.manifests)
        by_digest = {r.digest: r for r in removed}
        for tag, digest in sorted(plan.delete.items()):
            if digest not in planned:
                continue
            outcome = by_digest[digest]
            if tag not in now:
                results.append(done(tag, digest, "already_gone"))
            else:
                results.append(outcome.model_copy(update={"tag": tag}))
        return results + removed
