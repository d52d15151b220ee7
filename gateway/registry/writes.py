"""What the client changes in the registry: deletes, manifest pushes, blob uploads. The
view (``gateway.view.writes``) is the only caller: it drops what each write made stale."""

from __future__ import annotations

from collections.abc import AsyncIterable
from urllib.parse import urlencode, urlsplit

from gateway.errors import UpstreamInvalid
from gateway.registry.credentials import Caller
from gateway.registry.protocol import Passed, delete_scope, push_scope, upload_headers
from gateway.registry.transport import Upstream, sha256_digest


class RegistryWrites:
    """The writes of ``RegistryClient`` (its base), over its transport."""

    transport: Upstream

    @property
    def base(self) -> str:
        return self.transport.base

    # -- deletes ----------------------------------------------------------------------

    async def delete_blob(self, caller: Caller, name: str, digest: str) -> None:
        response = await self.transport.send(
            "DELETE",
            f"/v2/{name}/blobs/{digest}",
            caller,
            scope=delete_scope(name),
            subject="blob",
            ok=(200, 202),
        )
        await response.aclose()

    async def delete_manifest(
        self, caller: Caller, name: str, reference: str, *, scope: str | None = None
    ) -> None:
        """Delete a manifest by digest (or, where the registry supports it, a tag:
        distribution 3.x; 2.8 answers 400 DIGEST_INVALID)."""
        response = await self.transport.send(
            "DELETE",
            f"/v2/{name}/manifests/{reference}",
            caller,
            scope=scope or delete_scope(name),
            subject="manifest",
            ok=(200, 202),
        )
        await response.aclose()

    # -- writes -----------------------------------------------------------------------

    async def put_manifest(
        self,
        caller: Caller,
        name: str,
        reference: str,
        body: bytes,
        media_type: str,
        *,
        scope: str | None = None,
    ) -> Passed:
        """``PUT`` a manifest under a tag or digest; the registry's 201 headers
        (``Location``, ``Docker-Content-Digest``, ``OCI-Subject``)."""
        response = await self.transport.send(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            caller,
            scope=scope or push_scope(name),
            subject="manifest",
            ok=(201,),
            content=body,
            headers={"Content-Type": media_type},
        )
        await response.aclose()
        return Passed(response.status_code, upload_headers(response), b"")

    async def upload_step(
        self,
        caller: Caller,
        name: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        scope: str | None = None,
    ) -> Passed:
        """One step of a blob upload (``POST`` to start or mount, ``PATCH`` a chunk,
        ``PUT`` to finish, ``GET`` its status, ``DELETE`` to cancel) at ``path``: a
        ``/v2/<name>/blobs/uploads/…`` path with the registry's own query (its upload
        state). A streamed ``content`` is sent as it arrives, never held whole."""
        if not path.startswith(f"/v2/{name}/blobs/uploads/"):
            raise UpstreamInvalid("not an upload path of this repository")
        response = await self.transport.send(
            method,
            path,
            caller,
            scope=scope or push_scope(name),
            subject="blob",
            ok=(200, 201, 202, 204, 416),
            content=content,
            headers=headers,
            download=True,  # the transfer pool and slots: uploads take long
        )
        await response.aclose()
        return Passed(response.status_code, upload_headers(response), b"")

    def registry_path(self, location: str, prefix: str) -> str:
        """The path (and query) of a ``Location`` the registry answered, checked to be
        on the registry and under ``prefix`` (an upload, a blob, a manifest of the
        repository asked about)."""
        parts = urlsplit(location)
        base = urlsplit(self.base)
        if parts.scheme and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise UpstreamInvalid("the registry answered a location elsewhere")
        path = parts.path.removeprefix(base.path) if parts.scheme else parts.path
        if not path.startswith(prefix) or ".." in path.split("/"):
            raise UpstreamInvalid("the registry answered an unusable location")
        return path + (f"?{parts.query}" if parts.query else "")

    async def upload_blob(
        self, caller: Caller, name: str, data: bytes, *, scope: str | None = None
    ) -> str:
        """A small blob pushed in one piece (``POST``, then ``PUT ?digest=``); its digest."""
        digest = sha256_digest(data)
        started = await self.upload_step(
            caller, name, "POST", f"/v2/{name}/blobs/uploads/", content=b"", scope=scope
        )
        if started.status != 202:
            raise UpstreamInvalid("the registry did not start an upload")
        path = self.registry_path(started.headers.get("location", ""), f"/v2/{name}/blobs/")
        done = await self.upload_step(
            caller,
            name,
            "PUT",
            path + ("&" if "?" in path else "?") + urlencode({"digest": digest}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            scope=scope,
        )
        if done.status != 201:
            raise UpstreamInvalid("the registry did not take the blob")
        return digest
