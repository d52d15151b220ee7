"""Storage accounting: what a manifest reaches, and what deleting tags would free.

Pure functions over ``Node``s (one per manifest: its own bytes, the blobs it names,
the manifests it names), no I/O, so every rule here is unit-testable.

The usage rule (API.md, Usage):

- a manifest's **closure** is the manifest itself (its bytes as stored), and for an
  image manifest its config and layers, for an index (or manifest list) the closures
  of its children — platform images and buildx attestation manifests alike. A child
  the repository does not hold (a sparse or broken index) is no storage of it and is
  left out; so are foreign layers (descriptors with ``urls``: not stored in the
  registry);
- a set of tags counts **each distinct digest once** (a layer shared by two tags, two
  platforms or a tag and an attestation is stored once);
- a tag's ``exclusive_bytes`` is what deleting only that tag frees: the items of its
  closure no other tag reaches (0 when another tag shares its digest);
- a set of tags to delete frees the items that only those tags reach (``freed_bytes``);
- across repositories the same holds with repositories for tags: a repository's
  exclusive bytes are the items no other repository references.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from gateway.models import media_types as mt
from gateway.models import oci

Items = Mapping[str, int]  # digest -> bytes: manifests and blobs of a closure


@dataclass(frozen=True)
class Node:
    """One manifest as the accounting sees it."""

    digest: str
    size: int  # the manifest's own bytes
    blobs: tuple[tuple[str, int], ...] = ()  # config and layers (image manifests)
    children: tuple[str, ...] = ()  # child manifests (indexes)


def image_node(digest: str, size: int, manifest: oci.ImageManifest) -> Node:
    blobs = [(manifest.config.digest, manifest.config.size)]
    blobs += [(d.digest, d.size) for d in manifest.layers if not d.urls]
    return Node(digest, size, tuple(blobs))


def index_node(digest: str, size: int, index: oci.Index) -> Node:
    children = tuple(dict.fromkeys(d.digest for d in index.manifests))
    return Node(digest, size, children=children)


def is_index(media_type: str) -> bool:
    return media_type in mt.INDEX_TYPES


def closure(root: str, nodes: Mapping[str, Node]) -> dict[str, int]:
    """Every item ``root`` reaches (itself included), each once; children missing
    from ``nodes`` are not counted; a cycle (a malformed index naming itself) ends."""
    items: dict[str, int] = {}
    stack = [root]
    seen: set[str] = set()
    while stack:
        digest = stack.pop()
        if digest in seen:
            continue
        seen.add(digest)
        node = nodes.get(digest)
        if node is None:
            continue
        items[digest] = node.size
        for blob, size in node.blobs:
            items.setdefault(blob, size)
        stack.extend(node.children)
    return items


def total(items: Items) -> int:
    return sum(items.values())


@dataclass(frozen=True)
class TagFigures:
    tag: str
    digest: str
    bytes: int
    exclusive_bytes: int


@dataclass(frozen=True)
class RepoFigures:
    """A repository's usage: its items (for the registry's figures) and each tag's."""

    items: dict[str, int]
    manifests: int
    blobs: int
    by_tag: list[TagFigures] = field(default_factory=list)
    tag_items: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    manifest_digests: frozenset[str] = frozenset()  # which of ``items`` are manifests

    @property
    def tag_digests(self) -> dict[str, str]:
        return {row.tag: row.digest for row in self.by_tag}

    @property
    def total_bytes(self) -> int:
        return total(self.items)


def repository_figures(tag_digests: Mapping[str, str], nodes: Mapping[str, Node]) -> RepoFigures:
    """The usage of a repository whose tags point at ``tag_digests`` (tag -> digest),
    from its manifests ``nodes``. ``by_tag`` is sorted by bytes, largest first."""
    per_digest = {d: closure(d, nodes) for d in set(tag_digests.values())}
    tag_items = {tag: per_digest[d] for tag, d in tag_digests.items()}
    reach = Counter(item for items in tag_items.values() for item in items)
    everything: dict[str, int] = {}
    for items in per_digest.values():
        everything.update(items)
    manifest_digests = frozenset(d for d in everything if d in nodes)
    manifests = len(manifest_digests)
    by_tag = [
        TagFigures(
            tag=tag,
            digest=tag_digests[tag],
            bytes=total(items),
            exclusive_bytes=sum(size for item, size in items.items() if reach[item] == 1),
        )
        for tag, items in tag_items.items()
    ]
    by_tag.sort(key=lambda row: (-row.bytes, row.tag))
    return RepoFigures(
        items=everything,
        manifests=manifests,
        blobs=len(everything) - manifests,
        by_tag=by_tag,
        tag_items=tag_items,
        manifest_digests=manifest_digests,
    )


def freed_bytes(tag_items: Mapping[str, Items], deleted: Collection[str]) -> int:
    """What deleting the tags ``deleted`` frees: the items no other tag reaches."""
    kept: set[str] = set()
    for tag, items in tag_items.items():
        if tag not in deleted:
            kept.update(items)
    gone: dict[str, int] = {}
    for tag in deleted:
        for item, size in tag_items.get(tag, {}).items():
            if item not in kept:
                gone[item] = size
    return total(gone)


def reached(tag_items: Mapping[str, Items], tags: Iterable[str]) -> set[str]:
    """Every item the ``tags`` reach."""
    out: set[str] = set()
    for tag in tags:
        out.update(tag_items.get(tag, {}))
    return out


@dataclass(frozen=True)
class RegistryFigures:
    total_bytes: int  # each distinct item once over all repositories
    naive_bytes: int  # the sum of the repositories' totals
    repositories: list[tuple[str, int, int]]  # (name, bytes, exclusive_bytes)


def registry_figures(repos: Mapping[str, Items]) -> RegistryFigures:
    """Figures over repositories (name -> items), largest exclusive bytes first."""
    reach: Counter[str] = Counter()
    sizes: dict[str, int] = {}
    for items in repos.values():
        reach.update(items.keys())
        sizes.update(items)
    rows = [
        (name, total(items), sum(s for item, s in items.items() if reach[item] == 1))
        for name, items in repos.items()
    ]
    rows.sort(key=lambda row: (-row[2], -row[1], row[0]))
    return RegistryFigures(
        total_bytes=total(sizes),
        naive_bytes=sum(row[1] for row in rows),
        repositories=rows,
    )
