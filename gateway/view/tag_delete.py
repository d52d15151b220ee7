"""Deleting one tag while keeping the other tags on the same digest: a policy over the
client's public calls (``delete_manifest``, ``put_manifest``, ``upload_blob``).

Distribution 3.x deletes a tag natively (``DELETE /v2/<name>/manifests/<tag>``). 2.x
answers 400 ``DIGEST_INVALID``, so the tag is moved to a unique placeholder manifest
which is then deleted by digest — what ``regctl tag delete`` does. Needs push and
delete rights.
"""

from __future__ import annotations

import contextlib
import json
import uuid

from gateway.errors import DigestInvalid, GatewayError, refuses_operation
from gateway.models import media_types as mt
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.registry.transport import sha256_digest

PLACEHOLDER_CONFIG = "application/vnd.light-registry.placeholder.v1+json"


async def delete_tag(
    client: RegistryClient, caller: Caller, name: str, tag: str, digest: str | None = None
) -> str:
    """Remove one tag, keeping other tags on the same digest. Returns the method used.

    ``digest`` is what the tag points at now: if the placeholder cannot be deleted,
    the tag is put back on it rather than left on the placeholder.
    """
    scope = f"repository:{name}:delete,pull,push"
    try:
        await client.delete_manifest(caller, name, tag, scope=scope)
        return "native"
    except DigestInvalid:
        pass  # 2.x: a tag is no digest
    except GatewayError as exc:
        # 405 (or a 400 UNSUPPORTED) on a tag may just mean "tags can't be deleted";
        # deletes may be on.
        if not refuses_operation(exc):
            raise
    placeholder = await _push_placeholder(client, caller, name, tag, scope)
    try:
        await client.delete_manifest(caller, name, placeholder, scope=scope)
    except GatewayError:
        if digest is not None:
            with contextlib.suppress(GatewayError):
                original = await client.manifest(caller, name, digest)
                await client.put_manifest(
                    caller, name, tag, original.body, original.media_type, scope=scope
                )
        raise
    return "placeholder"


async def _push_placeholder(
    client: RegistryClient, caller: Caller, name: str, tag: str, scope: str
) -> str:
    config = json.dumps(
        {"light-registry": "placeholder for a tag delete", "nonce": uuid.uuid4().hex}
    ).encode()
    config_digest = await client.upload_blob(caller, name, config, scope=scope)
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
        }
    ).encode()
    await client.put_manifest(caller, name, tag, manifest, mt.OCI_MANIFEST, scope=scope)
    return sha256_digest(manifest)
