"""Where the engine reads blobs from, and what a layer's media type tells before that.

The engine never talks to the registry itself: it is handed a ``BlobSource`` for one
blob, already bound to the caller's credentials (access is checked by whoever makes
it) and counting the bytes it serves (``X-Upstream-Bytes``). ``open(start, end)`` is a
``Range`` request for ``[start, end)``; ``end=None`` reads to the end of the blob.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol

from gateway.errors import ForeignLayer, NotAFilesystem
from gateway.models.media_types import base

Format = Literal["tar", "gzip", "zstd"]


class BlobSource(Protocol):
    digest: str
    size: int | None
    media_type: str

    def open(
        self, start: int = 0, end: int | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...


#: Layers whose bytes are not served by the registry (they live at ``urls``): never read.
FOREIGN_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
#: Blobs known not to be file systems (configs, a Helm chart's provenance…): refused
#: without being read. Any other type is read and told apart by its first bytes.
NOT_FILESYSTEM_TYPES = frozenset(
    {
        "application/vnd.cncf.helm.chart.provenance.v1.prov",
        "application/vnd.oci.empty.v1+json",
        "application/vnd.in-toto+json",
    }
)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def is_foreign(media_type: str) -> bool:
    return base(media_type) in FOREIGN_TYPES


def is_listable(media_type: str) -> bool:
    """Whether a layer of this type may be read at all (not foreign, not a type known to
    be no file system); its first bytes decide the rest."""
    kind = base(media_type)
    return not (kind in FOREIGN_TYPES or kind in NOT_FILESYSTEM_TYPES or kind.endswith("+json"))


def check_media_type(media_type: str) -> None:
    """Refuse, before any byte is fetched, what the media type alone settles."""
    kind = base(media_type)
    if kind in FOREIGN_TYPES:
        raise ForeignLayer(
            "a foreign (non-distributable) layer: its content is not served by the "
            "registry and is never fetched",
            detail={"media_type": kind},
        )
    if kind in NOT_FILESYSTEM_TYPES or kind.endswith("+json"):
        raise NotAFilesystem(
            f"a blob of type {kind} is not a file system", detail={"media_type": kind}
        )


def sniff(head: bytes) -> Format:
    """The container by the first bytes (trusted over the media type: a layer typed as
    plain tar but gzipped is read as gzip)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "tar"
