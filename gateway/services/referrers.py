"""What refers to an image: signatures, SBOMs, attestations (OCI 1.1 referrers, cosign).

Sources, in order:

1. the registry's referrers API (``GET /v2/<name>/referrers/<digest>``) when it has one:
   its ``Link`` pages followed; an ``artifact_type`` filter is sent, and applied here
   (by each referrer's own manifest) when the answer lacks ``OCI-Filters-Applied:
   artifactType``;
2. else the referrers tag schema's fallback: the index tagged ``sha256-<hex>``, whose
   entries are the referrers (distribution 2.8 has no API: this is its main path);
3. plus cosign's tags ``sha256-<hex>.sig``, ``.att`` and ``.sbom``: each layer of the
   tag's manifest is one signature (attestation, SBOM), its kind said by the suffix.

Whether the registry has the API is learnt once (``gateway.view.referrers_api``); which
fallback and cosign tags exist comes from the caller's cached tag list, so an image that
nothing refers to costs no request at all once the API is known to be absent. A found
list is cached per caller for the tag lists' TTL and dropped with them (notifications,
deletes, pushes through /v2). ``peek_counts`` answers a tag row's counts without I/O or
a task when that is possible (the warm path of a tag page).

The fallback index is kept right when the registry has no API: deleting a referrer
through the gateway (API or /v2) takes its entry out of its subject's index (the index
pushed again without it, or deleted when it becomes empty; services/referrers_index.py),
so no orphan is listed.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from gateway.errors import (
    GatewayError,
    InvalidRequest,
    NameUnknown,
    NotFound,
    ReferrersTagNotAnIndex,
    UpstreamInvalid,
)
from gateway.models import api, oci
from gateway.models import media_types as mt
from gateway.models.artifact_tags import COSIGN_SUFFIXES, fallback_tag, subject_of
from gateway.models.referrer_kinds import counts, kind_of
from gateway.registry.credentials import Caller
from gateway.registry.protocol import Manifest
from gateway.services.images import ImageService
from gateway.services.platforms import choose_platform
from gateway.services.referrers_index import ReferrersIndex
from gateway.view import CachedRegistry

log = logging.getLogger(__name__)

CREATED_ANNOTATION = "org.opencontainers.image.created"
ARTIFACT_TYPE_FILTER = "artifactType"


@dataclass(frozen=True)
class Found:
    """The referrers of one digest for one caller, as cached."""

    source: str
    referrers: tuple[api.Referrer, ...]
    fallback: str | None  # the digest of the fallback index read, if any

    @property
    def counts(self) -> dict[str, int]:
        return counts(r.kind for r in self.referrers)


NONE = Found("none", (), None)


def artifact_subjects(tags: Iterable[str]) -> frozenset[str]:
    """The digests some fallback or cosign tag of this list refers to (one pass)."""
    return frozenset(s for t in tags if t.startswith("sha256-") and (s := subject_of(t)))


def _listed(tags: Sequence[str], tag: str) -> bool:
    """Whether ``tag`` is in ``tags``, a sorted list (the view's tag lists are)."""
    i = bisect.bisect_left(tags, tag)
    return i < len(tags) and tags[i] == tag


def _source(sources: Collection[str]) -> str:
    if not sources:
        return "none"
    return next(iter(sources)) if len(sources) == 1 else "mixed"


def _descriptors(raw: Sequence[object]) -> list[oci.Descriptor]:
    try:
        return [oci.Descriptor.model_validate(d) for d in raw]
    except ValidationError:
        raise UpstreamInvalid("the registry answered a malformed referrers index") from None


def _created(annotations: dict[str, str], fallback: str | None) -> str | None:
    return oci.normalize_time(annotations.get(CREATED_ANNOTATION)) or fallback


class ReferrerService:
    def __init__(self, registry: CachedRegistry, images: ImageService) -> None:
        self.registry = registry
        self.images = images
        # the subjects' tag schema indexes, updated under per-subject locks shared with
        # the /v2 push path (gateway/services/v2_referrers.py)
        self.index = ReferrersIndex(registry)

    # -- the list ---------------------------------------------------------------------

    async def listing(
        self,
        caller: Caller,
        repo: str,
        reference: str,
        artifact_type: str | None = None,
        platform: str | None = None,
    ) -> api.ReferrerList:
        manifest = await self.registry.manifest(caller, repo, reference)
        subject = manifest.digest
        if platform is not None:
            if manifest.media_type not in mt.INDEX_TYPES:
                raise InvalidRequest(
                    "platform names a child of a multi-platform index; this is one image",
                    detail={"platform": platform},
                )
            subject = choose_platform(self.registry.index(manifest), platform).digest
        found = await self.lookup(caller, repo, subject, artifact_type)
        return api.ReferrerList(
            subject=subject, source=found.source, referrers=list(found.referrers)
        )

    async def lookup(
        self, caller: Caller, repo: str, digest: str, artifact_type: str | None = None
    ) -> Found:
        """What refers to ``digest`` (of a manifest this caller was just served)."""
        wanted = artifact_type or ""
        cached = self.registry.cached_referrers(caller, repo, digest, wanted)
        if isinstance(cached, Found):
            return cached
        return await self.registry.referrers_once(
            caller, repo, digest, wanted, lambda: self._find(caller, repo, digest, artifact_type)
        )

    async def _tags(self, caller: Caller, repo: str) -> Sequence[str]:
        """The caller's tag list as the view holds it: sorted, without duplicates, and
        shared. Looked up by bisection (``_listed``), never copied into a set: a page of
        1,000 rows of a 10,000-tag repository made 1,000 sets of 10,000 entries, each
        half a megabyte, and the allocator kept every one of them (issue 19)."""
        try:
            return await self.registry.tags(caller, repo)
        except NameUnknown:
            return ()  # never tagged: no fallback or cosign tag either

    async def _find(
        self, caller: Caller, repo: str, digest: str, artifact_type: str | None
    ) -> Found:
        tags = await self._tags(caller, repo)
        sources: set[str] = set()
        entries: list[api.Referrer] = []
        fallback_digest: str | None = None
        answer = await self.registry.referrers_index(caller, repo, digest, artifact_type)
        if answer is not None:
            descriptors = _descriptors(answer.descriptors)
            found = await self._described(caller, repo, descriptors)
            if artifact_type and ARTIFACT_TYPE_FILTER not in answer.filters_applied:
                # filtered here, by each referrer's own artifact type (read from its
                # manifest: go-containerregistry's API names the config's media type)
                found = [r for r in found if r.artifact_type == artifact_type]
            if found:
                sources.add("api")
            entries += found
        elif _listed(tags, fallback_tag(digest)):
            fallback = await self._manifest(caller, repo, fallback_tag(digest))
            if fallback is not None and fallback.media_type in mt.INDEX_TYPES:
                fallback_digest = fallback.digest
                descriptors = list(self.registry.index(fallback).manifests)
                found = await self._described(caller, repo, descriptors)
                if artifact_type:
                    found = [r for r in found if r.artifact_type == artifact_type]
                if found:
                    sources.add("tag")
                entries += found
        for suffix in COSIGN_SUFFIXES:
            tag = fallback_tag(digest) + suffix
            if _listed(tags, tag):
                found = await self._cosign(caller, repo, tag, suffix)
                if artifact_type:
                    found = [r for r in found if r.artifact_type == artifact_type]
                if found:
                    sources.add("cosign")
                entries += found
        return Found(_source(sources), tuple(entries), fallback_digest)

    async def _manifest(self, caller: Caller, repo: str, reference: str) -> Manifest | None:
        try:
            return await self.registry.manifest(caller, repo, reference)
        except NotFound:
            return None  # deleted since the tag list was read

    async def _described(
        self, caller: Caller, repo: str, descriptors: Sequence[oci.Descriptor]
    ) -> list[api.Referrer]:
        """One entry per descriptor, sized and dated from its manifest (and config); a
        referrer the registry no longer holds is left out (an orphan entry)."""

        async def one(d: oci.Descriptor) -> api.Referrer | None:
            if d.media_type not in mt.IMAGE_MANIFEST_TYPES:
                return api.Referrer(
                    digest=d.digest,
                    media_type=d.media_type,
                    artifact_type=d.artifact_type,
                    kind=kind_of(d.artifact_type),
                    size=d.size,
                    created=_created(d.annotations, None),
                    annotations=d.annotations,
                    tag=None,
                )
            try:
                image = await self.images.platform_image(caller, repo, d.digest)
            except NotFound:
                return None
            annotations = {**image.annotations, **d.annotations}
            # the manifest's own word first: what the spec has the registry copy into the
            # descriptor, which not every registry does
            artifact_type = image.artifact_type or d.artifact_type
            return api.Referrer(
                digest=d.digest,
                media_type=image.media_type,
                artifact_type=artifact_type,
                kind=kind_of(artifact_type, (layer.media_type for layer in image.layers)),
                size=image.size,
                created=_created(annotations, image.created),
                annotations=annotations,
                tag=None,
            )

        found = await asyncio.gather(*(one(d) for d in descriptors))
        return [r for r in found if r is not None]

    async def _cosign(self, caller: Caller, repo: str, tag: str, suffix: str) -> list[api.Referrer]:
        """The entries of one cosign tag: each layer of its manifest is one signature
        (attestation, SBOM), told apart by its artifact type and annotations. The
        descriptor fields (digest, media type, size) all describe the one object there
        is to fetch or delete: the tag's manifest, sized by the image-size rule."""
        manifest = await self._manifest(caller, repo, tag)
        if manifest is None or manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
            return []
        image = self.registry.image_manifest(manifest)
        created = _created(image.annotations, None)
        size = len(manifest.body) + image.config.size + sum(layer.size for layer in image.layers)
        return [
            api.Referrer(
                digest=manifest.digest,
                media_type=manifest.media_type,
                artifact_type=layer.media_type or None,
                kind=kind_of(layer.media_type, suffix=suffix),
                size=size,
                created=_created(layer.annotations, created),
                annotations=layer.annotations,
                tag=tag,
            )
            for layer in image.layers
        ]

    # -- counts (image detail, tag rows) ------------------------------------------------

    def peek_counts(
        self, caller: Caller, repo: str, digest: str, subjects: frozenset[str]
    ) -> dict[str, int] | None:
        """A tag row's counts when no I/O is needed: cached, or none possible (no API,
        and no fallback or cosign tag names ``digest`` in the caller's tag list, whose
        ``artifact_subjects`` are ``subjects``); else None."""
        cached = self.registry.cached_referrers(caller, repo, digest, "", peek=True)
        if isinstance(cached, Found):
            return cached.counts
        if self.registry.referrers_api is False and digest not in subjects:
            return {}
        return None

    async def counts(
        self, caller: Caller, repo: str, digest: str, subjects: frozenset[str]
    ) -> dict[str, int]:
        peeked = self.peek_counts(caller, repo, digest, subjects)
        if peeked is not None:
            return peeked
        return (await self.lookup(caller, repo, digest)).counts

    async def counts_in(
        self, caller: Caller, repo: str, digest: str, tags: Sequence[str]
    ) -> dict[str, int]:
        """``counts`` given the caller's tag list (the image detail's)."""
        return await self.counts(caller, repo, digest, artifact_subjects(tags))

    # -- deletes ----------------------------------------------------------------------

    async def doomed(self, caller: Caller, repo: str, digest: str) -> tuple[list[str], str | None]:
        """(the digests of what refers to ``digest``, once each; the fallback index's
        digest), read afresh: what a delete with its referrers removes."""
        found = await self.lookup(caller, repo, digest)
        seen = dict.fromkeys(r.digest for r in found.referrers)
        return list(seen), found.fallback

    async def unlist(self, caller: Caller, repo: str, manifest: Manifest) -> None:
        """After ``manifest`` was deleted: take it out of its subject's fallback index,
        when the registry keeps referrers that way (no referrers API). The index is
        pushed again without it, or deleted when nothing is left in it.

        The delete itself succeeded: a failure here (a caller who may delete but not
        push, the registry gone meanwhile) is logged, not answered as the delete's."""
        try:
            await self._unlist(caller, repo, manifest)
        except GatewayError as exc:
            log.warning(
                "referrers: %s@%s deleted, but its subject's fallback index was not "
                "updated: %s (%s)",
                repo,
                manifest.digest,
                exc.message,
                exc.code,
            )

    async def _unlist(self, caller: Caller, repo: str, manifest: Manifest) -> None:
        subject = self._subject(manifest)
        if subject is None:
            return
        if self.registry.referrers_api is None:  # learnt once, on the subject
            await self.registry.referrers_index(caller, repo, subject, None)
        if self.registry.referrers_api:
            return
        try:
            await self.index.remove(caller, repo, subject, manifest.digest)
        except ReferrersTagNotAnIndex:
            return  # the tag holds something else: not ours to change

    def _subject(self, manifest: Manifest) -> str | None:
        try:
            if manifest.media_type in mt.INDEX_TYPES:
                described = self.registry.index(manifest).subject
            elif manifest.media_type in mt.IMAGE_MANIFEST_TYPES:
                described = self.registry.image_manifest(manifest).subject
            else:
                return None
        except GatewayError:
            return None
        return described.digest if described is not None else None
