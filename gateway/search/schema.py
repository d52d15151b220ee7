"""The search index's tables (``search.sqlite3`` under ``LR_DATA_DIR``), and how a digest
is stored.

Derived data: every row can be read again from the registry, so a schema change may
simply start afresh (a migration that drops and recreates) rather than convert.

Sizes are what keep 10,000 images under a few megabytes: digests are interned once
(``digests``: 32 bytes of a sha256, an integer everywhere else), a package
``name@version`` once (``packages``), an SBOM's list of package ids packed into one blob
next to a one-row-per-package lookup table (``sbom_packages``, a ``WITHOUT ROWID``
B-tree of two integers). Tags are keyed by repository *name* so that the glob search
and every result page come out of one index already in ``(repository, tag)`` order.

::

    repos          name → listed by the catalog, walked_at, fingerprint, images
    tags           (repo, tag) → digest, at        the images a search can answer with
    artifact_tags  (repo, tag) → digest            sha256-<hex>, .sig, .att, .sbom tags
    gone           (repo, tag) → at                deletions newer than a tag list read
    digests        id → d, kind, platform, read    every digest the documents name;
                                                   read: NULL a blob, 0 a manifest to
                                                   read, 1 read but its config not, 2 read
    parts          (parent, role, part) → platform, attests
                                                   index → children, manifest → blobs
    labels         (config, key) → value
    packages       id → (name, version)
    sboms          id → (repo, subject, source), package ids
    sbom_packages  (package, sbom)
    sbom_reads     (repo, subject) → at            referrers/attestations looked at
    meta           key → value                     catalog_at
"""

from __future__ import annotations

from gateway.datastore import Migration
from gateway.registry.names import SHA256_RE

FILE_NAME = "search.sqlite3"

V1 = """
CREATE TABLE repos (
    name TEXT PRIMARY KEY,
    listed INTEGER NOT NULL DEFAULT 0,
    walked_at REAL,
    changed_at REAL NOT NULL,
    fingerprint BLOB,
    images INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE digests (
    id INTEGER PRIMARY KEY,
    d BLOB NOT NULL UNIQUE,
    kind INTEGER NOT NULL DEFAULT 0,
    platform TEXT,
    read INTEGER
);
CREATE INDEX digests_unread ON digests (id) WHERE read < 2;

CREATE TABLE tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (repo, tag)
) WITHOUT ROWID;
CREATE INDEX tags_by_digest ON tags (digest);

CREATE TABLE artifact_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest INTEGER NOT NULL,
    PRIMARY KEY (repo, tag)
) WITHOUT ROWID;

CREATE TABLE gone (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (repo, tag)
) WITHOUT ROWID;

CREATE TABLE parts (
    parent INTEGER NOT NULL,
    role INTEGER NOT NULL,
    part INTEGER NOT NULL,
    platform TEXT,
    attests INTEGER,
    PRIMARY KEY (parent, role, part)
) WITHOUT ROWID;
CREATE INDEX parts_by_part ON parts (part, role);
CREATE INDEX parts_by_attested ON parts (attests) WHERE attests IS NOT NULL;

CREATE TABLE labels (
    config INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (config, key)
) WITHOUT ROWID;
CREATE INDEX labels_by_key ON labels (key, value);

CREATE TABLE packages (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    UNIQUE (name, version)
);
CREATE INDEX packages_by_name ON packages (name COLLATE NOCASE, version);

CREATE TABLE sboms (
    id INTEGER PRIMARY KEY,
    repo TEXT NOT NULL,
    subject INTEGER NOT NULL,
    source INTEGER NOT NULL,
    packages BLOB NOT NULL,
    UNIQUE (repo, subject, source)
);
CREATE INDEX sboms_by_source ON sboms (source);

CREATE TABLE sbom_packages (
    package INTEGER NOT NULL,
    sbom INTEGER NOT NULL,
    PRIMARY KEY (package, sbom)
) WITHOUT ROWID;

CREATE TABLE sbom_reads (
    repo TEXT NOT NULL,
    subject INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (repo, subject)
) WITHOUT ROWID;

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;
"""

MIGRATIONS: list[Migration] = [V1]


def encode_digest(digest: str) -> bytes:
    """A digest as stored: the 32 bytes of a sha256, any other algorithm as its text
    (always longer than 32 bytes, so the two never collide)."""
    if SHA256_RE.fullmatch(digest):
        return bytes.fromhex(digest[7:])
    return digest.encode("ascii", "replace")


def decode_digest(stored: bytes) -> str:
    if len(stored) == 32:
        return "sha256:" + stored.hex()
    return stored.decode("ascii", "replace")


def hex_range(prefix: str) -> tuple[bytes, bytes]:
    """The stored sha256 digests (inclusive bounds) whose hex starts with ``prefix``."""
    low = prefix.ljust(64, "0")
    high = prefix.ljust(64, "f")
    return bytes.fromhex(low), bytes.fromhex(high)
