"""Blob pulls handed to the nginx in front of the gateway (X-Accel-Redirect).

A Python loop per piece cannot move a layer as fast or as cheaply as nginx does (issue
19: bench/bench_blobs.py). Where nginx already runs in front of the gateway, it can move
the bytes while the gateway keeps deciding who may read what
(``deploy/nginx-blob-offload.conf``; docs/v2-api.md, "Blobs through nginx"):

1. nginx passes every request on with ``X-LR-Offload: <LR_BLOB_OFFLOAD_SECRET>`` (set by
   nginx itself, so a client cannot choose it). Without that header, or with another
   value (compared in constant time), a pull is streamed by the gateway as always.
2. The credentials a pull carries for this caller, when the gateway knows them without
   a request (their Basic login on a registry that asks for Basic, a token cached for
   their pull scope, none on an open registry) and has seen the registry serve blobs
   itself, never redirect them: handed on at once. The registry answers nginx's fetch
   as this caller; nginx hands a refusal, a redirect or a failure back to the gateway
   (``@lr_streamed``), which answers it exactly as without offload. Otherwise (a token
   not cached yet, the first pulls) the gateway confirms access and existence with a
   HEAD as the caller (``RegistryClient.blob_proof``): a refusal (401, 403, 404) is left
   to the streamed path; a HEAD the registry redirected (to storage) is no offload:
   the gateway follows such redirects itself, so no storage URL reaches a client.
3. Otherwise the answer is empty, with ``X-Accel-Redirect: /_lr_blob/v2/<name>/blobs/
   <digest>`` and the ``Authorization`` value the auth flow sent for THIS caller (their
   Basic credentials, or the token fetched for their pull scope) in
   ``X-LR-Upstream-Authorization``, which nginx sends to the registry from its internal
   location and never to the client; plus the headers the client gets (digest, ETag,
   Cache-Control, type), which nginx puts on the registry's answer.

Upload steps that carry a blob's bytes (``PATCH`` a chunk, ``PUT`` the last one) go the
other way: nginx asks the gateway first (``auth_request``: the same method and path,
no body, ``X-LR-Upload-Grant: 1``), and the gateway answers 200 with the
``Authorization`` this caller's upload carries (their Basic login, or the token their
upload's start obtained for the push scope, while cached) when the registry let this
caller start an upload there within ``LR_ACCESS_TTL`` and the gateway knows those
credentials without a request (``upload_grant``); nginx then sends the body to the
registry itself. Any other answer (a refusal, a cross-site request, no cached token)
makes nginx pass the step to the gateway, which answers it as without nginx. The start
(``POST``) and the other steps always go through the gateway.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr
from starlette.datastructures import Headers

from gateway.errors import Forbidden, NotFound, Unauthorized
from gateway.registry.credentials import Caller
from gateway.services.content_caching import content_cache_control
from gateway.telemetry import Metrics
from gateway.view.blobs import Blobs
from gateway.view.writes import Writes

#: The internal location of nginx that fetches the blob from the registry.
OFFLOAD_PREFIX = "/_lr_blob"
#: The request header nginx sets to the shared secret.
ASKED = "x-lr-offload"
#: The answer's header carrying the upstream credentials to nginx (never to a client).
UPSTREAM_AUTHORIZATION = "x-lr-upstream-authorization"
#: The request header of nginx's auth_request before an upload step it would send itself.
UPLOAD_GRANT_ASKED = "x-lr-upload-grant"
#: The grant's header telling nginx the step is its to send (absent on a refusal).
UPLOAD_GRANTED = "x-lr-upload-granted"
#: The upload steps nginx may send to the registry itself: those carrying the bytes.
UPLOAD_METHODS = ("PATCH", "PUT")


class BlobOffload:
    """Whether a pull may be handed to nginx, and the answer that hands it."""

    def __init__(
        self, blobs: Blobs, writes: Writes, secret: SecretStr | None, metrics: Metrics
    ) -> None:
        self._blobs = blobs
        self._writes = writes
        self._secret = None if secret is None else secret.get_secret_value().encode()
        self._metrics = metrics

    def asked(self, headers: Headers) -> bool:
        """True when the request came through the trusted nginx (the secret matches)."""
        if self._secret is None:
            return False
        given = headers.get(ASKED)
        if given is None:
            return False
        return hmac.compare_digest(given.encode("latin-1"), self._secret)

    async def at_once(self, caller: Caller, name: str, digest: str) -> dict[str, str] | None:
        """The headers that hand this pull to nginx when nothing needs asking first (a
        registry seen serving its blobs itself, a caller the gate lets see ``name``, and
        the caller's Basic login or a token cached for their pull scope, or none on an
        open registry); None otherwise. The registry answers nginx's fetch as this
        caller: a refusal, a redirect or a failure there is handed back to the gateway's
        streamed path by nginx. Also the warm lane's (``routers.warm_v2``)."""
        try:
            authorization = await self._blobs.pull_authorization(caller, name)
        except LookupError:
            return None
        return self._handed(caller, name, digest, authorization)

    async def answer(self, caller: Caller, name: str, digest: str) -> dict[str, str] | None:
        """The headers of the empty answer that hands this pull to nginx (with the
        ``Cache-Control`` of a streamed one); None: serve it as without offload
        (a refusal, or a registry that redirects to storage)."""
        handed = await self.at_once(caller, name, digest)
        if handed is not None:
            return handed
        try:
            proof = await self._blobs.proof(caller, name, digest)
        except (Unauthorized, Forbidden, NotFound):
            return None  # the streamed path answers it, as it always did
        if proof.redirected:
            return None
        return self._handed(caller, name, digest, proof.authorization)

    def upload_asked(self, method: str, headers: Headers) -> bool:
        """True for nginx's auth_request before an upload step it would send itself."""
        return (
            method in UPLOAD_METHODS
            and headers.get(UPLOAD_GRANT_ASKED) == "1"
            and self.asked(headers)
        )

    async def upload_grant(self, caller: Caller, name: str) -> dict[str, str] | None:
        """The headers granting nginx an upload step to ``name`` as this caller (the
        caller's Basic login, a token cached for their push scope, or none on an open
        registry); None when only a request to the registry could tell (nginx then
        passes the step to the gateway). The registry answers nginx's step as this
        caller, so a grant gives no one more than their own credentials would."""
        try:
            authorization = await self._writes.push_authorization(caller, name)
        except LookupError:
            return None
        headers = {UPLOAD_GRANTED: "1"}
        if authorization:
            headers[UPSTREAM_AUTHORIZATION] = authorization
        self._metrics.upload_offloads.inc()
        return headers

    def _handed(
        self, caller: Caller, name: str, digest: str, authorization: str | None
    ) -> dict[str, str]:
        headers = {
            "x-accel-redirect": f"{OFFLOAD_PREFIX}/v2/{name}/blobs/{digest}",
            "content-type": "application/octet-stream",
            "docker-content-digest": digest,
            "etag": f'"{digest}"',
            "accept-ranges": "bytes",
            "cache-control": content_cache_control(caller),  # as a streamed pull's
        }
        if authorization:
            headers[UPSTREAM_AUTHORIZATION] = authorization
        self._metrics.blob_offloads.inc()
        return headers
