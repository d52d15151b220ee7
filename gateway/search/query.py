"""What a search asks, checked: the four kinds of ``GET /api/search``, the search box's
syntax, and the page cursor.

Rules (docs/search.md has examples):

- ``digest``: ``sha256:<64 hex>``, or 12 to 64 hex digits with or without ``sha256:``
  (a prefix); upper-case hex is read as lower-case.
- ``label``: ``key`` (any value) or ``key=value`` (split at the first ``=``; an empty
  value matches an empty label). Exact and case-sensitive, as Docker labels are.
- ``tag``: a glob over tag names, ``*`` any run of characters, ``?`` one; every other
  character is itself. **Case-insensitive** (``*-RC*`` finds ``2.0-rc1``): a search box
  should not make people guess how a tag was typed. Only the tag grammar's characters
  are allowed, so a glob can never match what no tag holds.
- ``package``: ``name`` or ``name@version``, split at the last ``@`` that is not the
  first character (``@babel/core@7.24.0``). The name is matched case-insensitively, the
  version exactly.

Every refusal is a 400 (``InvalidRequest``, ``DigestInvalid`` for a digest), echoing at
most 100 characters of what was sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Literal

from gateway.errors import DigestInvalid, InvalidRequest, clip

Kind = Literal["digest", "label", "tag", "package"]
KINDS: tuple[Kind, ...] = ("digest", "label", "tag", "package")

MIN_PREFIX = 12
MAX_GLOB = 256
MAX_LABEL_KEY = 256
MAX_LABEL_VALUE = 1024
MAX_PACKAGE_NAME = 256
MAX_PACKAGE_VERSION = 128
MAX_CURSOR = 2048
DEFAULT_PAGE = 50
MAX_PAGE = 1000

_HEX = re.compile(r"(?:sha256:)?([0-9a-f]{12,64})", re.ASCII)
_GLOB = re.compile(r"[A-Za-z0-9_.*?-]+", re.ASCII)
# The search box: a bare 12+ hex string is a digest; "kind:" prefixes name the others.
_BOX_PREFIXES: dict[str, Kind] = {
    "digest": "digest",
    "label": "label",
    "tag": "tag",
    "pkg": "package",
    "package": "package",
}


@dataclass(frozen=True)
class Query:
    """One search: its kind, the text as normalised, and what the lookup needs."""

    kind: Kind
    text: str
    # digest: the hex (64 digits: exact; fewer: a prefix)
    hex: str = ""
    # label: key and value (None: any value); package: name and version (None: any)
    key: str = ""
    value: str | None = None
    # tag: the glob as a LIKE pattern (escape character "\")
    like: str = ""

    @property
    def exact_digest(self) -> str | None:
        return f"sha256:{self.hex}" if len(self.hex) == 64 else None


@dataclass(frozen=True)
class NameSearch:
    """Search-box text that is none of the four: a repository name filter (``q``)."""

    text: str


def _printable(value: str) -> bool:
    return value.isprintable()


def parse_digest(text: str) -> Query:
    value = text.strip().lower()
    match = _HEX.fullmatch(value)
    if match is None:
        raise DigestInvalid(
            f"digest: sha256:<64 hex digits>, or at least {MIN_PREFIX} hex digits of one",
            detail={"digest": clip(text)},
        )
    return Query("digest", value if ":" in value else match.group(1), hex=match.group(1))


def parse_label(text: str) -> Query:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not key or len(key) > MAX_LABEL_KEY or not _printable(key):
        raise InvalidRequest(
            "label: key or key=value, the key 1 to 256 printable characters",
            detail={"label": clip(text)},
        )
    if sep and (len(value) > MAX_LABEL_VALUE or not _printable(value)):
        raise InvalidRequest(
            "label: the value is at most 1024 printable characters", detail={"label": clip(text)}
        )
    return Query("label", text, key=key, value=value if sep else None)


def parse_tag_glob(text: str) -> Query:
    if len(text) > MAX_GLOB or _GLOB.fullmatch(text) is None:
        raise InvalidRequest(
            "tag: a glob of tag characters (A-Z a-z 0-9 _ . -) and * or ?",
            code="TAG_INVALID",
            detail={"tag": clip(text)},
        )
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Query("tag", text, like=like.replace("*", "%").replace("?", "_"))


def parse_package(text: str) -> Query:
    stripped = text.strip()
    at = stripped.rfind("@")
    name, version = (stripped[:at], stripped[at + 1 :]) if at > 0 else (stripped, None)
    if not name or len(name) > MAX_PACKAGE_NAME or not _printable(name):
        raise InvalidRequest(
            "package: name or name@version, the name 1 to 256 printable characters",
            detail={"package": clip(text)},
        )
    if version is not None and (
        not version or len(version) > MAX_PACKAGE_VERSION or not _printable(version)
    ):
        raise InvalidRequest(
            "package: the version after @ is 1 to 128 printable characters",
            detail={"package": clip(text)},
        )
    return Query("package", stripped, key=name, value=version)


_PARSERS = {
    "digest": parse_digest,
    "label": parse_label,
    "tag": parse_tag_glob,
    "package": parse_package,
}


def from_params(
    digest: str | None = None,
    label: str | None = None,
    tag: str | None = None,
    package: str | None = None,
) -> Query:
    """The query of ``GET /api/search``: exactly one of the four parameters."""
    given = {
        k: v
        for k, v in (("digest", digest), ("label", label), ("tag", tag), ("package", package))
        if v is not None
    }
    if len(given) != 1:
        raise InvalidRequest(
            "give exactly one of digest, label, tag or package",
            detail={"given": sorted(given)},
        )
    ((kind, text),) = given.items()
    return _PARSERS[kind](text)


def from_box(text: str) -> Query | NameSearch:
    """The search box's text: ``label:k=v``, ``tag:glob``, ``pkg:name@version``,
    ``digest:…``, a digest or 12+ hex digits; anything else filters repository names."""
    stripped = text.strip()
    head, sep, rest = stripped.partition(":")
    kind = _BOX_PREFIXES.get(head.lower()) if sep else None
    if kind is not None:
        return _PARSERS[kind](rest)
    if _HEX.fullmatch(stripped.lower()):
        return parse_digest(stripped)
    return NameSearch(stripped)


def page_size(n: int | None) -> int:
    if n is None:
        return DEFAULT_PAGE
    if not 1 <= n <= MAX_PAGE:
        raise InvalidRequest("n: 1 to 1000", detail={"n": n})
    return n


# -- the cursor -------------------------------------------------------------------------

# A result's place in the order: (repository, tag, platform or "", match kind, match value).
SortKey = tuple[str, str, str, str, str]


def encode_cursor(key: SortKey) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> SortKey | None:
    """The ``last`` a previous page's ``next`` gave, or 400 for anything else."""
    if not text:
        return None
    try:
        if len(text) > MAX_CURSOR:
            raise ValueError
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = json.loads(raw)
        if not (isinstance(key, list) and len(key) == 5 and all(isinstance(k, str) for k in key)):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            "last: the next value of a previous page of this search", detail={"last": clip(text)}
        ) from None
    return (key[0], key[1], key[2], key[3], key[4])
