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
    uid: int
    gid: int
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
    entries: list[FileEntry]


class IndexingProgress(_Api):
    """202: the layer is still being read; ask again after Retry-After."""

    status: Literal["indexing"] = "indexing"
    bytes_read: int
    bytes_total: int | None


class FilePreview(_Api):
    path: str
    size: int
    sha256: str | None
    binary: bool = Field(description="Whether the content is not UTF-8 text (or holds a NUL).")
    text: str | None = Field(description="The first 64 KiB as text; null for binary content.")
    truncated: bool = Field(description="Whether the file is longer than the text shown.")


class DiffSide(_Api):
    repository: str
    reference: str
    digest: str = Field(description="The platform image manifest's digest.")
    platform: str | None
    size: int = Field(description="The image's size by the image rule.")


class LayerCounts(_Api):
    shared: int
    only_from: int
    only_to: int


class ConfigChange(_Api):
    field: str = Field(
        description="env, labels, entrypoint, cmd, working_dir, user, exposed_ports, "
        "volumes, os, architecture or variant."
    )
    key: str | None = Field(default=None, description="The variable or label (env, labels).")
    from_: Any = Field(alias="from", description="The value in the from image (null: absent).")
    to: Any = Field(description="The value in the to image (null: absent).")


class FileChange(_Api):
    path: str
    change: Change
    from_: FileEntry | None = Field(alias="from")
    to: FileEntry | None


class FileChanges(_Api):
    added: int
    removed: int
    changed: int
    added_bytes: int = Field(description="Sizes of the regular files added.")
    removed_bytes: int = Field(description="Sizes of the regular files removed.")
    entries: list[FileChange]
    next: str | None


class ImageDiff(_Api):
    from_: DiffSide = Field(alias="from")
    to: DiffSide
    layers: LayerCounts
    config: list[ConfigChange]
    files: FileChanges
