"""What the walker asks the index: what is due, what is missing, and what to forget.

The SQL spells ``documents.Role`` as numbers (1 child, 2 attestation, 3 config, 4 layer).

Reads only (``prune`` aside), on the database's thread. A restart reopens the file and
these answer from it: repositories walked within the TTL are not due, documents already
read are not missing, so a restarted gateway reads no more from the registry than what
changed since (and what the TTL says to read again).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

from gateway.datastore import transaction

from .documents import Kind
from .schema import decode_digest
from .writes import drop_sboms


@dataclass(frozen=True)
class Wanted:
    """A manifest to read (``missing_documents``) or an image whose SBOMs to look for
    (``missing_sboms``), and a repository it can be read from. For SBOMs, also the
    BuildKit attestation manifests describing that image in the repository's indexes
    (their SPDX layers are SBOMs too), so that finding them needs no index read again."""

    repository: str
    digest: str
    kind: Kind = Kind.UNKNOWN
    attestations: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepoState:
    walked_at: float | None  # its whole tag list last applied (None: never)
    fingerprint: bytes | None
    images: int
    listed: bool


@dataclass(frozen=True)
class Pruned:
    documents: int = 0
    digests: int = 0
    sboms: int = 0
    packages: int = 0


def _only(repos: Collection[str] | None) -> str | None:
    """ "Only these repositories", as the queries below bind it: a JSON list of names,
    or NULL for all of them."""
    return None if repos is None else json.dumps(sorted(repos))


def repo_state(c: sqlite3.Connection, repo: str) -> RepoState | None:
    row = c.execute(
        "SELECT walked_at, fingerprint, images, listed FROM repos WHERE name = ?", (repo,)
    ).fetchone()
    return None if row is None else RepoState(row[0], row[1], row[2], bool(row[3]))


def due(c: sqlite3.Connection, now: float, ttl: float) -> list[str]:
    """Repositories whose tag list to read: never walked, or walked ``ttl`` ago."""
    rows = c.execute(
        "SELECT name FROM repos WHERE walked_at IS NULL OR walked_at <= ? "
        "ORDER BY walked_at IS NOT NULL, walked_at, name",
        (now - ttl,),
    )
    return [name for (name,) in rows]


def catalog_at(c: sqlite3.Connection) -> float | None:
    row = c.execute("SELECT value FROM meta WHERE key = 'catalog_at'").fetchone()
    return None if row is None else float(row[0])


def missing_documents(
    c: sqlite3.Connection, repos: Collection[str] | None = None, limit: int = 100
) -> list[Wanted]:
    """Manifests and indexes that tags (or indexes they point at) name and whose
    documents are not read yet, with a repository to read each from (one of ``repos``
    when given)."""
    rows = c.execute(
        "SELECT d.d, d.kind,"
        "  (SELECT t.repo FROM tags t WHERE t.digest = d.id"
        "    AND (?1 IS NULL OR t.repo IN (SELECT value FROM json_each(?1))) LIMIT 1),"
        "  (SELECT t.repo FROM parts p JOIN tags t ON t.digest = p.parent"
        "    WHERE p.part = d.id AND p.role <= 2"
        "    AND (?1 IS NULL OR t.repo IN (SELECT value FROM json_each(?1))) LIMIT 1)"
        " FROM digests d WHERE d.read < 2",
        (_only(repos),),
    )
    out: list[Wanted] = []
    for stored, kind, repo_direct, repo_via in rows:
        repo = repo_direct or repo_via
        if repo is None:
            continue  # no tag names it any more (prune forgets it)
        out.append(Wanted(repo, decode_digest(stored), Kind(kind)))
        if len(out) >= limit:
            break
    return out


def missing_sboms(
    c: sqlite3.Connection,
    repos: Collection[str] | None = None,
    limit: int = 100,
    older_than: float | None = None,
) -> list[Wanted]:
    """Images (tagged, or children of a tagged index) whose SBOMs in that repository
    were not looked for (or not since ``older_than``). Only once their documents are
    read: an index's children are known then."""
    since = -1.0 if older_than is None else older_than
    rows = c.execute(
        "WITH subjects (repo, id) AS ("
        "  SELECT t.repo, t.digest FROM tags t"
        "  UNION SELECT t.repo, p.part FROM tags t JOIN parts p"
        "   ON p.parent = t.digest AND p.role = 1)"
        " SELECT s.repo, s.id, d.d, d.kind FROM subjects s JOIN digests d ON d.id = s.id"
        " LEFT JOIN sbom_reads r ON r.repo = s.repo AND r.subject = s.id"
        " WHERE d.read = 2 AND (r.at IS NULL OR r.at <= ?2)"
        "   AND (?1 IS NULL OR s.repo IN (SELECT value FROM json_each(?1)))"
        " ORDER BY s.repo LIMIT ?3",
        (_only(repos), since, limit),
    ).fetchall()
    out = []
    for repo, subject, stored, kind in rows:
        attestations = c.execute(
            "SELECT DISTINCT a.d FROM parts p JOIN tags t ON t.digest = p.parent"
            " JOIN digests a ON a.id = p.part"
            " WHERE p.attests = ? AND p.role = 2 AND t.repo = ? ORDER BY a.d",
            (subject, repo),
        ).fetchall()
        found = tuple(decode_digest(a) for (a,) in attestations)
        out.append(Wanted(repo, decode_digest(stored), Kind(kind), found))
    return out


def prune(c: sqlite3.Connection, forget_before: float) -> Pruned:
    """Forget what no tag reaches any more: documents of untagged manifests, labels of
    configs no manifest names, SBOMs of images gone from their repository, digests and
    packages nothing names, and deletions remembered since before ``forget_before``."""
    with transaction(c):
        c.execute("CREATE TEMP TABLE IF NOT EXISTS keep (id INTEGER PRIMARY KEY)")
        c.execute("DELETE FROM temp.keep")
        c.execute("INSERT OR IGNORE INTO temp.keep SELECT digest FROM tags")
        c.execute(
            "INSERT OR IGNORE INTO temp.keep SELECT p.part FROM parts p"
            " JOIN tags t ON t.digest = p.parent WHERE p.role <= 2"
        )
        documents = c.execute(
            "DELETE FROM parts WHERE parent NOT IN (SELECT id FROM temp.keep)"
        ).rowcount
        c.execute("DELETE FROM labels WHERE config NOT IN (SELECT part FROM parts WHERE role = 3)")
        reachable = (
            "(subject IN (SELECT digest FROM tags WHERE tags.repo = {t}.repo)"
            " OR subject IN (SELECT p.part FROM parts p JOIN tags t ON t.digest = p.parent"
            "  WHERE t.repo = {t}.repo AND p.role = 1))"
        )
        stale = c.execute(
            f"SELECT id, packages FROM sboms WHERE NOT {reachable.format(t='sboms')}"  # noqa: S608
        ).fetchall()
        drop_sboms(c, stale)
        c.execute(f"DELETE FROM sbom_reads WHERE NOT {reachable.format(t='sbom_reads')}")  # noqa: S608
        c.execute("DELETE FROM gone WHERE at < ?", (forget_before,))
        digests = c.execute(
            "DELETE FROM digests WHERE id NOT IN (SELECT id FROM temp.keep)"
            " AND id NOT IN (SELECT part FROM parts)"
            " AND id NOT IN (SELECT parent FROM parts)"
            " AND id NOT IN (SELECT digest FROM artifact_tags)"
            " AND id NOT IN (SELECT subject FROM sboms)"
            " AND id NOT IN (SELECT source FROM sboms)"
            " AND id NOT IN (SELECT subject FROM sbom_reads)"
        ).rowcount
        packages = c.execute(
            "DELETE FROM packages WHERE id NOT IN (SELECT package FROM sbom_packages)"
        ).rowcount
        c.execute("DELETE FROM temp.keep")
    return Pruned(documents, digests, len(stale), packages)
