"""Parse ``WWW-Authenticate`` into challenges. Pure; table-tested.

Handles several challenges in one header (``Basic realm="a", Bearer realm="b"``),
quoted strings with escapes and commas, unquoted tokens, and case-insensitive schemes
and parameter names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# A scheme ends at blanks, at the end, or at the comma after a challenge with no parameters.
_SCHEME_RE = re.compile(rf"\s*({_TCHARS})(?:\s+|$|(?=,))")
# Empty list elements (",,") are allowed between parameters (RFC 9110 #rule).
_PARAM_RE = re.compile(rf'\s*({_TCHARS})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TCHARS}))\s*((?:,\s*)+)?')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower-case: "basic", "bearer", ...
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> list[str]:
        return self.params.get("scope", "").split()

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenges(header: str | None) -> list[Challenge]:
    """Every challenge in the header value; unparseable trailing text is ignored."""
    if not header:
        return []
    out: list[Challenge] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        while pos < len(text) and text[pos] in ", ":
            pos += 1
        m = _SCHEME_RE.match(text, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(text):
            p = _PARAM_RE.match(text, pos)
            if not p:
                break
            quoted, bare = p.group(2), p.group(3)
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            params[p.group(1).lower()] = value
            pos = p.end()
            if not p.group(4):
                break
        out.append(Challenge(scheme, params))
    return out


def find(challenges: list[Challenge], scheme: str) -> Challenge | None:
    for challenge in challenges:
        if challenge.scheme == scheme:
            return challenge
    return None
