"""Every cache the view keeps, built in one place, with how each is keyed.

Per caller (the caller's key first): catalogs, tag lists, access confirmations, the
referrers found. Per repository, handed to a caller only after that caller's access was
confirmed (``gateway.view.access``): tag→digest pointers, which digests belong to which
repository (membership), the tag index of large repositories. By digest, shared:
content (verified bytes; also on disk, ``gateway.view.disk``) and what is parsed or
derived from it (one byte budget).
Catalogs and tag lists are ``SharedList`` copies, one per distinct content
(``gateway.shared_lists``). Catalogs, tag lists, tag→digest pointers and access
confirmations are kept ``stale_ttl`` (``LR_STALE_TTL``) past their time, for the reads
to answer with while they refresh them (``gateway.view.refresh``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gateway.cache import ContentCache, ModelCache, TTLStore
from gateway.shared_lists import ListInterner
from gateway.shared_state import caches as level2
from gateway.shared_state.caches import SharedCaches
from gateway.view import store as codec
from gateway.view.disk import DiskContent
from gateway.view.store import Content, Store, Tier
from gateway.view.tag_index import TagIndex


class ViewCaches:
    def __init__(
        self,
        *,
        content_bytes: int,
        model_bytes: int,
        ttl: float,
        access_ttl: float,
        membership_ttl: float,
        tag_index: TagIndex | None,
        stale_ttl: float = 0.0,
        shared: SharedCaches | None,
        disk: DiskContent | None = None,
    ) -> None:
        self.shared = shared
        self.store = Store(shared)
        self.content = Content(ContentCache(content_bytes), shared, disk)
        # Parsed documents here, image rows and summaries in ImageService: one budget.
        self.models = ModelCache(model_bytes)
        self.lists = ListInterner()
        # Indexed by the key parts invalidation names: keys are (caller,), (caller, repo),
        # (repo, tag), (caller, repo), (repo, digest).
        self.catalogs: Tier[tuple[str], Sequence[str]] = Tier(
            TTLStore(ttl, maxsize=1000, stale=stale_ttl),
            shared,
            level2.CATALOG,
            codec.encode_names,
            self._interned,
            per_caller=True,
        )
        self.tag_lists: Tier[tuple[str, str], Sequence[str]] = Tier(
            TTLStore(ttl, indexes={"repo": _second, "caller": _first}, stale=stale_ttl),
            shared,
            level2.TAGS,
            codec.encode_names,
            self._interned,
            per_caller=True,
        )
        self.tag_digests: Tier[tuple[str, str], str] = Tier(
            TTLStore(ttl, indexes={"repo": _first}, stale=stale_ttl),
            shared,
            level2.TAG_DIGEST,
            codec.encode_text,
            codec.decode_text,
        )
        self.access: Tier[tuple[str, str], bool] = Tier(
            TTLStore(access_ttl, indexes={"caller": _first}, stale=stale_ttl),
            shared,
            level2.ACCESS,
            codec.encode_true,
            codec.decode_true,
            per_caller=True,
        )
        # (caller, repo): the registry took an upload this caller started there, within
        # LR_ACCESS_TTL; with Redis on every replica (the blob offload's grant, asked of
        # whichever replica nginx picks: services.blob_offload).
        self.pushes: Tier[tuple[str, str], bool] = Tier(
            TTLStore(access_ttl, maxsize=10_000, indexes={"caller": _first}),
            shared,
            level2.PUSHES,
            codec.encode_true,
            codec.decode_true,
            per_caller=True,
        )
        self.membership: Tier[tuple[str, str], bool] = Tier(
            TTLStore(membership_ttl, 500_000, indexes={"repo": _first}),
            shared,
            level2.MEMBER,
            codec.encode_true,
            codec.decode_true,
        )
        # (caller, repo, digest, artifact type filter) -> what refers to the digest:
        # in process only, for the tag lists' TTL.
        self.referrers: TTLStore[tuple[str, str, str, str], object] = TTLStore(
            ttl, indexes={"repo": _second, "caller": _first}
        )
        self.tag_index = tag_index if tag_index is not None else TagIndex()

    def _interned(self, payload: bytes) -> Sequence[str] | None:
        names = codec.decode_names(payload)
        return None if names is None else self.lists.intern(names)


def stored_key(caller_key: str) -> str:
    """The caller's key as stored in long-lived cache keys: one string per caller
    (interned), not one per entry (a caller's tag lists and access confirmations are
    one entry per repository)."""
    return sys.intern(caller_key)


def _first(key: tuple[str, ...]) -> str:
    return key[0]


def _second(key: tuple[str, ...]) -> str:
    return key[1]
