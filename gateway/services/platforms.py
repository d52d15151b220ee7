"""Platforms of index children: labels, what counts as runnable, and choosing one."""

from __future__ import annotations

from gateway.errors import InvalidRequest, ManifestUnknown
from gateway.models import api, oci


def to_api(p: oci.Platform) -> api.Platform:
    return api.Platform(
        os=p.os,
        architecture=p.architecture,
        variant=p.variant or None,
        os_version=p.os_version,
        os_features=p.os_features,
    )


def platform_label(p: api.Platform) -> str:
    parts = [p.os or "unknown", p.architecture or "unknown"]
    if p.variant:
        parts.append(p.variant)
    return "/".join(parts)


def is_runnable(p: api.Platform) -> bool:
    return bool(p.os and p.architecture) and (p.os, p.architecture) != ("unknown", "unknown")


def _choices(runnable: list[oci.Descriptor]) -> dict[str, object]:
    """The ``detail`` of a platform error: labels, and each child for a precise choice."""
    return {
        "platforms": [d.platform.label() for d in runnable if d.platform is not None],
        "choices": [
            {
                "platform": d.platform.label(),
                "os_version": d.platform.os_version,
                "digest": d.digest,
            }
            for d in runnable
            if d.platform is not None
        ],
    }


def choose_platform(
    index: oci.Index, wanted: str | None, os_version: str | None = None
) -> oci.Descriptor:
    """The runnable child of an index that ``wanted`` (``os/arch[/variant]``) names.

    ``os_version`` tells apart children that differ only there (Windows images).
    """
    runnable = [
        d
        for d in index.manifests
        if not d.is_attestation and d.platform is not None and is_runnable(to_api(d.platform))
    ]
    if os_version:
        runnable = [d for d in runnable if d.platform and d.platform.os_version == os_version]
    labels = [d.platform.label() for d in runnable if d.platform is not None]
    if wanted is None:
        if len(runnable) == 1:
            return runnable[0]
        if not runnable:
            raise ManifestUnknown("no image for that os_version in this index")
        raise InvalidRequest(
            "this reference is a multi-platform index: choose a platform",
            detail=_choices(runnable),
        )
    wanted = wanted.strip().lower()
    exact = [d for d, label in zip(runnable, labels, strict=True) if label.lower() == wanted]
    if not exact:
        # "linux/arm64" may name "linux/arm64/v8" when only one arm64 variant exists.
        exact = [
            d
            for d, label in zip(runnable, labels, strict=True)
            if label.lower().startswith(wanted + "/")
        ]
    if len(exact) == 1:
        return exact[0]
    if not exact:
        raise ManifestUnknown("no image for that platform in this index", detail=_choices(runnable))
    raise InvalidRequest(
        "the platform matches several images: add the variant or os_version",
        detail=_choices(exact),
    )
