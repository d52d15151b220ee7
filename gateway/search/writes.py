"""The index's writes, one function per unit the walker and notifications feed.

Each runs on the database's thread inside one transaction (``SearchIndex`` calls them
through ``Database.run``); none reads the registry. The units:

- ``set_tags``: "repository R now has tags {t: digest}", the whole list as read at
  ``as_of``. A tag written after ``as_of`` (a push event that arrived while the list was
  being read) is kept; a tag deleted after it (``gone``) is not brought back. Tags
  whose digest did not change cost nothing; the new digests are left for
  ``missing_documents``.
- ``tag_pushed``: "tag t of R now points at D" — from the notification's own fields; the
  tag need not be readable yet.
- ``tag_deleted`` / ``digest_deleted``: a deletion, remembered (``gone``) so that a tag
  list read before it does not undo it.
- ``add_documents``: the facts of digest D (its manifest or index, its config).
- ``set_sboms``: the packages of the SBOMs about D in R (referrers and attestations).
- ``set_catalog``: the repositories the registry lists; the others are dropped.

Artifact tags (``sha256-<hex>`` and cosign's ``.sig``/``.att``/``.sbom``) are not images:
they are kept apart (never a search result) and a change to one marks the SBOMs of its
subject in that repository to be read again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.datastore import transaction
from gateway.models.artifact_tags import is_artifact_tag, subject_of
from gateway.registry.names import is_digest, is_name, is_tag

from .documents import Facts, Kind, Role
from .sbom import MAX_PACKAGES, Packages
from .schema import encode_digest


@dataclass(frozen=True)
class TagsApplied:
    """What a full tag list changed."""

    added: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: bool = False  # the same list as last time (fingerprint): nothing written


def digest_id(c: sqlite3.Connection, digest: str) -> int:
    """The id of ``digest``, interned on first use."""
    stored = encode_digest(digest)
    row = c.execute("SELECT id FROM digests WHERE d = ?", (stored,)).fetchone()
    if row is not None:
        return int(row[0])
    cursor = c.execute("INSERT INTO digests (d) VALUES (?)", (stored,))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def manifest_id(c: sqlite3.Connection, digest: str) -> int:
    """The id of ``digest``, a manifest or index the index should read (a tag's target,
    an index's child): marked to read unless its documents already were."""
    did = digest_id(c, digest)
    c.execute("UPDATE digests SET read = 0 WHERE id = ? AND read IS NULL", (did,))
    return did


def find_digest(c: sqlite3.Connection, digest: str) -> int | None:
    row = c.execute("SELECT id FROM digests WHERE d = ?", (encode_digest(digest),)).fetchone()
    return None if row is None else int(row[0])


def fingerprint(tags: Mapping[str, str]) -> bytes:
    """Of a whole tag list, artifact tags included (16 bytes of a sha256)."""
    h = hashlib.sha256()
    for tag in sorted(tags):
        h.update(f"{tag}\t{tags[tag]}\n".encode())
    return h.digest()[:16]


def _touch(c: sqlite3.Connection, repo: str, now: float, *, event: bool = True) -> None:
    """The repository's row, created if needed, marked changed at ``now``. An event
    also forgets the fingerprint: the tags no longer are the list it was taken of, so
    the next full list is compared tag by tag."""
    c.execute(
        "INSERT INTO repos (name, changed_at) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET changed_at = excluded.changed_at",
        (repo, now),
    )
    if event:
        c.execute("UPDATE repos SET fingerprint = NULL WHERE name = ?", (repo,))


def _recount(c: sqlite3.Connection, repo: str) -> None:
    c.execute(
        "UPDATE repos SET images = (SELECT count(DISTINCT digest) FROM tags WHERE repo = ?) "
        "WHERE name = ?",
        (repo, repo),
    )


def _stale_sboms(c: sqlite3.Connection, repo: str, artifact_tag: str) -> None:
    subject = subject_of(artifact_tag)
    if subject is not None:
        sid = find_digest(c, subject)
        if sid is not None:
            c.execute("DELETE FROM sbom_reads WHERE repo = ? AND subject = ?", (repo, sid))


def set_tags(
    c: sqlite3.Connection, repo: str, tags: Mapping[str, str], as_of: float, now: float
) -> TagsApplied:
    tags = {t: d for t, d in tags.items() if is_tag(t) and is_digest(d)}
    new_print = fingerprint(tags)
    with transaction(c):
        _touch(c, repo, now, event=False)
        row = c.execute("SELECT fingerprint FROM repos WHERE name = ?", (repo,)).fetchone()
        if row[0] == new_print:
            c.execute("UPDATE repos SET walked_at = max(coalesce(walked_at, 0), ?) "
                      "WHERE name = ?", (as_of, repo))  # fmt: skip
            return TagsApplied(unchanged=True)
        gone = dict(c.execute("SELECT tag, at FROM gone WHERE repo = ?", (repo,)).fetchall())
        c.execute("DELETE FROM gone WHERE repo = ? AND at <= ?", (repo, as_of))
        current = {
            tag: (digest, at)
            for tag, digest, at in c.execute(
                "SELECT t.tag, d.d, t.at FROM tags t JOIN digests d ON d.id = t.digest "
                "WHERE t.repo = ?",
                (repo,),
            )
        }
        added = moved = removed = 0
        images = {t: d for t, d in tags.items() if not is_artifact_tag(t)}
        for tag, (_, at) in current.items():
            if tag not in images and at <= as_of:
                c.execute("DELETE FROM tags WHERE repo = ? AND tag = ?", (repo, tag))
                removed += 1
        for tag, digest in images.items():
            if gone.get(tag, 0) > as_of:
                continue  # deleted after the list was read
            known = current.get(tag)
            if known is not None and (known[1] > as_of or known[0] == encode_digest(digest)):
                continue  # newer than the list, or the same digest
            c.execute(
                "INSERT OR REPLACE INTO tags (repo, tag, digest, at) VALUES (?, ?, ?, ?)",
                (repo, tag, manifest_id(c, digest), as_of),
            )
            added += known is None
            moved += known is not None
        _set_artifact_tags(c, repo, {t: d for t, d in tags.items() if is_artifact_tag(t)})
        c.execute(
            "UPDATE repos SET walked_at = ?, fingerprint = ? WHERE name = ?",
            (as_of, new_print, repo),
        )
        _recount(c, repo)
    return TagsApplied(added, moved, removed)


def _set_artifact_tags(c: sqlite3.Connection, repo: str, tags: Mapping[str, str]) -> None:
    current = dict(
        c.execute(
            "SELECT a.tag, d.d FROM artifact_tags a JOIN digests d ON d.id = a.digest "
            "WHERE a.repo = ?",
            (repo,),
        ).fetchall()
    )
    for tag in current.keys() - tags.keys():
        c.execute("DELETE FROM artifact_tags WHERE repo = ? AND tag = ?", (repo, tag))
        _stale_sboms(c, repo, tag)
    for tag, digest in tags.items():
        if current.get(tag) != encode_digest(digest):
            c.execute(
                "INSERT OR REPLACE INTO artifact_tags (repo, tag, digest) VALUES (?, ?, ?)",
                (repo, tag, digest_id(c, digest)),
            )
            _stale_sboms(c, repo, tag)


def tag_pushed(
    c: sqlite3.Connection, repo: str, tag: str, digest: str, kind: Kind, now: float
) -> bool:
    """True when the digest's documents are still to be read."""
    with transaction(c):
        _touch(c, repo, now)
        c.execute("DELETE FROM gone WHERE repo = ? AND tag = ?", (repo, tag))
        if is_artifact_tag(tag):
            did = digest_id(c, digest)
            c.execute(
                "INSERT OR REPLACE INTO artifact_tags (repo, tag, digest) VALUES (?, ?, ?)",
                (repo, tag, did),
            )
            _stale_sboms(c, repo, tag)
            return False
        did = manifest_id(c, digest)
        c.execute(
            "INSERT OR REPLACE INTO tags (repo, tag, digest, at) VALUES (?, ?, ?, ?)",
            (repo, tag, did, now),
        )
        if kind != Kind.UNKNOWN:
            c.execute("UPDATE digests SET kind = ? WHERE id = ? AND read = 0", (kind, did))
        _recount(c, repo)
        read = c.execute("SELECT read FROM digests WHERE id = ?", (did,)).fetchone()[0]
    return bool(read < 2)


def tag_deleted(c: sqlite3.Connection, repo: str, tag: str, now: float) -> None:
    with transaction(c):
        _touch(c, repo, now)
        c.execute("DELETE FROM tags WHERE repo = ? AND tag = ?", (repo, tag))
        if c.execute("DELETE FROM artifact_tags WHERE repo = ? AND tag = ?", (repo, tag)).rowcount:
            _stale_sboms(c, repo, tag)
        c.execute("INSERT OR REPLACE INTO gone (repo, tag, at) VALUES (?, ?, ?)", (repo, tag, now))
        _recount(c, repo)


def digest_deleted(c: sqlite3.Connection, repo: str, digest: str, now: float) -> None:
    """The registry removes every tag on a digest it deletes; so does this. SBOMs about
    the digest in ``repo``, and those an artifact of that digest carried, go too."""
    with transaction(c):
        _touch(c, repo, now)
        did = find_digest(c, digest)
        if did is None:
            return
        for (tag,) in c.execute(
            "DELETE FROM tags WHERE repo = ? AND digest = ? RETURNING tag", (repo, did)
        ).fetchall():
            c.execute("INSERT OR REPLACE INTO gone VALUES (?, ?, ?)", (repo, tag, now))
        for (tag,) in c.execute(
            "DELETE FROM artifact_tags WHERE repo = ? AND digest = ? RETURNING tag", (repo, did)
        ).fetchall():
            c.execute("INSERT OR REPLACE INTO gone VALUES (?, ?, ?)", (repo, tag, now))
            _stale_sboms(c, repo, tag)
        sboms = c.execute(
            "SELECT id, packages FROM sboms WHERE repo = ? AND (subject = ? OR source = ?)",
            (repo, did, did),
        ).fetchall()
        drop_sboms(c, sboms)
        c.execute("DELETE FROM sbom_reads WHERE repo = ? AND subject = ?", (repo, did))
        _recount(c, repo)


def add_documents(c: sqlite3.Connection, facts: Facts, complete: bool) -> None:
    """Record what ``facts`` says of its digest (again: the same facts replace)."""
    with transaction(c):
        did = digest_id(c, facts.digest)
        c.execute(
            "UPDATE digests SET kind = ?, platform = ?, read = ? WHERE id = ?",
            (facts.kind, facts.platform, 2 if complete else 1, did),
        )
        c.execute("DELETE FROM parts WHERE parent = ?", (did,))
        rows = []
        for p in facts.parts:
            reads = p.role in (Role.CHILD, Role.ATTESTATION)  # manifests to read in turn
            part = manifest_id(c, p.digest) if reads else digest_id(c, p.digest)
            attests = digest_id(c, p.attests) if p.attests else None
            rows.append((did, p.role, part, p.platform, attests))
        c.executemany(
            "INSERT OR IGNORE INTO parts (parent, role, part, platform, attests)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        config = next((p.digest for p in facts.parts if p.role == Role.CONFIG), None)
        if config is not None and facts.labels:
            cid = digest_id(c, config)
            c.execute("DELETE FROM labels WHERE config = ?", (cid,))
            c.executemany(
                "INSERT INTO labels (config, key, value) VALUES (?, ?, ?)",
                [(cid, k, v) for k, v in facts.labels],
            )


def _package_ids(c: sqlite3.Connection, pairs: Iterable[tuple[str, str]]) -> list[int]:
    ids: list[int] = []
    for name, version in pairs:
        row = c.execute(
            "SELECT id FROM packages WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        if row is None:
            cursor = c.execute(
                "INSERT INTO packages (name, version) VALUES (?, ?)", (name, version)
            )
            assert cursor.lastrowid is not None
            ids.append(cursor.lastrowid)
        else:
            ids.append(int(row[0]))
    return ids


def drop_sboms(c: sqlite3.Connection, sboms: Iterable[tuple[int, bytes]]) -> None:
    """Delete SBOM rows ``(id, packed package ids)`` and their lookup rows."""
    for sid, packed in sboms:
        ids = array("I")
        ids.frombytes(packed)
        c.executemany(
            "DELETE FROM sbom_packages WHERE package = ? AND sbom = ?", ((p, sid) for p in ids)
        )
        c.execute("DELETE FROM sboms WHERE id = ?", (sid,))


def set_sboms(
    c: sqlite3.Connection,
    repo: str,
    subject: str,
    found: Iterable[tuple[str, Packages]],
    now: float,
) -> int:
    """Replace the packages of ``subject`` in ``repo`` by those of ``found`` (source
    digest, packages), at most ``MAX_PACKAGES`` of them; returns how many distinct
    packages it now lists."""
    listed: set[int] = set()
    with transaction(c):
        _touch(c, repo, now, event=False)
        sid = digest_id(c, subject)
        old = c.execute(
            "SELECT id, packages FROM sboms WHERE repo = ? AND subject = ?", (repo, sid)
        ).fetchall()
        drop_sboms(c, old)
        by_source: dict[str, set[tuple[str, str]]] = {}
        seen: set[tuple[str, str]] = set()
        for source, packages in found:  # a manifest may carry several SBOM layers
            kept = by_source.setdefault(source, set())
            for pair in packages.pairs:
                if len(seen) >= MAX_PACKAGES and pair not in seen:
                    break  # one image's packages are bounded, however many SBOMs
                seen.add(pair)
                kept.add(pair)
        for source, pairs in by_source.items():
            ids = array("I", sorted(set(_package_ids(c, sorted(pairs)))))
            cursor = c.execute(
                "INSERT OR REPLACE INTO sboms (repo, subject, source, packages) "
                "VALUES (?, ?, ?, ?)",
                (repo, sid, digest_id(c, source), ids.tobytes()),
            )
            c.executemany(
                "INSERT OR IGNORE INTO sbom_packages (package, sbom) VALUES (?, ?)",
                ((p, cursor.lastrowid) for p in ids),
            )
            listed.update(ids)
        c.execute(
            "INSERT OR REPLACE INTO sbom_reads (repo, subject, at) VALUES (?, ?, ?)",
            (repo, sid, now),
        )
    return len(listed)


def sboms_stale(c: sqlite3.Connection, repo: str, subject: str) -> None:
    with transaction(c):
        sid = find_digest(c, subject)
        if sid is not None:
            c.execute("DELETE FROM sbom_reads WHERE repo = ? AND subject = ?", (repo, sid))


def drop_repository(c: sqlite3.Connection, repo: str) -> None:
    """Everything the index holds about ``repo`` (the caller holds the transaction)."""
    for table in ("tags", "artifact_tags", "gone", "sbom_reads"):
        c.execute(f"DELETE FROM {table} WHERE repo = ?", (repo,))  # noqa: S608 - fixed names
    drop_sboms(c, c.execute("SELECT id, packages FROM sboms WHERE repo = ?", (repo,)).fetchall())
    c.execute("DELETE FROM repos WHERE name = ?", (repo,))


def set_catalog(c: sqlite3.Connection, names: Iterable[str], as_of: float, now: float) -> int:
    """The registry lists ``names`` (read at ``as_of``): the others are dropped, unless
    something about them arrived after that read. Returns how many were dropped."""
    listed = {n for n in names if is_name(n)}
    dropped = 0
    with transaction(c):
        known = dict(c.execute("SELECT name, changed_at FROM repos").fetchall())
        for name, changed_at in known.items():
            if name not in listed and changed_at <= as_of:
                drop_repository(c, name)
                dropped += 1
        c.execute("UPDATE repos SET listed = 0")
        c.executemany(
            "INSERT INTO repos (name, listed, changed_at) VALUES (?, 1, ?) "
            "ON CONFLICT (name) DO UPDATE SET listed = 1",
            ((n, now) for n in listed),
        )
        c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('catalog_at', ?)", (as_of,))
    return dropped
