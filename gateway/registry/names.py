"""Repository name, tag and digest grammar (distribution's reference grammar)."""

from __future__ import annotations

import re

from gateway.errors import InvalidRequest

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", re.ASCII)
DIGEST_RE = re.compile(
    r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}"
    # other algorithms; sha256 and sha512 have only the strict forms above
    r"|(?!sha256:|sha512:)[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,})",
    re.ASCII,
)
NAME_MAX = 255


def is_name(value: str) -> bool:
    return len(value) <= NAME_MAX and NAME_RE.fullmatch(value) is not None


def is_tag(value: str) -> bool:
    return TAG_RE.fullmatch(value) is not None


def is_digest(value: str) -> bool:
    return DIGEST_RE.fullmatch(value) is not None


def check_name(value: str) -> str:
    if not is_name(value):
        raise InvalidRequest(
            "invalid repository name", code="NAME_INVALID", detail={"name": value[:300]}
        )
    return value


def check_tag(value: str) -> str:
    if not is_tag(value):
        raise InvalidRequest("invalid tag", code="TAG_INVALID", detail={"tag": value[:200]})
    return value


def check_digest(value: str) -> str:
    if not is_digest(value):
        raise InvalidRequest(
            "invalid digest", code="DIGEST_INVALID", detail={"digest": value[:200]}
        )
    if not value.startswith("sha256:"):
        raise InvalidRequest(
            "only sha256 digests are supported", code="DIGEST_INVALID", detail={"digest": value}
        )
    return value


def check_reference(value: str) -> str:
    """A tag or a digest (a digest always contains ':', a tag never does)."""
    return check_digest(value) if ":" in value else check_tag(value)
