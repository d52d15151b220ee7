"""Images resolved for the SPA: platforms, sizes, attestations, config and history.

Summaries are derived from immutable content only, so they are cached by digest; the
caller's right to see them is checked on every call through ``CachedRegistry.manifest``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.errors import UNREAD, GatewayError, ManifestUnknown, NameUnknown, NotFound, aborts
from gateway.models import api, oci
from gateway.models import media_types as mt
from gateway.registry.credentials import Caller
from gateway.registry.protocol import Manifest
from gateway.services import activity_marks
from gateway.services.activity_marks import Marker
from gateway.services.charts import chart_metadata, is_chart
from gateway.services.gathering import peek_or_gather
from gateway.services.history import api_layers, build_config
from gateway.services.platforms import choose_platform, is_runnable, platform_label, to_api
from gateway.view import CachedRegistry
from gateway.view.tag_index import UNKNOWN, Reader

PREDICATE_ANNOTATION = "in-toto.io/predicate-type"

ReferrerCounts = Callable[[Caller, str, str, Sequence[str]], Awaitable[dict[str, int]]]


def unsupported(manifest: Manifest, message: str = "unsupported manifest type") -> NotFound:
    return ManifestUnknown(message, detail={"media_type": manifest.media_type})


@dataclass(frozen=True)
class Resolved:
    """A manifest resolved to its platform images and attestations, with its size."""

    kind: Literal["image", "index"]
    platforms: list[api.PlatformImage]
    attestations: list[api.Attestation]
    size: int
    annotations: dict[str, str]
    artifact_type: str | None
    failures: tuple[GatewayError, ...] = ()  # why the children with an error have one


@dataclass(frozen=True)
class Summary:
    """What a tag row needs, derived from one digest's content."""

    digest: str
    media_type: str
    kind: str
    platforms: list[str]
    size: int
    created: str | None
    artifact_type: str | None
    complete: bool


class ImageService:
    def __init__(self, registry: CachedRegistry) -> None:
        self.registry = registry
        # Image rows and tag-row summaries by digest, within the registry's model budget.
        self._models = registry.models
        # How the tag index of a large repository reads a tag in the background: its
        # digest, and that digest's date (what sort=created needs).
        self.index_reader = Reader(resolve=registry.resolve, describe=self._created)
        # The referrer counts of a digest given the caller's tag list (set by the state to
        # ReferrerService.counts_in: the image detail carries them); None leaves them {}.
        self.referrer_counts: ReferrerCounts | None = None
        # The detail's last pull and push (set by the state: the activity log's marks).
        self.marker: Marker | None = None

    async def _created(self, caller: Caller, repo: str, digest: str) -> str | None:
        return (await self.summary(caller, repo, digest)).created

    def known_created(self, digest: str) -> tuple[bool, str | None]:
        """(known, created) of a digest from the summaries already made (no upstream)."""
        summary = self._summary_of(digest)
        return (False, None) if summary is None else (True, summary.created)

    # -- one image manifest -----------------------------------------------------------

    async def platform_image(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        descriptor: oci.Descriptor | None = None,
    ) -> api.PlatformImage:
        """One image manifest with its config's platform and created, and its size."""
        manifest = await self.registry.manifest(caller, repo, digest)
        cached: api.PlatformImage | None = self._models.get(("image", manifest.digest))
        if cached is not None and descriptor is None:
            return cached
        image = await self._platform_image(caller, repo, manifest, descriptor)
        if descriptor is None:
            self._models.put(("image", manifest.digest), image)
        return image

    async def _platform_image(
        self, caller: Caller, repo: str, manifest: Manifest, descriptor: oci.Descriptor | None
    ) -> api.PlatformImage:
        if manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
            raise unsupported(manifest, "not an image manifest")
        image = self.registry.image_manifest(manifest)
        config = oci.ImageConfig()
        config_type = image.config.media_type
        artifact_type = image.artifact_type
        # An attestation's config says nothing the page shows (its platform is
        # unknown/unknown and its size is in the descriptor): don't fetch it.
        wanted = descriptor is None or not descriptor.is_attestation
        if wanted and (config_type in mt.IMAGE_CONFIG_TYPES or not config_type):
            body = await self.registry.config(caller, repo, image.config.digest)
            config = self.registry.image_config(image.config.digest, body)
        elif artifact_type is None:
            artifact_type = config_type
        if descriptor is not None and descriptor.platform is not None:
            platform = to_api(descriptor.platform)
        else:
            platform = to_api(config.platform())
            platform.os_version = config.os_version
        size = len(manifest.body) + image.config.size + sum(layer.size for layer in image.layers)
        return api.PlatformImage(
            platform=platform,
            digest=manifest.digest,
            media_type=manifest.media_type,
            size=size,
            config_digest=image.config.digest,
            config_media_type=config_type or None,
            artifact_type=artifact_type,
            created=oci.normalize_time(config.created),
            layers=api_layers(image.layers),
            annotations=image.annotations,
        )

    def _broken(self, descriptor: oci.Descriptor, exc: GatewayError) -> api.PlatformImage:
        return api.PlatformImage(
            platform=to_api(descriptor.platform or oci.Platform()),
            digest=descriptor.digest,
            media_type=descriptor.media_type,
            size=descriptor.size,
            config_digest=None,
            created=None,
            layers=[],
            annotations=descriptor.annotations,
            error=api.ErrorBody.of(exc),
        )

    # -- children of an index ---------------------------------------------------------

    async def _children(
        self, caller: Caller, repo: str, index: oci.Index
    ) -> tuple[list[api.PlatformImage], list[api.Attestation], tuple[GatewayError, ...]]:
        async def child(d: oci.Descriptor) -> tuple[api.PlatformImage, GatewayError | None]:
            try:
                return await self.platform_image(caller, repo, d.digest, d), None
            except GatewayError as exc:
                if aborts(exc, one_repository=True):  # the caller's, for the whole answer
                    raise
                return self._broken(d, exc), exc

        results = await asyncio.gather(*(child(d) for d in index.manifests))
        platforms: list[api.PlatformImage] = []
        attestations: list[api.Attestation] = []
        # The platforms' failures first, then the attestations' (as the rows list them).
        failed: tuple[list[GatewayError], list[GatewayError]] = ([], [])
        for d, (result, exc) in zip(index.manifests, results, strict=True):
            if exc is not None:
                failed[d.is_attestation].append(exc)
            if d.is_attestation:
                predicates = sorted(
                    {
                        layer.annotations[PREDICATE_ANNOTATION]
                        for layer in result.layers
                        if PREDICATE_ANNOTATION in layer.annotations
                    }
                )
                attestations.append(
                    api.Attestation(
                        digest=d.digest,
                        for_digest=d.annotations.get(mt.ATTESTATION_DIGEST_ANNOTATION),
                        media_type=d.media_type,
                        size=result.size,
                        predicate_types=predicates,
                        error=result.error,
                    )
                )
            else:
                platforms.append(result)
        return platforms, attestations, (*failed[0], *failed[1])

    # -- the resolved image -----------------------------------------------------------

    async def _resolve(self, caller: Caller, repo: str, manifest: Manifest) -> Resolved:
        if manifest.media_type in mt.INDEX_TYPES:
            index = self.registry.index(manifest)
            platforms, attestations, failures = await self._children(caller, repo, index)
            size = len(manifest.body) + sum(p.size for p in platforms)
            size += sum(a.size for a in attestations)
            return Resolved(
                "index",
                platforms,
                attestations,
                size,
                index.annotations,
                index.artifact_type,
                failures,
            )
        if manifest.media_type in mt.IMAGE_MANIFEST_TYPES:
            image = await self.platform_image(caller, repo, manifest.digest)
            return Resolved(
                "image", [image], [], image.size, image.annotations, image.artifact_type
            )
        raise unsupported(manifest)

    async def detail(self, caller: Caller, repo: str, reference: str) -> api.ImageDetail:
        manifest = await self.registry.manifest(caller, repo, reference)
        tags_task = asyncio.ensure_future(self._tags_and_referrers(caller, repo, manifest.digest))
        try:
            resolved = await self._resolve(caller, repo, manifest)
            tags, tags_complete, referrers = await tags_task
        finally:
            if not tags_task.done():
                tags_task.cancel()
            elif not tags_task.cancelled():
                tags_task.exception()  # retrieved: the error that matters is _resolve's
        chart = None
        if resolved.kind == "image" and is_chart(resolved.platforms[0]):
            chart = await self._chart(caller, repo, resolved.platforms[0])
        detail = api.ImageDetail(
            repository=repo,
            reference=reference,
            digest=manifest.digest,
            media_type=manifest.media_type,
            kind=resolved.kind,
            size=resolved.size,
            annotations=resolved.annotations,
            artifact_type=resolved.artifact_type,
            tags=tags,
            tags_complete=tags_complete,
            platforms=resolved.platforms,
            attestations=resolved.attestations,
            referrers=referrers,
            chart=chart,
        )
        return await activity_marks.image_detail(self.marker, detail)

    async def _chart(
        self, caller: Caller, repo: str, image: api.PlatformImage
    ) -> api.ChartMetadata | None:
        """A chart's metadata from its config; None when the config cannot be read (the
        page is still shown, without it)."""
        assert image.config_digest is not None
        try:
            body = await self.registry.config(caller, repo, image.config_digest)
        except GatewayError as exc:
            if aborts(exc, one_repository=True):
                raise
            return None
        return chart_metadata(body)

    async def _tags_and_referrers(
        self, caller: Caller, repo: str, digest: str
    ) -> tuple[list[str], bool, dict[str, int]]:
        """``tags_known`` and the referrer counts, from one read of the tag list (it
        says which fallback and cosign tags exist)."""
        try:
            tags: Sequence[str] = await self.registry.tags(caller, repo)
        except NameUnknown:
            tags = []  # the manifest was found: a repository that was never tagged
        found, complete = await self._tags_known_in(caller, repo, digest, tags)
        counts = self.referrer_counts
        return found, complete, {} if counts is None else await counts(caller, repo, digest, tags)

    async def tags_known(self, caller: Caller, repo: str, digest: str) -> tuple[list[str], bool]:
        """(the tags of ``repo`` whose digest is ``digest``, whether that is all of them).

        A repository of up to ``min_tags`` tags is resolved at once (complete). A larger
        one answers from what is known already (its tag index, the tag→digest cache),
        with no upstream request but the caller's tag list, and the tags not known yet
        are read into the index in the background: a later answer is complete.
        """
        try:
            tags = await self.registry.tags(caller, repo)
        except NameUnknown:
            return [], True  # the manifest was found: a repository that was never tagged
        return await self._tags_known_in(caller, repo, digest, tags)

    async def _tags_known_in(
        self, caller: Caller, repo: str, digest: str, tags: Sequence[str]
    ) -> tuple[list[str], bool]:
        if not self.registry.tag_index.is_large(len(tags)):
            return await self._tags_on(caller, repo, digest, tags), True
        index = await self.registry.tag_index_view(caller, repo)
        found: list[str] = []
        unknown: list[str] = []
        for tag in tags:
            known = self.registry.known_digest(index, tag)
            if known == digest:
                found.append(tag)
            elif known == UNKNOWN:
                unknown.append(tag)
        self.registry.tag_index.fill(caller, index, unknown, self.index_reader, every=tags)
        return found, not unknown

    async def tags_on(self, caller: Caller, repo: str, digest: str) -> list[str]:
        """The tags of ``repo`` whose digest is ``digest``, every tag resolved (deletes
        name what they untag)."""
        try:
            tags = await self.registry.tags(caller, repo)
        except NameUnknown:
            return []  # the manifest was found: a repository that was never tagged
        return await self._tags_on(caller, repo, digest, tags)

    async def _tags_on(
        self, caller: Caller, repo: str, digest: str, tags: Sequence[str]
    ) -> list[str]:

        async def matches(tag: str) -> bool:
            try:
                return await self.registry.resolve(caller, repo, tag) == digest
            except NotFound:
                return False  # deleted since the list was read

        def peek(tag: str) -> bool | None:
            known = self.registry.peek_tag_digest(caller, repo, tag)
            return None if known is None else known == digest

        hits = await peek_or_gather(tags, peek, matches)
        return [tag for tag in tags if hits[tag]]

    def peek_summary(self, caller: Caller, repo: str, reference: str) -> Summary | None:
        """A tag row's summary when all of it is already known for this caller (no I/O,
        no task); None sends the row the long way, through ``summary``."""
        digest = self.registry.peek_digest(caller, repo, reference)
        return None if digest is None else self._summary_of(digest)

    async def summary(self, caller: Caller, repo: str, reference: str) -> Summary:
        """Digest, kind, platforms, size and created of a tag or digest (for tag rows)."""
        manifest = await self.registry.manifest(caller, repo, reference)
        cached = self._summary_of(manifest.digest)
        if cached is not None:
            return cached
        resolved = await self._resolve(caller, repo, manifest)
        platforms = resolved.platforms
        unread = next((e for e in resolved.failures if isinstance(e, UNREAD)), None)
        if unread is not None:
            # Not what the index holds but what the registry could not say right now:
            # the row carries the error rather than a size and date short of a child.
            raise unread.again()
        # A child missing or malformed for good (a broken index) is as complete as the
        # summary can get; it is still not cached, and the image detail says which.
        complete = not resolved.failures
        created = max((p.created for p in platforms if p.created), key=oci.time_order, default=None)
        summary = Summary(
            digest=manifest.digest,
            media_type=manifest.media_type,
            kind=resolved.kind,
            platforms=[platform_label(p.platform) for p in platforms if is_runnable(p.platform)],
            size=resolved.size,
            created=created,
            artifact_type=resolved.artifact_type,
            complete=complete,
        )
        if complete:
            self._models.put(("summary", manifest.digest), summary)
        return summary

    def _summary_of(self, digest: str) -> Summary | None:
        summary: Summary | None = self._models.get(("summary", digest))
        return summary

    # -- config and history -----------------------------------------------------------

    async def config(
        self,
        caller: Caller,
        repo: str,
        reference: str,
        platform: str | None,
        os_version: str | None = None,
    ) -> api.ImageConfig:
        manifest = await self.registry.manifest(caller, repo, reference)
        if manifest.media_type in mt.INDEX_TYPES:
            index = self.registry.index(manifest)
            child = choose_platform(index, platform, os_version)
            manifest = await self.registry.manifest(caller, repo, child.digest)
        if manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
            raise unsupported(manifest)
        image = self.registry.image_manifest(manifest)
        body = await self.registry.config(caller, repo, image.config.digest)
        config = self.registry.image_config(image.config.digest, body)
        return build_config(manifest.digest, image, config)
