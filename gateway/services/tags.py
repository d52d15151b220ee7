"""Tag pages: filtered, sorted (name, version, created), paged, optionally detailed.

The created orders need every matching tag's date. Up to ``min_tags`` matching tags
(``TagIndex``) they are all resolved for the page, as the name orders' details are;
beyond it the order comes from the dates known already (the repository's tag index and
the summaries cached by digest), the page says whether that was all (``complete``), and
the rest is read into the index in the background. A row that could not be read (the
registry failing) has no date either: the order is then not final (``complete``
false), in both cases.

Artifact tags (the referrers fallback ``sha256-<hex>`` and cosign's ``.sig``/``.att``/
``.sbom``) are left out unless asked for and counted apart (``hidden``); rows with
details carry their digest's referrer counts, from the caller's tag list and the cached
lookups (gateway/services/referrers.py): no request for an image nothing refers to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from gateway.errors import GatewayError, NameUnknown, aborts
from gateway.models import api, oci
from gateway.models.artifact_tags import is_artifact_tag
from gateway.registry.credentials import Caller
from gateway.services import activity_marks
from gateway.services.activity_marks import Marker
from gateway.services.gathering import peek_or_gather
from gateway.services.images import ImageService, Summary
from gateway.services.referrers import ReferrerService, artifact_subjects
from gateway.services.versions import version_key
from gateway.view import CachedRegistry
from gateway.view.tag_index import GONE, UNKNOWN

Sort = Literal["name", "-name", "version", "-version", "created", "-created"]
SORTS: tuple[str, ...] = ("name", "-name", "version", "-version", "created", "-created")


def _version_order(tags: Sequence[str], newest_first: bool) -> list[str]:
    versions = [(key, t) for t in tags if (key := version_key(t)) is not None]
    others = sorted(t for t in tags if version_key(t) is None)
    versions.sort(key=lambda pair: pair[0], reverse=newest_first)
    return [t for _, t in versions] + others


def _page(
    ordered: list[str], last: str | None, n: int, sort: Sort = "name"
) -> tuple[list[str], str | None]:
    start = 0
    if last is not None:
        try:
            start = ordered.index(last) + 1
        except ValueError:
            start = _insertion_point(ordered, last, sort)
    page = ordered[start : start + n]
    has_more = start + n < len(ordered)
    return page, (page[-1] if has_more and page else None)


def _precedes(a: str, b: str, sort: Sort) -> bool:
    """Whether tag ``a`` comes before tag ``b`` in ``sort`` (name and version orders)."""
    if sort == "name":
        return a < b
    if sort == "-name":
        return a > b
    ka, kb = version_key(a), version_key(b)
    if ka is not None and kb is not None:
        return ka > kb if sort == "-version" else ka < kb
    if ka is not None or kb is not None:
        return ka is not None  # versions first, in both directions
    return a < b  # the others by name, in both directions


def _insertion_point(ordered: list[str], last: str, sort: Sort) -> int:
    """Where a cursor tag that no longer exists (deleted since the previous page) would
    have been: the page goes on from there.

    Exact in the name and version orders; a deleted tag's date is unknown, so in the
    created orders the page restarts at the beginning.
    """
    if sort in ("created", "-created"):
        return 0
    return next(
        (i for i, tag in enumerate(ordered) if not _precedes(tag, last, sort)), len(ordered)
    )


def _row(tag: str, summary: Summary, referrers: dict[str, int] | None = None) -> api.TagInfo:
    return api.TagInfo(
        name=tag,
        digest=summary.digest,
        media_type=summary.media_type,
        kind="index" if summary.kind == "index" else "image",
        platforms=summary.platforms,
        size=summary.size,
        created=summary.created,
        artifact_type=summary.artifact_type,
        referrers=referrers,
    )


class TagService:
    def __init__(
        self,
        registry: CachedRegistry,
        images: ImageService,
        referrers: ReferrerService | None = None,
    ) -> None:
        self.registry = registry
        self.images = images
        self.referrers = referrers
        # The rows' last pull and push (set by the state: the activity log's marks).
        self.marker: Marker | None = None

    async def _rows(
        self,
        caller: Caller,
        repo: str,
        tags: Sequence[str],
        digests: dict[str, str] | None = None,
        subjects: frozenset[str] = frozenset(),
    ) -> dict[str, api.TagInfo]:
        """Each tag's row; by the digest ``digests`` holds for it when it does (the one
        its place in the order came from), else by the tag. ``subjects``: the digests
        the repository's artifact tags name (``artifact_subjects``)."""
        known = digests or {}
        referrers = self.referrers

        async def one(tag: str) -> api.TagInfo:
            try:
                summary = await self.images.summary(caller, repo, known.get(tag, tag))
                counts = None
                if referrers is not None:
                    counts = await referrers.counts(caller, repo, summary.digest, subjects)
                return _row(tag, summary, counts)
            except GatewayError as exc:
                if aborts(exc, one_repository=False):  # a login, or Retry-After
                    raise
                return api.TagInfo(name=tag, error=api.ErrorBody.of(exc))

        def peek(tag: str) -> api.TagInfo | None:
            summary = self.images.peek_summary(caller, repo, known.get(tag, tag))
            if summary is None:
                return None
            counts = None
            if referrers is not None:
                counts = referrers.peek_counts(caller, repo, summary.digest, subjects)
                if counts is None:
                    return None
            return _row(tag, summary, counts)

        rows = await peek_or_gather(tags, peek, one)
        return {tag: rows[tag] for tag in tags}

    async def page(
        self,
        caller: Caller,
        repo: str,
        *,
        n: int,
        last: str | None,
        q: str | None,
        sort: Sort,
        details: bool,
        include_artifacts: bool = False,
    ) -> api.TagPage:
        try:
            tags = await self.registry.tags(caller, repo)
        except NameUnknown:
            # Never tagged (pushed by digest only): the registry has no tag list for it,
            # but the caller's catalog, when we hold it, shows it exists — 0 tags, as on
            # the repositories page. Not worth a whole catalog walk for a 404, though.
            if not self.registry.in_cached_catalog(caller, repo):
                raise
            tags = []
        subjects = artifact_subjects(tags)
        if q:
            needle = q.lower()
            tags = [t for t in tags if needle in t.lower()]
        hidden = 0
        if not include_artifacts and subjects:
            shown = [t for t in tags if not is_artifact_tag(t)]
            hidden, tags = len(tags) - len(shown), shown
        rows: dict[str, api.TagInfo] = {}
        digests: dict[str, str] = {}
        complete = True
        if sort in ("name", "-name"):
            ordered = sorted(tags, reverse=sort == "-name")
        elif sort in ("version", "-version"):
            ordered = _version_order(tags, newest_first=sort == "-version")
        elif self.registry.tag_index.is_large(len(tags)):
            ordered, digests, complete = await self._indexed_order(caller, repo, tags, sort)
        else:
            rows = await self._rows(caller, repo, tags, subjects=subjects)
            ordered = sorted(tags, key=_created_key(rows), reverse=sort == "-created")
            # A row that could not be read has no date to sort by (it counts as undated):
            # the order is then only what the registry let be known.
            complete = not any(row.error is not None for row in rows.values())
        page, next_cursor = _page(ordered, last, n, sort)
        if details or sort in ("created", "-created"):
            missing = [t for t in page if t not in rows]
            rows.update(await self._rows(caller, repo, missing, digests, subjects))
            out = [rows[t] for t in page]
        else:
            out = [api.TagInfo(name=t) for t in page]
        out = await activity_marks.tag_rows(self.marker, repo, out)
        return api.TagPage(
            repository=repo,
            total=len(tags),
            next=next_cursor,
            tags=out,
            complete=complete,
            hidden=hidden,
        )

    async def _indexed_order(
        self, caller: Caller, repo: str, tags: Sequence[str], sort: Sort
    ) -> tuple[list[str], dict[str, str], bool]:
        """(the created order from what is known, the digests known, complete) for more
        tags than a request can resolve; the unknown ones are queued for the index."""
        index = await self.registry.tag_index_view(caller, repo)
        dated: list[tuple[datetime, str]] = []
        digests: dict[str, str] = {}
        unknown: list[str] = []
        for tag in tags:
            digest = self.registry.known_digest(index, tag)
            if digest == UNKNOWN:
                unknown.append(tag)
                continue
            if digest == GONE:
                # Deleted since the list was read: its row says so, among the undated.
                dated.append((oci.time_order(None), tag))
                continue
            if digest in index.created:
                created = index.created[digest]
            else:
                known, created = self.images.known_created(digest)
                if not known:
                    unknown.append(tag)
                    continue
                index.created[digest] = created
            digests[tag] = digest
            dated.append((oci.time_order(created), tag))
        dated.sort(reverse=sort == "-created")
        self.registry.tag_index.fill(
            caller, index, unknown, self.images.index_reader, every=tags, dates=True
        )
        return [tag for _, tag in dated] + sorted(unknown), digests, not unknown


def _created_key(rows: dict[str, api.TagInfo]) -> Callable[[str], Any]:
    """Oldest first, ties by name; undated tags count as the oldest, so they come first
    in ``created`` and last in ``-created`` (newest first)."""

    def key(tag: str) -> tuple[datetime, str]:
        return (oci.time_order(rows[tag].created), tag)

    return key
