"""Writes through the view: each drops what it made stale, itself.

Every change the gateway makes to the registry — a manifest put, a delete by digest, a
tag delete (natively on 3.x, by a placeholder on 2.x: ``gateway.view.tag_delete``), a
blob delete — is made in a ``WriteBatch`` of one repository. When the batch ends,
whatever happened (a write answered late, a 202 lost, an error halfway), the
repository's cached lists and pointers are dropped for every caller, the subscribers
are told what was written (one ``Change`` per write, the caller as its actor), and with
Redis every replica. A batch of many writes (a bulk delete, a retention plan) drops once.

Blob uploads (``/v2`` push mode) pass through unchanged and make nothing stale: a blob
is not in any list until a manifest names it, and that manifest's put is a write. An
upload the registry let a caller start is remembered (``LR_ACCESS_TTL``; with Redis on
every replica), so the nginx in front may send that caller's next steps itself
(``push_authorization``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import Forbidden, Unauthorized
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.registry.names import is_reference_digest
from gateway.registry.protocol import Passed
from gateway.registry.transport import sha256_digest
from gateway.view.caches import ViewCaches, stored_key
from gateway.view.changes import Action, Change
from gateway.view.invalidation import Invalidation, gateway_change
from gateway.view.tag_delete import delete_tag


class WriteBatch:
    """Writes to one repository as one caller; what they changed is kept for the end."""

    def __init__(self, client: RegistryClient, caches: ViewCaches, caller: Caller, repo: str):
        self._client = client
        self._tag_digests = caches.tag_digests
        self.caller = caller
        self.repo = repo
        self.changes: list[Change] = []
        self.new_repo_possible = False

    def _done(self, action: Action, **known: str | None) -> None:
        self.changes.append(gateway_change(self.caller, self.repo, action, **known))

    async def delete_manifest(self, reference: str) -> None:
        """Delete a manifest by digest (a tag, where the registry supports it)."""
        await self._client.delete_manifest(self.caller, self.repo, reference)
        if is_reference_digest(reference):
            self._done("delete", digest=reference)
        else:
            self._done("delete", tag=reference)

    async def delete_tag(self, tag: str, digest: str | None = None) -> str:
        """Remove one tag, keeping the other tags on its digest (``digest``: where it
        points now). Returns the method used: ``native`` or ``placeholder``."""
        method = await delete_tag(self._client, self.caller, self.repo, tag, digest)
        self._done("delete", tag=tag, digest=digest)
        return method

    async def put_manifest(
        self, reference: str, body: bytes, media_type: str, *, new_repository: bool = True
    ) -> Passed:
        """``PUT`` a manifest under a tag or digest; ``new_repository``: the repository
        may be new (not when the gateway just read one of its manifests)."""
        self.new_repo_possible = self.new_repo_possible or new_repository
        by_digest = is_reference_digest(reference)
        # pushed by digest: that digest (/v2 hands on any algorithm); by tag, sha256
        digest = reference if by_digest else sha256_digest(body)
        was = None if by_digest else self._tag_digests.peek((self.repo, reference))
        passed = await self._client.put_manifest(
            self.caller, self.repo, reference, body, media_type
        )
        action: Action = "tag-move" if was is not None and was != digest else "push"
        tag = None if by_digest else reference
        self._done(action, tag=tag, digest=digest, media_type=media_type)
        return passed

    async def delete_blob(self, digest: str) -> None:
        await self._client.delete_blob(self.caller, self.repo, digest)
        self._done("delete", digest=digest)


class Writes:
    def __init__(self, client: RegistryClient, caches: ViewCaches, invalidation: Invalidation):
        self.client = client
        self.caches = caches
        self.invalidation = invalidation

    @asynccontextmanager
    async def batch(self, caller: Caller, repo: str) -> AsyncIterator[WriteBatch]:
        """Writes to ``repo``; the repository's cached data is dropped when it ends."""
        batch = WriteBatch(self.client, self.caches, caller, repo)
        try:
            yield batch
        finally:
            # Whatever the answers, the registry may have changed: a write that failed
            # is dropped for as a change of unknown kind.
            changes = batch.changes or [gateway_change(caller, repo)]
            self.invalidation.repositories(changes, new_repo_possible=batch.new_repo_possible)

    def refresh(self, caller: Caller, repo: str) -> None:
        """Drop what is cached of ``repo`` (every caller): the next reads ask the
        registry, as a write about to be made needs (it names what it changes)."""
        self.invalidation.repositories([gateway_change(caller, repo)], new_repo_possible=False)

    async def upload(
        self,
        caller: Caller,
        repo: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
    ) -> Passed:
        """One blob upload step (``/v2`` push mode), its ``Location`` as a path on the
        registry (the router puts it on the gateway). Nothing is made stale."""
        pusher = (stored_key(caller.key), repo)
        try:
            passed = await self.client.upload_step(
                caller, repo, method, path, headers=headers, content=content
            )
        except (Unauthorized, Forbidden):
            self.caches.pushes.local.discard(pusher)
            raise
        if method == "POST" and passed.status in (201, 202):
            # the registry let this caller push here (every replica is told, with Redis)
            await self.caches.pushes.put(pusher, True, caller)
        location = passed.headers.get("location")
        if location is not None:
            passed.headers["location"] = self.client.registry_path(location, f"/v2/{repo}/blobs/")
        return passed

    async def push_authorization(self, caller: Caller, repo: str) -> str | None:
        """What an upload step to ``repo`` carries for this caller, known without a
        request, for a caller the registry let start an upload there within
        ``LR_ACCESS_TTL`` (``RegistryClient.push_authorization``; ``LookupError``
        otherwise). Whoever sends it is still answered by the registry as this caller."""
        if not (await self.caches.pushes.get((stored_key(caller.key), repo), caller)).value:
            raise LookupError("the registry has not let this caller push here lately")
        return await self.client.push_authorization(caller, repo)
