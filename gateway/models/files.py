"""What the SPA receives about files inside images (API.md, third round: "Files inside
images" and "Differences between two images"). The routes serialise these by alias
(``from``/``to`` are Python keywords)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EntryType = Literal[
    "file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque"
]
Change = Literal["added", "removed", "changed"]


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FileEntry(_Api):
    """One entry of a layer or of an image's merged file system."""

    path: str = Field(description="Absolute, normalised, '/'-separated.")
    name: str = Field(description="The last component of path.")
    type: EntryType = Field(
        description="file, dir, symlink, hardlink, char, block, fifo; in a layer listing "
        "also whiteout (path = the deleted path) and opaque (.wh..wh..opq)."
    )
    size: int = Field(description="Content bytes of a regular file (a hard link: its target's).")
    mode: str = Field(
        description='Permission bits in octal, setuid/setgid/sticky included ("4755").'
    )
    uid: int = Field(description="Owner's user id, as the tar says.")
    gid: int = Field(description="Owner's group id, as the tar says.")
    mtime: str | None = Field(
        description="RFC 3339 UTC; null for a directory the tar only implies."
    )
    link_target: str | None = Field(
        description="A symlink's target as written; a hard link's path."
    )
    sha256: str | None = Field(
        description="Of a regular file's content (a hard link: its target's)."
    )
    layer: str = Field(description="The digest of the layer that gave this entry.")
    deleted_by: str | None = Field(
        default=None,
        description="With include_deleted=true: the layer whose whiteout (or opaque "
        "directory) removed the entry.",
    )


class FileListing(_Api):
    digest: str = Field(description="The layer's digest, or the platform image manifest's.")
    path: str = Field(description="The directory listed.")
    complete: bool = Field(
        description="False when some layers of the image could not be read (foreign "
        "layers, never fetched): the view shows the others."
    )
    total: int = Field(description="Entries in the whole listing, over every page.")
    next: str | None = Field(description="Pass as last for the next page; null on the last.")
    entries: list[FileEntry] = Field(description="This page's entries, sorted by path.")


class IndexingProgress(_Api):
    """202: the layer is still being read; ask again after Retry-After."""

    status: Literal["indexing"] = Field(default="indexing", description="Always indexing.")
    bytes_read: int = Field(description="Bytes of the layers read so far.")
    bytes_total: int | None = Field(description="Their compressed size; null when unknown.")


class FilePreview(_Api):
    path: str = Field(description="The file's absolute, normalised path.")
    size: int = Field(description="The whole file's bytes.")
    sha256: str | None = Field(description="Of the whole file's content.")
    binary: bool = Field(description="Whether the content is not UTF-8 text (or holds a NUL).")
    text: str | None = Field(description="The first 64 KiB as text; null for binary content.")
    truncated: bool = Field(description="Whether the file is longer than the text shown.")


class DiffSide(_Api):
    repository: str = Field(description="The repository the image was read from.")
    reference: str = Field(description="The tag or digest asked for.")
    digest: str = Field(description="The platform image manifest's digest.")
    platform: str | None = Field(description="os/architecture[/variant] of the image.")
    size: int = Field(description="The image's size by the image rule.")


class LayerCounts(_Api):
    shared: int = Field(description="Layers (by digest) in both images.")
    only_from: int = Field(description="Layers only in the from image.")
    only_to: int = Field(description="Layers only in the to image.")


class ConfigChange(_Api):
    field: str = Field(
        description="env, labels, entrypoint, cmd, working_dir, user, exposed_ports, "
        "volumes, os, architecture or variant."
    )
    key: str | None = Field(default=None, description="The variable or label (env, labels).")
    from_: Any = Field(alias="from", description="The value in the from image (null: absent).")
    to: Any = Field(description="The value in the to image (null: absent).")


class FileChange(_Api):
    path: str = Field(description="Absolute, normalised.")
    change: Change = Field(description="added, removed or changed.")
    from_: FileEntry | None = Field(alias="from", description="The entry in from (null: added).")
    to: FileEntry | None = Field(description="The entry in to (null: removed).")


class FileChanges(_Api):
    added: int = Field(description="Paths added, over the whole diff.")
    removed: int = Field(description="Paths removed, over the whole diff.")
    changed: int = Field(description="Paths changed, over the whole diff.")
    added_bytes: int = Field(description="Sizes of the regular files added.")
    removed_bytes: int = Field(description="Sizes of the regular files removed.")
    entries: list[FileChange] = Field(description="This page's changes (filters applied).")
    next: str | None = Field(description="Pass as last for the next page; null on the last.")


class ImageDiff(_Api):
    from_: DiffSide = Field(alias="from", description="The image compared from.")
    to: DiffSide = Field(description="The image compared to.")
    layers: LayerCounts = Field(description="Layers shared and not.")
    config: list[ConfigChange] = Field(description="One item per config difference.")
    files: FileChanges = Field(description="What changed in the merged file systems.")


class LayerChanges(_Api):
    """What one layer of an image did to the file system of the layers below it."""

    digest: str = Field(description="The layer's digest.")
    position: int = Field(description="Its place in the image's layers, bottom = 0.")
    size: int = Field(description="The layer's compressed size.")
    files: FileChanges = Field(
        description="Paths it added, removed (whiteouts, opaque directories) or changed."
    )
