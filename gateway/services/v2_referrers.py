"""OCI 1.1 referrers on /v2, for registries that have the API and for those that lack it.

- ``GET /v2/<name>/referrers/<digest>``: the registry's own answer when it has the API;
  otherwise (distribution 2.8 and 3.x answer 404) the gateway answers it from the
  subject's referrers tag schema index (services/referrers_index.py), as
  ``application/vnd.oci.image.index.v1+json``: an empty index for a subject nothing
  refers to, ``artifactType`` filtered here and said so in ``OCI-Filters-Applied``.
- Push mode, a manifest ``PUT`` whose body has a ``subject``: when the registry did not
  answer ``OCI-Subject`` itself (it has no API), the gateway lists the pushed manifest in
  the subject's index and answers ``OCI-Subject``, so the client does not maintain the
  tag schema itself. Should that update fail, the answer goes without ``OCI-Subject``
  and the client falls back to doing it, as the spec has it.
- Deleting a referrer through /v2 takes it out of its subject's index
  (``ReferrerService.unlist``, which uses the same index and locks).
"""

from __future__ import annotations

import json
import logging

from gateway.errors import NotFound, UpstreamInvalid
from gateway.models import media_types as mt
from gateway.registry.credentials import Caller
from gateway.registry.names import is_oci_digest
from gateway.registry.protocol import Passed
from gateway.registry.transport import sha256_digest
from gateway.services.referrers_index import Descriptor, ReferrersIndex, index_body, quietly
from gateway.view import CachedRegistry

log = logging.getLogger(__name__)

ARTIFACT_TYPE_FILTER = "artifactType"


def referrer_of(body: bytes, content_type: str, reference: str) -> tuple[str, Descriptor] | None:
    """(the subject's digest, the descriptor to list) for a pushed manifest that has a
    ``subject``; None for any other document. The descriptor follows the spec: the
    manifest's ``artifactType``, else an image manifest's config media type; its
    annotations; its digest (the one it was pushed by, else sha256) and size."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    subject = doc.get("subject")
    digest = subject.get("digest") if isinstance(subject, dict) else None
    if not isinstance(digest, str) or not is_oci_digest(digest):
        return None
    media_type = doc.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        media_type = mt.base(content_type)
    descriptor: Descriptor = {
        "mediaType": media_type,
        "digest": reference if ":" in reference else sha256_digest(body),
        "size": len(body),
    }
    artifact_type = doc.get("artifactType")
    config = doc.get("config")
    if not (isinstance(artifact_type, str) and artifact_type):
        artifact_type = None
        if media_type not in mt.INDEX_TYPES and isinstance(config, dict):
            config_type = config.get("mediaType")
            artifact_type = config_type if isinstance(config_type, str) and config_type else None
    if artifact_type is not None:
        descriptor["artifactType"] = artifact_type
    annotations = doc.get("annotations")
    if isinstance(annotations, dict) and annotations:
        descriptor["annotations"] = annotations
    return digest, descriptor


class V2Referrers:
    def __init__(self, registry: CachedRegistry, index: ReferrersIndex) -> None:
        self.registry = registry
        self.client = registry.client
        self.index = index

    async def listing(
        self, caller: Caller, name: str, digest: str, artifact_type: str | None
    ) -> Passed:
        """The referrers of ``digest``: the registry's API, else the tag schema index."""
        if self.registry.referrers_api is not False:
            try:
                passed = await self.client.referrers(caller, name, digest, artifact_type)
            except NotFound:
                if self.registry.referrers_api:
                    raise  # a registry with the API said 404: its answer
                self.registry.referrers_api = False
            else:
                self.registry.referrers_api = True
                return _filtered(passed, artifact_type)
        entries = await self.index.entries(caller, name, digest)
        return _answer(entries, artifact_type)

    async def pushed(
        self,
        caller: Caller,
        name: str,
        reference: str,
        body: bytes,
        content_type: str,
        passed: Passed,
    ) -> Passed:
        """After the registry took a manifest: when it has a ``subject`` and the
        registry keeps no referrers itself, list it in its subject's index; either way
        answer ``OCI-Subject`` once the referrer is listed somewhere."""
        if "oci-subject" in passed.headers:
            self.registry.referrers_api = True
            return passed
        found = referrer_of(body, content_type, reference)
        if found is None:
            return passed
        subject, descriptor = found
        if await self._registry_lists(caller, name, subject):
            # an API that lists it (go-containerregistry's answers no OCI-Subject)
            passed.headers["oci-subject"] = subject
            return passed
        listed = await quietly(
            f"{name}@{descriptor['digest']} was pushed, but not listed in its subject's index",
            self.index.add(caller, name, subject, descriptor),
        )
        if listed:
            passed.headers["oci-subject"] = subject
        return passed

    async def _registry_lists(self, caller: Caller, name: str, subject: str) -> bool:
        """Whether the registry has a referrers API (learnt once, on this subject)."""
        if self.registry.referrers_api is None:
            await quietly(
                "could not learn whether the registry has a referrers API",
                self.registry.referrers_index(caller, name, subject, None),
            )
        return bool(self.registry.referrers_api)


def _answer(entries: list[Descriptor], artifact_type: str | None) -> Passed:
    headers = {"content-type": mt.OCI_INDEX}
    if artifact_type:
        entries = [e for e in entries if e.get("artifactType") == artifact_type]
        headers["oci-filters-applied"] = ARTIFACT_TYPE_FILTER
    body = index_body({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries})
    return Passed(200, headers, body)


def _filtered(passed: Passed, artifact_type: str | None) -> Passed:
    """The registry's answer, filtered here when it did not apply the filter asked for
    (the spec makes filtering a SHOULD; go-containerregistry's does not)."""
    applied = passed.headers.get("oci-filters-applied", "")
    if not artifact_type or ARTIFACT_TYPE_FILTER in (f.strip() for f in applied.split(",")):
        return passed
    try:
        doc = json.loads(passed.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UpstreamInvalid("the registry answered a referrers index that is not JSON") from None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(manifests, list):
        raise UpstreamInvalid("the registry answered a malformed referrers index")
    return _answer([d for d in manifests if isinstance(d, dict)], artifact_type)
