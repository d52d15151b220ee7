"""Deleting one tag while keeping the other tags on the same digest.

Distribution 3.x deletes a tag natively (``DELETE /v2/<name>/manifests/<tag>``). 2.x
answers 400 ``DIGEST_INVALID``, so the tag is moved to a unique placeholder manifest
which is then deleted by digest — what ``regctl tag delete`` does. Needs push and
delete rights.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from gateway.errors import GatewayError, InvalidRequest, UpstreamInvalid
from gateway.registry import media_types as mt
from gateway.registry.credentials import Caller
from gateway.registry.transport import sha256_digest

if TYPE_CHECKING:
    from gateway.registry.client import RegistryClient


async def delete_tag(
    client: RegistryClient, caller: Caller, name: str, tag: str, digest: str | None = None
) -> str:
    """Remove one tag, keeping other tags on the same digest. Returns the method used.

    Distribution 3.x deletes a tag natively; 2.8 answers 400 ``DIGEST_INVALID``, so
    the tag is moved to a unique placeholder manifest which is then deleted by digest.
    ``digest`` is what the tag points at now: if the placeholder cannot be deleted,
    the tag is put back on it rather than left on the placeholder.
    """
    scope = f"repository:{name}:delete,pull,push"
    try:
        response = await client.send(
            "DELETE",
            f"/v2/{name}/manifests/{tag}",
            caller,
            scope=scope,
            subject="manifest",
            ok=(200, 202),
        )
        await response.aclose()
        return "native"
    except InvalidRequest as exc:
        if exc.code not in ("DIGEST_INVALID", "UNSUPPORTED"):
            raise
    except GatewayError as exc:
        if exc.status != 405 or exc.code != "UNSUPPORTED":
            raise
        # 405 on a tag may just mean "tags can't be deleted"; deletes may still be on.
    placeholder = await _push_placeholder(client, caller, name, tag, scope)
    try:
        await client.delete_manifest(caller, name, placeholder)
    except GatewayError:
        if digest is not None:
            with contextlib.suppress(GatewayError):
                await _retag(client, caller, name, tag, digest, scope)
        raise
    return "placeholder"


async def _retag(
    client: RegistryClient, caller: Caller, name: str, tag: str, digest: str, scope: str
) -> None:
    """Point ``tag`` at the manifest ``digest`` again (its bytes, as stored)."""
    original = await client.manifest(caller, name, digest)
    await _put_manifest(client, caller, name, tag, original.body, original.media_type, scope)


async def _put_manifest(
    client: RegistryClient,
    caller: Caller,
    name: str,
    tag: str,
    body: bytes,
    media_type: str,
    scope: str,
) -> None:
    put = await client.send(
        "PUT",
        f"/v2/{name}/manifests/{tag}",
        caller,
        scope=scope,
        subject="manifest",
        ok=(201,),
        content=body,
        headers={"Content-Type": media_type},
    )
    await put.aclose()


async def _push_placeholder(
    client: RegistryClient, caller: Caller, name: str, tag: str, scope: str
) -> str:
    config = json.dumps(
        {"light-registry": "placeholder for a tag delete", "nonce": uuid.uuid4().hex}
    ).encode()
    config_digest = sha256_digest(config)
    started = await client.send(
        "POST",
        f"/v2/{name}/blobs/uploads/",
        caller,
        scope=scope,
        subject="blob",
        ok=(202,),
        content=b"",
    )
    await started.aclose()
    location = started.headers.get("location", "")
    parts = urlsplit(location)
    base_host = urlsplit(client.base).netloc
    if not parts.path or (parts.netloc and parts.netloc != base_host):
        raise UpstreamInvalid("the registry answered an unusable upload location")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query["digest"] = config_digest
    done = await client.send(
        "PUT",
        parts.path.removeprefix(urlsplit(client.base).path),
        caller,
        scope=scope,
        subject="blob",
        ok=(201,),
        params=query,
        content=config,
        headers={"Content-Type": "application/octet-stream"},
    )
    await done.aclose()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.light-registry.placeholder.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    await _put_manifest(client, caller, name, tag, manifest, mt.OCI_MANIFEST, scope)
    return sha256_digest(manifest)
