"""Repository name, tag and digest grammar (distribution's reference grammar).

The ``*_PATTERN`` strings are the one source of truth: the checks below compile them
(``re.fullmatch``, ``re.ASCII``) and the OpenAPI document publishes them, anchored, as
the ``pattern`` of the path and query parameters (``anchored``). They use only syntax
that Python, ECMA-262 (a TypeScript client) and pydantic's regex engine read alike: no
lookaround, no flags, ASCII classes.
"""

from __future__ import annotations

import re

from gateway.errors import DigestInvalid, NameInvalid, TagInvalid, clip

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_PATTERN = rf"{_COMPONENT}(?:/{_COMPONENT})*"
NAME_MAX = 255
TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
TAG_MAX = 128
# The only digests the gateway accepts (others are well-formed but refused, below).
SHA256_PATTERN = r"sha256:[a-f0-9]{64}"
SHA256_LENGTH = len("sha256:") + 64
# A tag or a digest: a digest always contains ':', a tag never does.
REFERENCE_PATTERN = rf"{TAG_PATTERN}|{SHA256_PATTERN}"
REFERENCE_MAX = max(TAG_MAX, SHA256_LENGTH)
# A substring filter (q): any text but control characters, which no name or tag holds.
SEARCH_PATTERN = r"[^\x00-\x1f\x7f]*"

NAME_RE = re.compile(NAME_PATTERN, re.ASCII)
TAG_RE = re.compile(TAG_PATTERN, re.ASCII)
# distribution's digest grammar: recognised so that a well-formed digest of another
# algorithm is told "only sha256", not "invalid".
DIGEST_RE = re.compile(
    r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}"
    # other algorithms; sha256 and sha512 have only the strict forms above
    r"|(?!sha256:|sha512:)[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,})",
    re.ASCII,
)
SHA256_RE = re.compile(SHA256_PATTERN, re.ASCII)

# The OCI digest grammar (image-spec, descriptor.md), what /v2 takes and hands on to the
# registry: any algorithm, the registered ones (sha256, sha512) with their exact encoding.
# Bounded (a digest longer than this is no digest any registry computes), so a hostile
# path cannot make the gateway carry kilobytes of "digest" along.
OCI_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
OCI_DIGEST_MAX = 1024
_REGISTERED_ENCODINGS = {
    "sha256": re.compile(r"[a-f0-9]{64}", re.ASCII),
    "sha512": re.compile(r"[a-f0-9]{128}", re.ASCII),
}


def anchored(pattern: str, *, optional: bool = False) -> str:
    """``pattern`` as a JSON Schema (ECMA-262) ``pattern``: those are not anchored."""
    return f"^(?:{pattern}){'?' if optional else ''}$"


# A whole page of names or tags checked in one match: joined by newlines, which neither
# grammar admits, so the page matches exactly when every entry does (a catalog page of
# 1,000 names in one C call instead of 1,000 Python ones). The names' page uses the same
# grammar with possessive repeats (Python only, never published): a separator is never
# a name character, so no repeat ever needs to give back what it took, and the engine
# keeps no backtracking state per character (a 1,000-name page: 150 µs instead of 280).
_COMPONENT_ONCE = r"[a-z0-9]++(?:(?:\.|_|__|-++)[a-z0-9]++)*+"
_NAME_ONCE = rf"{_COMPONENT_ONCE}(?:/{_COMPONENT_ONCE})*+"
_NAMES_RE = re.compile(rf"(?:{_NAME_ONCE})(?:\n(?:{_NAME_ONCE}))*+", re.ASCII)
_TAGS_RE = re.compile(rf"(?:{TAG_PATTERN})(?:\n(?:{TAG_PATTERN}))*", re.ASCII)


def _all_match(pattern: re.Pattern[str], values: list[str]) -> bool:
    joined = "\n".join(values)
    # An entry holding a newline would pass as two: then count the newlines.
    return joined.count("\n") == len(values) - 1 and pattern.fullmatch(joined) is not None


def valid_names(values: list[str]) -> list[str]:
    """The entries that are repository names (all of them, usually: one match). An
    entry that is not a string raises TypeError."""
    if values and max(map(len, values)) <= NAME_MAX and _all_match(_NAMES_RE, values):
        return values
    return [v for v in values if is_name(v)]


def valid_tags(values: list[str]) -> list[str]:
    """The entries that are tags (all of them, usually: one match). An entry that is not
    a string raises TypeError."""
    if values and _all_match(_TAGS_RE, values):
        return values
    return [v for v in values if is_tag(v)]


def is_name(value: str) -> bool:
    return len(value) <= NAME_MAX and NAME_RE.fullmatch(value) is not None


def is_tag(value: str) -> bool:
    return TAG_RE.fullmatch(value) is not None


def is_digest(value: str) -> bool:
    return DIGEST_RE.fullmatch(value) is not None


def is_oci_digest(value: str) -> bool:
    """A digest by the OCI grammar, of any algorithm (the registered ones checked)."""
    if len(value) > OCI_DIGEST_MAX or OCI_DIGEST_RE.fullmatch(value) is None:
        return False
    algorithm, _, encoded = value.partition(":")
    registered = _REGISTERED_ENCODINGS.get(algorithm)
    return registered is None or registered.fullmatch(encoded) is not None


def is_sha256(value: str) -> bool:
    return SHA256_RE.fullmatch(value) is not None


def check_name(value: str) -> str:
    if not is_name(value):
        raise NameInvalid("invalid repository name", detail={"name": clip(value)})
    return value


def check_tag(value: str) -> str:
    if not is_tag(value):
        raise TagInvalid("invalid tag", detail={"tag": clip(value)})
    return value


def check_digest(value: str) -> str:
    if not is_digest(value):
        raise DigestInvalid("invalid digest", detail={"digest": clip(value)})
    if SHA256_RE.fullmatch(value) is None:
        raise DigestInvalid("only sha256 digests are supported", detail={"digest": clip(value)})
    return value


def is_reference_digest(reference: str) -> bool:
    """Whether a reference (a tag or a digest, already checked) is a digest, of any
    algorithm: a digest always contains ':', a tag never does."""
    return ":" in reference


def check_reference(value: str) -> str:
    """A tag or a digest (a digest always contains ':', a tag never does)."""
    return check_digest(value) if ":" in value else check_tag(value)


def check_oci_digest(value: str) -> str:
    """A digest as /v2 takes it: anything the OCI grammar allows, whatever the
    algorithm; the registry judges whether it supports it."""
    if not is_oci_digest(value):
        raise DigestInvalid("invalid digest", detail={"digest": clip(value)})
    return value


def check_oci_reference(value: str) -> str:
    """A tag or a digest of any algorithm (/v2)."""
    return check_oci_digest(value) if ":" in value else check_tag(value)
