"""What the SPA receives from ``GET /api/search`` (API.md: Search across the registry).
Part of the OpenAPI document, like ``models.api``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchMatch(_Api):
    kind: Literal["manifest", "index", "child", "config", "layer", "label", "tag", "package"] = (
        Field(
            description="How the tag was found: its own digest (manifest, index), an image or "
            "attestation of its index (child), its config or a layer, a label, its name "
            "(tag), a package of its SBOMs."
        )
    )
    value: str = Field(
        description="What matched: a digest, key=value, the tag, or name@version (name alone "
        "when the SBOM gives no version)."
    )


class SearchResult(_Api):
    repository: str = Field(description="The repository.")
    tag: str = Field(description="The tag.")
    digest: str = Field(description="What the tag points at (an image manifest or an index).")
    platform: str | None = Field(
        description="The image of a multi-platform index that matched (os/arch[/variant]); "
        "null when the tag's own manifest or index matched as a whole."
    )
    match: SearchMatch = Field(description="What matched, and how.")


class SearchIndexed(_Api):
    repositories: int = Field(description="Repositories walked, among those the caller sees.")
    images: int = Field(description="Tagged images in them.")
    as_of: str | None = Field(
        description="When the oldest of their tag lists was last read whole (RFC 3339); "
        "notifications keep them fresher in between."
    )


class SearchQuery(_Api):
    kind: Literal["digest", "label", "tag", "package", "name"] = Field(
        description="What was searched (``q``: as the search box read it)."
    )
    text: str = Field(description="The text searched, as normalised.")


class SearchPage(_Api):
    """A page of results, ordered by (repository, tag, platform, match kind, value)."""

    results: list[SearchResult] = Field(
        description="One per tag (and per platform of a multi-platform index) that matched."
    )
    complete: bool = Field(
        description="Whether every repository the caller may see has been walked into the "
        "index (false while a walk goes on: ask again for more)."
    )
    indexed: SearchIndexed = Field(description="How far the index covers what the caller sees.")
    next: str | None = Field(
        description="Pass as ``last`` for the next page; null on the last page."
    )
    query: SearchQuery = Field(description="The search as understood.")
    repositories: list[str] = Field(
        default_factory=list,
        description="For a name search (``q`` that is none of the other kinds): the "
        "repositories the caller may pull whose name contains the text (at most ``n``); "
        "empty otherwise.",
    )


class SearchStatus(_Api):
    """This replica's search index, as ``/api/health`` reports it."""

    available: bool = Field(
        description="Whether the index file could be opened (false: /api/search answers "
        "503 SEARCH_UNAVAILABLE; everything else works). It does not change the status."
    )
    repositories: int = Field(description="Repositories in the index.")
    images: int = Field(description="Tagged images in the index.")
    index_bytes: int = Field(description="The index's size on disk.")
    walks_running: int = Field(description="Walks reading the registry into it now.")
