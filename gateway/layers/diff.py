"""The differences between two platform images: layers, config, files.

Files are compared on their merged views (``views.MergedView``), path by path: an entry
is ``changed`` when its type, content (``sha256``), mode, uid/gid or link target differ;
a new ``mtime`` alone is not a change (a rebuild touches every file). Counts and
``added_bytes``/``removed_bytes`` (regular files' sizes) are over the whole diff; the
``change`` and ``path`` filters and the paging apply to the entries listed only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.layers import paths
from gateway.layers.views import MergedView, Shown, to_model
from gateway.models.files import (
    ConfigChange,
    DiffSide,
    FileChange,
    FileChanges,
    ImageDiff,
    LayerCounts,
)


@dataclass(frozen=True)
class ConfigFields:
    """What the diff compares of an image's config (from its JSON: ``config.Env``…)."""

    env: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: Sequence[str] = ()
    volumes: Sequence[str] = ()
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None

    @classmethod
    def from_config(cls, document: Mapping[str, Any]) -> ConfigFields:
        """From an image config blob as parsed JSON (OCI or Docker); odd values are
        read as absent rather than trusted."""
        c = document.get("config") or {}
        c = c if isinstance(c, Mapping) else {}

        def strings(value: object) -> list[str] | None:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
            return None

        def keys(value: object) -> list[str]:
            return (
                sorted(k for k in value if isinstance(k, str)) if isinstance(value, Mapping) else []
            )

        def text(value: object) -> str | None:
            return value if isinstance(value, str) else None

        labels = c.get("Labels")
        return cls(
            env=strings(c.get("Env")) or [],
            labels={k: v for k, v in labels.items() if isinstance(v, str)}
            if isinstance(labels, Mapping)
            else {},
            entrypoint=strings(c.get("Entrypoint")),
            cmd=strings(c.get("Cmd")),
            working_dir=text(c.get("WorkingDir")) or "",
            user=text(c.get("User")) or "",
            exposed_ports=keys(c.get("ExposedPorts")),
            volumes=keys(c.get("Volumes")),
            os=text(document.get("os")),
            architecture=text(document.get("architecture")),
            variant=text(document.get("variant")),
        )


@dataclass(frozen=True)
class ImageSide:
    """One side of a diff, as the caller resolved it (platform picked, size computed)."""

    repository: str
    reference: str
    digest: str
    platform: str | None
    size: int
    config: ConfigFields


def config_changes(a: ConfigFields, b: ConfigFields) -> list[ConfigChange]:
    out: list[ConfigChange] = []
    for name, left, right in (
        ("env", _env(a.env), _env(b.env)),
        ("labels", dict(a.labels), dict(b.labels)),
    ):
        for key in sorted(left.keys() | right.keys()):
            if left.get(key) != right.get(key):
                out.append(
                    ConfigChange(field=name, key=key, from_=left.get(key), to=right.get(key))
                )
    for name in ("entrypoint", "cmd", "working_dir", "user", "exposed_ports", "volumes"):
        old, new = _plain(getattr(a, name)), _plain(getattr(b, name))
        if old != new:
            out.append(ConfigChange(field=name, from_=old, to=new))
    for name in ("os", "architecture", "variant"):
        if getattr(a, name) != getattr(b, name):
            out.append(ConfigChange(field=name, from_=getattr(a, name), to=getattr(b, name)))
    return out


def layer_counts(a: Sequence[str], b: Sequence[str]) -> LayerCounts:
    left, right = set(a), set(b)
    return LayerCounts(
        shared=len(left & right), only_from=len(left - right), only_to=len(right - left)
    )


def differs(a: Shown, b: Shown) -> bool:
    x, y = a.entry, b.entry
    return (x.type, x.sha256, x.mode, x.uid, x.gid, x.link_target) != (
        y.type,
        y.sha256,
        y.mode,
        y.uid,
        y.gid,
        y.link_target,
    )


async def diff_images(
    a: ImageSide,
    a_view: MergedView,
    b: ImageSide,
    b_view: MergedView,
    *,
    change: str | None = None,
    path: str | None = None,
    last: str | None = None,
    n: int = 200,
) -> ImageDiff:
    left = {s.entry.path: s for s in await a_view.entries("/", recursive=True)}
    right = {s.entry.path: s for s in await b_view.entries("/", recursive=True)}
    prefix = paths.normalise(path) if path else "/"
    counts = {"added": 0, "removed": 0, "changed": 0}
    added_bytes = removed_bytes = 0
    listed: list[tuple[str, str, Shown | None, Shown | None]] = []
    for p in sorted(left.keys() | right.keys()):
        old, new = left.get(p), right.get(p)
        if old is None and new is not None:
            kind = "added"
            added_bytes += new.entry.size if new.entry.type == "file" else 0
        elif new is None and old is not None:
            kind = "removed"
            removed_bytes += old.entry.size if old.entry.type == "file" else 0
        elif old is not None and new is not None and differs(old, new):
            kind = "changed"
        else:
            continue
        counts[kind] += 1
        if (change is None or change == kind) and paths.is_below(p, prefix):
            listed.append((p, kind, old, new))
    start = 0
    if last is not None:
        start = next((i for i, item in enumerate(listed) if item[0] > last), len(listed))
    chunk = listed[start : start + n]
    more = start + n < len(listed)
    return ImageDiff(
        from_=_side(a),
        to=_side(b),
        layers=layer_counts(a_view.digests, b_view.digests),
        config=config_changes(a.config, b.config),
        files=FileChanges(
            added=counts["added"],
            removed=counts["removed"],
            changed=counts["changed"],
            added_bytes=added_bytes,
            removed_bytes=removed_bytes,
            entries=[
                FileChange(
                    path=p,
                    change=kind,
                    from_=None if old is None else to_model(old, a_view.digests),
                    to=None if new is None else to_model(new, b_view.digests),
                )
                for p, kind, old, new in chunk
            ],
            next=chunk[-1][0] if more and chunk else None,
        ),
    )


def _side(side: ImageSide) -> DiffSide:
    return DiffSide(
        repository=side.repository,
        reference=side.reference,
        digest=side.digest,
        platform=side.platform,
        size=side.size,
    )


def _env(env: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _plain(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return list(value)
    return value
