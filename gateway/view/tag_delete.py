"""Deleting one tag while keeping the other tags on the same digest: a policy over the
client's public calls (``delete_manifest``, ``put_manifest``, ``upload_blob``).

Distribution 3.x deletes a tag natively (``DELETE /v2/<name>/manifests/<tag>``). 2.x
answers 400 ``DIGEST_INVALID``, so the tag is moved to a placeholder manifest which is
then deleted by digest — what ``regctl tag delete`` does. Needs push and delete rights.

The placeholder is the same bytes for the same (repository, tag)
(``gateway.activity.placeholder``), so the registry's notifications of it are told
apart from real pushes and deletes. Two deletes of one tag at once push the same
placeholder: the second delete by digest finds it gone (404), and the tag is gone, as
both asked.
"""

from __future__ import annotations

import contextlib

from gateway.activity.placeholder import placeholder_for
from gateway.errors import DigestInvalid, GatewayError, ManifestUnknown, refuses_operation
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller


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
    except ManifestUnknown:
        pass  # a delete of the same tag at once removed the same placeholder: done
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
    placeholder = placeholder_for(name, tag)
    await client.upload_blob(caller, name, placeholder.config, scope=scope)
    await client.put_manifest(
        caller, name, tag, placeholder.manifest, placeholder.media_type, scope=scope
    )
    return placeholder.digest
