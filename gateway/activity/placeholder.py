"""The placeholder manifest of a tag delete on distribution 2.x, and how its events are
recognised.

2.x cannot delete a tag (``DELETE /v2/<name>/manifests/<tag>`` answers 400), so the
gateway pushes a tiny placeholder manifest to the tag and deletes that manifest by
digest (``gateway.services.tag_delete``). The registry notifies three events for it: a
push of the placeholder under the tag, a delete of its digest and a delete of the tag.
Only the last is what happened — one delete — so the first two must be recognised from
the events alone, which carry the repository, the tag (for the push) and the digest,
never the manifest's content.

So the placeholder is the same bytes for the same (repository, tag): its config names
them, and its digest is ``placeholder_for(repository, tag).digest``. A push whose digest
is that of its own (repository, tag) is the placeholder (a collision would need a
SHA-256 preimage); its later delete by digest is matched against the placeholders
remembered from those pushes (the delete event carries no tag).

Two deletes of the same tag at once push the same placeholder; the second delete by
digest then finds it gone (404), and the tag is gone as asked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from gateway.models import media_types as mt

PLACEHOLDER_CONFIG = "application/vnd.light-registry.placeholder.v1+json"
#: How long a placeholder push is remembered waiting for its delete by digest.
REMEMBER_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Placeholder:
    config: bytes
    config_digest: str
    manifest: bytes
    digest: str
    media_type: str = mt.OCI_MANIFEST


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def placeholder_for(repository: str, tag: str) -> Placeholder:
    """The placeholder manifest (and its config blob) for deleting ``tag``."""
    config = json.dumps(
        {
            "light-registry": "placeholder for a tag delete",
            "repository": repository,
            "tag": tag,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    config_digest = _sha256(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": PLACEHOLDER_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [],
        },
        separators=(",", ":"),
    ).encode()
    return Placeholder(config, config_digest, manifest, _sha256(manifest))


def is_placeholder_push(repository: str, tag: str | None, digest: str | None) -> bool:
    """Whether a push of ``digest`` under ``tag`` is that tag's placeholder."""
    if tag is None or digest is None or not digest.startswith("sha256:"):
        return False
    return placeholder_for(repository, tag).digest == digest
