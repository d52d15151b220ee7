"""Answering a search from the index alone: the SQL of each kind, paging, rights.

Every kind comes down to *hits*: (image, platform, what matched), where the image is a
digest some tag points at — the matched manifest itself, the index holding it as a
child, or the index holding the image whose config or layer matched. The hits are
joined to the tags naming them, restricted to the repositories the caller may pull,
and ordered by (repository, tag, platform, match kind, match value): one total order,
so the ``last`` cursor is the previous page's last key and a page never repeats or
skips a result, whatever the rights filter leaves out.

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

from .query import Query, SortKey, encode_cursor
from .schema import decode_digest, encode_digest, hex_range

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
    repos = {
        name: (walked_at, images)
        for name, walked_at, images in c.execute("SELECT name, walked_at, images FROM repos")
    }
    catalog = c.execute("SELECT value FROM meta WHERE key = 'catalog_at'").fetchone()
    if visible is None:
        names = list(repos)
        complete = catalog is not None and all(w is not None for w, _ in repos.values())
    elif callable(visible):
        names = [n for n in repos if visible(n)]
        complete = catalog is not None and all(repos[n][0] is not None for n in names)
    else:
        wanted = set(visible)
        names = [n for n in repos if n in wanted]
        complete = len(names) == len(wanted) and all(repos[n][0] is not None for n in names)
    walked = [repos[n][0] for n in names if repos[n][0] is not None]
    indexed = Indexed(
        repositories=len(walked),
        images=sum(repos[n][1] for n in names),
        as_of=_rfc3339(min(walked)) if walked else None,
    )
    allowed = None if len(names) == len(repos) else sorted(names)
    return Coverage(allowed, complete, indexed)


# -- the hits of each kind --------------------------------------------------------------

# The SQL spells documents.Role and documents.Kind as numbers (a test checks them):
# roles 1 child, 2 attestation, 3 config, 4 layer; kind 2 an index.
#
# Each kind's hits are rows (image, platform, kind, value, repo): repo is NULL unless
# the hit belongs to one repository (an SBOM's packages).
_DIGEST_HITS = """
target (id, kind, platform, d) AS ({target}),
hit (image, platform, kind, value, repo) AS (
  SELECT x.id, CASE x.kind WHEN 2 THEN NULL ELSE x.platform END,
         CASE x.kind WHEN 2 THEN 'index' ELSE 'manifest' END, x.d, NULL
    FROM target x
  UNION ALL
  SELECT p.parent, p.platform, 'child', x.d, NULL
    FROM target x JOIN parts p ON p.part = x.id AND p.role IN (1, 2)
  UNION ALL
  SELECT p.parent, m.platform, CASE p.role WHEN 3 THEN 'config' ELSE 'layer' END, x.d, NULL
    FROM target x JOIN parts p ON p.part = x.id AND p.role IN (3, 4)
    JOIN digests m ON m.id = p.parent
  UNION ALL
  SELECT q.parent, q.platform, CASE p.role WHEN 3 THEN 'config' ELSE 'layer' END, x.d, NULL
    FROM target x JOIN parts p ON p.part = x.id AND p.role IN (3, 4)
    JOIN parts q ON q.part = p.parent AND q.role IN (1, 2)
)"""

_LABEL_HITS = """
config (id, label) AS (
  SELECT config, CASE WHEN value IS NULL THEN key ELSE key || '=' || value END
    FROM labels WHERE key = ?{value}
),
hit (image, platform, kind, value, repo) AS (
  SELECT p.parent, m.platform, 'label', x.label, NULL
    FROM config x JOIN parts p ON p.part = x.id AND p.role = 3
    JOIN digests m ON m.id = p.parent
  UNION ALL
  SELECT q.parent, q.platform, 'label', x.label, NULL
    FROM config x JOIN parts p ON p.part = x.id AND p.role = 3
    JOIN parts q ON q.part = p.parent AND q.role IN (1, 2)
)"""

_PACKAGE_HITS = """
package (id, label) AS (
  SELECT id, CASE version WHEN '' THEN name ELSE name || '@' || version END
    FROM packages WHERE name = ? COLLATE NOCASE{version}
),
listed (repo, subject, label) AS (
  SELECT s.repo, s.subject, x.label
    FROM package x JOIN sbom_packages sp ON sp.package = x.id JOIN sboms s ON s.id = sp.sbom
),
hit (image, platform, kind, value, repo) AS (
  SELECT l.subject, CASE m.kind WHEN 2 THEN NULL ELSE m.platform END,
         'package', l.label, l.repo
    FROM listed l JOIN digests m ON m.id = l.subject
  UNION ALL
  SELECT q.parent, q.platform, 'package', l.label, l.repo
    FROM listed l JOIN parts q ON q.part = l.subject AND q.role = 1
)"""

_PAGE = """
WITH {hits}
SELECT DISTINCT t.repo, t.tag, d.d, coalesce(h.platform, '') AS platform, h.kind, h.value
  FROM hit h JOIN tags t ON t.digest = h.image AND (h.repo IS NULL OR h.repo = t.repo)
  JOIN digests d ON d.id = t.digest
 WHERE (t.repo, t.tag, coalesce(h.platform, ''), h.kind, h.value) > (?, ?, ?, ?, ?){allowed}
 ORDER BY t.repo, t.tag, platform, h.kind, h.value
 LIMIT ?"""

_TAGS = """
SELECT t.repo, t.tag, d.d, '', 'tag', t.tag
  FROM tags t JOIN digests d ON d.id = t.digest
 WHERE t.tag LIKE ? ESCAPE '\\' AND (t.repo, t.tag) > (?, ?){allowed}
 ORDER BY t.repo, t.tag
 LIMIT ?"""

_START: SortKey = ("", "", "", "", "")


def _allowed(allowed: list[str] | None) -> tuple[str, list[object]]:
    if allowed is None:
        return "", []
    return " AND t.repo IN (SELECT value FROM json_each(?))", [json.dumps(allowed)]


def _digest_target(q: Query) -> tuple[str, list[object]]:
    if q.exact_digest is not None:
        return "SELECT id, kind, platform, d FROM digests WHERE d = ?", [encode_digest(q.exact_digest)]
    low, high = hex_range(q.hex)
    return (
        "SELECT id, kind, platform, d FROM digests WHERE d BETWEEN ? AND ? AND length(d) = 32",
        [low, high],
    )


def _sql(
    q: Query, last: SortKey, allowed: list[str] | None, limit: int
) -> tuple[str, list[object]]:
    clause, allowed_args = _allowed(allowed)
    if q.kind == "tag":
        return _TAGS.format(allowed=clause), [q.like, last[0], last[1], *allowed_args, limit]
    args: list[object]
    last_value: object = last[4]
    if q.kind == "digest":
        target, args = _digest_target(q)
        hits = _DIGEST_HITS.format(target=target)
        last_value = encode_digest(last[4]) if last[4] else b""
    elif q.kind == "label":
        hits = _LABEL_HITS.format(value="" if q.value is None else " AND value = ?")
        args = [q.key] if q.value is None else [q.key, q.value]
    else:
        hits = _PACKAGE_HITS.format(version="" if q.value is None else " AND version = ?")
        args = [q.key] if q.value is None else [q.key, q.value]
    sql = _PAGE.format(hits=hits, allowed=clause)
    return sql, [*args, last[0], last[1], last[2], last[3], last_value, *allowed_args, limit]


def _result(row: tuple[str, str, bytes, str, str, object]) -> Result:
    repo, tag, digest, platform, match_kind, value = row
    shown = decode_digest(value) if isinstance(value, bytes) else str(value)
    return Result(repo, tag, decode_digest(digest), platform or None, Match(match_kind, shown))


def search(c: sqlite3.Connection, q: Query, visible: Visible, n: int, last: SortKey | None) -> Page:
    cover = coverage(c, visible)
    if cover.allowed == []:
        return Page([], cover.complete, cover.indexed, None)
    sql, args = _sql(q, last or _START, cover.allowed, n + 1)
    rows = c.execute(sql, args).fetchall()
    results = [_result(row) for row in rows[:n]]
    following = None
    if len(rows) > n:
        r = results[-1]
        following = encode_cursor(
            (r.repository, r.tag, r.platform or "", r.match.kind, r.match.value)
        )
    return Page(results, cover.complete, cover.indexed, following)
