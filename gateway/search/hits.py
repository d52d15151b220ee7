"""The SQL of a search: which images a query hits, from either end.

A *hit* is (image, platform, kind, value): the image is a digest a tag points at — the
matched manifest itself, the index holding it as a child, or the index holding the image
whose config, layer, label or package matched. Two ways to find them:

- ``first_hits``, from the match: everything the query matches, joined to the tags and
  sorted. Cheap when the query matches a few hundred documents; a base layer or a label
  key every image has would mean sorting every image for one page of 50.
- ``hits_of``, from the images: the hits of a given batch of tagged images, which the
  caller takes in page order (``lookup.search``), stopping once a page is full. Cheap
  when many images match; walking every tag to find one needle would not be.

``estimate`` says which: the number of documents the match touches, read from an index.

The SQL spells ``documents.Role`` and ``documents.Kind`` as numbers (a test checks
them): roles 1 child, 2 attestation, 3 config, 4 layer; kind 2 an index. Values bound
as parameters, always; the SQL text is assembled only from the fixed pieces below.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from .query import Query
from .schema import encode_digest, hex_range

# (image, platform, kind, value, repo): repo is NULL unless the hit belongs to one
# repository (an SBOM's packages), each from the match's end.
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

_LABEL = "CASE WHEN l.value IS NULL THEN l.key ELSE l.key || '=' || l.value END"

_LABEL_HITS = f"""
hit (image, platform, kind, value, repo) AS (
  SELECT p.parent, m.platform, 'label', {_LABEL}, NULL
    FROM labels l JOIN parts p ON p.part = l.config AND p.role = 3
    JOIN digests m ON m.id = p.parent
   WHERE l.key = ?{{value}}
  UNION ALL
  SELECT q.parent, q.platform, 'label', {_LABEL}, NULL
    FROM labels l JOIN parts p ON p.part = l.config AND p.role = 3
    JOIN parts q ON q.part = p.parent AND q.role IN (1, 2)
   WHERE l.key = ?{{value}}
)"""  # noqa: S608 - fixed pieces

_PACKAGES = """
package (id, label) AS (
  SELECT id, CASE version WHEN '' THEN name ELSE name || '@' || version END
    FROM packages WHERE name = ? COLLATE NOCASE{version}
)"""

_PACKAGE_HITS = """
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

# The same hits from the images' end: the images are a JSON list bound first (?1), of
# ids, or for packages of [repository, id] pairs. CROSS JOIN keeps SQLite's join order:
# from each image to its few parts, never from a popular label's every row to the image.
_DIGEST_OF = """
WITH img (id) AS (SELECT value FROM json_each(?1)),
target (id, kind, platform, d) AS ({target}),
hit (image, platform, kind, value) AS (
  SELECT x.id, CASE x.kind WHEN 2 THEN NULL ELSE x.platform END,
         CASE x.kind WHEN 2 THEN 'index' ELSE 'manifest' END, x.d
    FROM img i JOIN target x ON x.id = i.id
  UNION ALL
  SELECT i.id, q.platform, 'child', x.d
    FROM img i JOIN parts q ON q.parent = i.id AND q.role IN (1, 2)
    JOIN target x ON x.id = q.part
  UNION ALL
  SELECT i.id, m.platform, CASE p.role WHEN 3 THEN 'config' ELSE 'layer' END, x.d
    FROM img i JOIN digests m ON m.id = i.id
    JOIN parts p ON p.parent = i.id AND p.role IN (3, 4) JOIN target x ON x.id = p.part
  UNION ALL
  SELECT i.id, q.platform, CASE p.role WHEN 3 THEN 'config' ELSE 'layer' END, x.d
    FROM img i JOIN parts q ON q.parent = i.id AND q.role IN (1, 2)
    JOIN parts p ON p.parent = q.part AND p.role IN (3, 4) JOIN target x ON x.id = p.part
)
SELECT DISTINCT NULL, image, coalesce(platform, ''), kind, value FROM hit"""

_LABEL_OF = f"""
WITH img (id) AS (SELECT value FROM json_each(?1)),
hit (image, platform, kind, value) AS (
  SELECT i.id, m.platform, 'label', {_LABEL}
    FROM img i JOIN digests m ON m.id = i.id
    CROSS JOIN parts p ON p.parent = i.id AND p.role = 3
    CROSS JOIN labels l ON l.config = p.part AND l.key = ?2{{value}}
  UNION ALL
  SELECT i.id, q.platform, 'label', {_LABEL}
    FROM img i CROSS JOIN parts q ON q.parent = i.id AND q.role IN (1, 2)
    CROSS JOIN parts p ON p.parent = q.part AND p.role = 3
    CROSS JOIN labels l ON l.config = p.part AND l.key = ?2{{value}}
)
SELECT DISTINCT NULL, image, coalesce(platform, ''), kind, value FROM hit"""  # noqa: S608

_PACKAGE_OF = """
WITH img (repo, id) AS (
  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1)
),
package (id, label) AS (
  SELECT id, CASE version WHEN '' THEN name ELSE name || '@' || version END
    FROM packages WHERE name = ?2 COLLATE NOCASE{version}
),
subject (repo, image, id, platform) AS (
  SELECT i.repo, i.id, i.id, CASE m.kind WHEN 2 THEN NULL ELSE m.platform END
    FROM img i JOIN digests m ON m.id = i.id
  UNION ALL
  SELECT i.repo, i.id, q.part, q.platform
    FROM img i JOIN parts q ON q.parent = i.id AND q.role = 1
)
SELECT DISTINCT s.repo, s.image, coalesce(s.platform, ''), 'package', x.label
  FROM subject s JOIN sboms b ON b.repo = s.repo AND b.subject = s.id
  CROSS JOIN package x
  JOIN sbom_packages sp ON sp.package = x.id AND sp.sbom = b.id"""

# A hit of ``hits_of``: (repository or None, image id, platform or "", kind, value).
ImageHit = tuple[str | None, int, str, str, object]


def _allowed(allowed: list[str] | None) -> tuple[str, list[object]]:
    if allowed is None:
        return "", []
    return " AND t.repo IN (SELECT value FROM json_each(?))", [json.dumps(allowed)]


def _target(q: Query) -> tuple[str, list[object]]:
    if q.exact_digest is not None:
        return "SELECT id, kind, platform, d FROM digests WHERE d = ?", [
            encode_digest(q.exact_digest)
        ]
    low, high = hex_range(q.hex)
    return (
        "SELECT id, kind, platform, d FROM digests WHERE d BETWEEN ? AND ? AND length(d) = 32",
        [low, high],
    )


def _key_value(q: Query, column: str) -> tuple[str, list[object]]:
    """``AND column = ?`` when the query names a value (a label's, a version)."""
    if q.value is None:
        return "", [q.key]
    return f" AND {column} = ?", [q.key, q.value]


def first_hits(
    c: sqlite3.Connection,
    q: Query,
    last: tuple[str, str, str, str, object],
    allowed: list[str] | None,
    limit: int,
) -> list[tuple[str, str, bytes, str, str, object]]:
    """Rows (repository, tag, tag's digest, platform or "", kind, value) after ``last``
    in page order, at most ``limit``: tag globs, and the other kinds from the match."""
    clause, allowed_args = _allowed(allowed)
    if q.kind == "tag":
        sql = _TAGS.format(allowed=clause)
        return c.execute(sql, [q.like, last[0], last[1], *allowed_args, limit]).fetchall()
    args: list[object]
    if q.kind == "digest":
        target, args = _target(q)
        hits = _DIGEST_HITS.format(target=target)
    elif q.kind == "label":
        value, args = _key_value(q, "l.value")
        hits = _LABEL_HITS.format(value=value)
        args = args * 2
    else:
        version, args = _key_value(q, "version")
        hits = _PACKAGES.format(version=version) + "," + _PACKAGE_HITS
    sql = _PAGE.format(hits=hits, allowed=clause)
    return c.execute(sql, [*args, *last, *allowed_args, limit]).fetchall()


def estimate(c: sqlite3.Connection, q: Query) -> int:
    """How many documents the match touches (an upper bound on its images, roughly)."""
    if q.kind == "digest":
        target, args = _target(q)
        sql = f"SELECT count(*) FROM parts WHERE part IN (SELECT id FROM ({target}))"  # noqa: S608
    elif q.kind == "label":
        value, args = _key_value(q, "value")
        sql = f"SELECT count(*) FROM labels WHERE key = ?{value}"  # noqa: S608
    elif q.kind == "package":
        version, args = _key_value(q, "version")
        sql = (
            "SELECT count(*) FROM sbom_packages WHERE package IN"  # noqa: S608
            f" (SELECT id FROM packages WHERE name = ? COLLATE NOCASE{version})"
        )
    else:
        return 0
    return int(c.execute(sql, args).fetchone()[0])


def hits_of(c: sqlite3.Connection, q: Query, images: Sequence[tuple[str, int]]) -> list[ImageHit]:
    """The hits of these tagged images ((repository, image id) pairs)."""
    if q.kind == "package":
        version, args = _key_value(q, "version")
        batch = json.dumps(sorted(set(images)))
        sql = _PACKAGE_OF.format(version=version.replace("?", "?3"))
        return c.execute(sql, [batch, *args]).fetchall()
    batch = json.dumps(sorted({image for _, image in images}))
    if q.kind == "digest":
        target, args = _target(q)
        # the target's parameters follow ?1: number them so they bind after it
        numbered = target.replace("?", "?{}").format(*range(2, 2 + len(args)))
        return c.execute(_DIGEST_OF.format(target=numbered), [batch, *args]).fetchall()
    value, args = _key_value(q, "l.value")
    sql = _LABEL_OF.format(value=value.replace("?", "?3"))
    return c.execute(sql, [batch, *args]).fetchall()
