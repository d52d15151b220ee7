"""Tags that name an artifact of another image rather than an image of their own.

- ``sha256-<64 hex>``: the OCI distribution spec 1.1 referrers tag schema, an index
  listing the referrers of ``sha256:<hex>`` (used when the registry has no referrers API);
- ``sha256-<64 hex>.sig``, ``.att``, ``.sbom``: cosign's signature, attestation and SBOM
  tags for that digest.

Tag lists hide them by default, retention never deletes them on its own (they follow
their subject), and the referrers lookup reads them.
"""

from __future__ import annotations

import re

COSIGN_SUFFIXES = (".sig", ".att", ".sbom")

_ARTIFACT_TAG = re.compile(r"sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?")


def is_artifact_tag(tag: str) -> bool:
    """True for the fallback tag of a digest and for cosign's tags."""
    return _ARTIFACT_TAG.fullmatch(tag) is not None


def subject_of(tag: str) -> str | None:
    """The digest an artifact tag refers to (``sha256:<hex>``), or None."""
    match = _ARTIFACT_TAG.fullmatch(tag)
    return f"sha256:{match.group(1)}" if match else None


def suffix_of(tag: str) -> str | None:
    """``.sig``, ``.att`` or ``.sbom`` for a cosign tag; "" for the fallback tag; None
    for any other tag."""
    match = _ARTIFACT_TAG.fullmatch(tag)
    if match is None:
        return None
    return match.group(2) or ""


_NOT_IN_TAGS = re.compile(r"[^A-Za-z0-9_.-]", re.ASCII)


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag for a digest (distribution-spec 1.1): the algorithm
    truncated to 32 characters, ``-``, the encoded part truncated to 64, any character a
    tag cannot hold replaced by ``-``. ``sha256:<hex>`` gives ``sha256-<hex>``."""
    algorithm, _, encoded = digest.partition(":")
    return _NOT_IN_TAGS.sub("-", f"{algorithm[:32]}-{encoded[:64]}")
