"""Answering a search from the index alone: a page, within the caller's rights.

Results are ordered by (repository, tag, platform, match kind, match value): one total
order, so the ``last`` cursor is the previous page's last key and a page never repeats
or skips a result, whatever the rights filter leaves out. A page comes from the matches
(``hits.first_hits``) when they are few, or from the tags in page order, a growing batch
at a time (``hits.hits_of``), when they are many: either way a page of 50 costs about
the same whether the query matches ten images or all of them.

Rights: the caller's visible repositories are a set of names, a predicate, or None
(everything: the service account). They filter inside the query (``IN`` over the
allowed names), never after it, so a page is always full when more results exist.
``complete`` and ``indexed`` are computed over the same visible set.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from .hits import estimate, first_hits, hits_of
from .query import Query, SortKey, encode_cursor
from .schema import decode_digest, encode_digest

Visible = Collection[str] | Callable[[str], bool] | None


@dataclass(frozen=True)
class Match:
    kind: str  # manifest, index, child, config, layer, label, tag, package
    value: str


@dataclass(frozen=True)
class Result:
    repository: str
    tag: str
    digest: str  # what the tag points at
    platform: str | None  # the image of an index that matched; None for the index itself
    match: Match


@dataclass(frozen=True)
class Indexed:
    repositories: int
    images: int
    as_of: str | None


@dataclass(frozen=True)
class Page:
    results: list[Result]
    complete: bool
    indexed: Indexed
    next: str | None


@dataclass(frozen=True)
class Coverage:
    allowed: list[str] | None  # None: no filter (every repository is visible)
    complete: bool
    indexed: Indexed


def _rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def coverage(c: sqlite3.Connection, visible: Visible) -> Coverage:
    """Which repositories the caller sees, how far the index covers them."""
    catalog = c.execute("SELECT value FROM meta WHERE key = 'catalog_at'").fetchone()
    if visible is None:  # everything: counted in SQL, no name leaves the database
        total, walked, images, oldest = c.execute(
            "SELECT count(*), count(walked_at), coalesce(sum(images), 0), min(walked_at) FROM repos"
        ).fetchone()
        complete = catalog is not None and walked == total
        return Coverage(None, complete, Indexed(walked, images, _rfc3339(oldest)))
    repos = {
        name: (walked_at, images)
        for name, walked_at, images in c.execute("SELECT name, walked_at, images FROM repos")
    }
    if callable(visible):
        names = [n for n in repos if visible(n)]
        complete = catalog is not None and all(repos[n][0] is not None for n in names)
    else:
        wanted = set(visible)
        names = [n for n in repos if n in wanted]
        complete = len(names) == len(wanted) and all(repos[n][0] is not None for n in names)
    times = [repos[n][0] for n in names if repos[n][0] is not None]
    indexed = Indexed(
        repositories=len(times),
        images=sum(repos[n][1] for n in names),
        as_of=_rfc3339(min(times)) if times else None,
    )
    allowed = None if len(names) == len(repos) else sorted(names)
    return Coverage(allowed, complete, indexed)


# -- a page ------------------------------------------------------------------------------

#: A page is found by walking the tags in page order (``hits.hits_of``) rather than from
#: every match (``hits.first_hits``) when the matches are many: a page of n then takes
#: about n × images / matches tags walked, against every match joined and sorted — so
#: walk when matches² > WALK_FACTOR × n × images (measured: bench/bench_search.py).
WALK_FACTOR = 1.0
FIRST_BATCH = 256
MAX_BATCH = 4096

_START: SortKey = ("", "", "", "", "")
# A row as the SQL gives it: repository, tag, the tag's digest (stored), platform or "",
# match kind, match value (stored: a digest's bytes, else text).
Row = tuple[str, str, bytes, str, str, object]

_TAG_BATCH = """
SELECT t.repo, t.tag, t.digest, d.d FROM tags t JOIN digests d ON d.id = t.digest
 WHERE (t.repo, t.tag) {op} (?, ?){allowed}
 ORDER BY t.repo, t.tag LIMIT ?"""


def _stored(q: Query, key: SortKey) -> tuple[str, str, str, str, object]:
    """A cursor's key with its value as the SQL compares it (a digest as bytes)."""
    if q.kind == "digest":
        return (*key[:4], encode_digest(key[4]) if key[4] else b"")
    return key


def _in_tag_order(
    c: sqlite3.Connection, q: Query, last: SortKey, allowed: list[str] | None, limit: int
) -> list[Row]:
    after = _stored(q, last)
    clause = "" if allowed is None else " AND t.repo IN (SELECT value FROM json_each(?))"
    allowed_args = [] if allowed is None else [json.dumps(allowed)]
    out: list[Row] = []
    repo, tag, op, batch = last[0], last[1], ">=", FIRST_BATCH  # the cursor's tag may hold more
    while len(out) < limit:
        sql = _TAG_BATCH.format(op=op, allowed=clause)
        tags = c.execute(sql, [repo, tag, *allowed_args, batch]).fetchall()
        found: dict[tuple[str | None, int], list[tuple[str, str, object]]] = {}
        for hit_repo, image, platform, kind, value in hits_of(c, q, [(t[0], t[2]) for t in tags]):
            found.setdefault((hit_repo, image), []).append((platform, kind, value))
        for t_repo, t_tag, image, digest in tags:
            matched = found.get((t_repo, image), []) + found.get((None, image), [])
            for platform, kind, value in sorted(matched):
                if (t_repo, t_tag, platform, kind, value) > after:
                    out.append((t_repo, t_tag, digest, platform, kind, value))
        if len(tags) < batch:
            break
        repo, tag, op, batch = tags[-1][0], tags[-1][1], ">", min(batch * 2, MAX_BATCH)
    return out[:limit]


def _result(row: Row) -> Result:
    repo, tag, digest, platform, match_kind, value = row
    shown = decode_digest(value) if isinstance(value, bytes) else str(value)
    return Result(repo, tag, decode_digest(digest), platform or None, Match(match_kind, shown))


def _walks(c: sqlite3.Connection, q: Query, n: int) -> bool:
    if q.kind == "tag":
        return False  # a glob is read from the tags in page order anyway
    matches = estimate(c, q)
    if matches == 0:
        return False
    images = int(c.execute("SELECT coalesce(sum(images), 0) FROM repos").fetchone()[0])
    return matches * matches > WALK_FACTOR * n * max(images, 1)


def search(c: sqlite3.Connection, q: Query, visible: Visible, n: int, last: SortKey | None) -> Page:
    cover = coverage(c, visible)
    if cover.allowed == []:
        return Page([], cover.complete, cover.indexed, None)
    start = last or _START
    if _walks(c, q, n + 1):
        rows = _in_tag_order(c, q, start, cover.allowed, n + 1)
    else:
        rows = first_hits(c, q, _stored(q, start), cover.allowed, n + 1)
    results = [_result(row) for row in rows[:n]]
    following = None
    if len(rows) > n:
        r = results[-1]
        following = encode_cursor(
            (r.repository, r.tag, r.platform or "", r.match.kind, r.match.value)
        )
    return Page(results, cover.complete, cover.indexed, following)
