"""Content negotiation and revalidation shared by the SPA and the docs' assets."""

from __future__ import annotations


def accepted_encodings(header: str | None) -> set[str]:
    """Codings an ``Accept-Encoding`` header accepts (``q=0`` refuses one; ``*`` stands
    for the others)."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for part in (header or "").split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        (accepted if q > 0 else refused).add(coding)
    if "*" in accepted:
        accepted |= {"br", "gzip"} - refused
    return accepted - refused


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for
    this header) or is ``*``."""
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))
