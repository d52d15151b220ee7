"""Packages listed in an SBOM: ``name@version`` pairs, from the formats images carry.

Pure and bounded, because an SBOM is a document anyone with push rights wrote:

- **Formats.** SPDX 2.2/2.3 JSON (``packages[].name`` / ``versionInfo``); CycloneDX JSON
  (``components[]`` and ``metadata.component``, nested ``components`` followed to
  ``MAX_DEPTH``); an in-toto statement whose ``predicateType`` is SPDX or CycloneDX (the
  predicate is that document: BuildKit's SBOM attestations, ``syft attest``); a DSSE
  envelope around such a statement (cosign's ``.att`` layers). Anything else lists
  nothing: not an error, an SBOM of a format not read.
- **Names.** A CycloneDX component with a ``group`` is listed twice: as ``group/name``
  (npm's ``@scope/name``, the way SPDX tools name the same package) and as ``name``
  (Maven's ``log4j-core``, the way SPDX tools name *that* one), so a search finds it by
  either. The described package (SPDX's root package, CycloneDX's
  ``metadata.component``) is listed like any other.
- **Bounds.** At most ``MAX_BYTES`` of input (a DSSE payload included); names and
  versions longer than ``MAX_NAME``/``MAX_VERSION`` or holding control characters are
  skipped, not cut (a cut name would match what the document never said); at most
  ``MAX_PACKAGES`` distinct pairs (``Packages.truncated`` then says so). Parsing keeps
  only the keys read here (``object_pairs_hook``): an SBOM's ``files`` and
  ``relationships`` — most of its bytes — are dropped as they are parsed, so memory
  follows the packages, not the document's size.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024
MAX_BYTES = 16 * MiB
MAX_PACKAGES = 10_000
MAX_NAME = 256
MAX_VERSION = 128
MAX_DEPTH = 32

SPDX_PREDICATES = ("https://spdx.dev/Document",)
CYCLONEDX_PREDICATES = ("https://cyclonedx.org/bom",)
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"

# The keys any format read here uses; every other key is dropped while parsing.
_KEPT = frozenset(
    {
        "spdxVersion",
        "packages",
        "versionInfo",
        "bomFormat",
        "components",
        "metadata",
        "component",
        "name",
        "version",
        "group",
        "_type",
        "predicateType",
        "predicate",
        "payloadType",
        "payload",
    }
)


@dataclass(frozen=True)
class Packages:
    """The packages an SBOM lists, ``(name, version)`` sorted and once each; ``version``
    is "" when the document gives none."""

    pairs: tuple[tuple[str, str], ...] = ()
    format: str = ""  # "spdx", "cyclonedx", or "" (not an SBOM read here)
    truncated: bool = False


NONE = Packages()


def package_label(name: str, version: str) -> str:
    """``name@version``, or ``name`` without a version (what a search's match shows)."""
    return f"{name}@{version}" if version else name


def parse(body: bytes) -> Packages:
    """The packages of one SBOM document (or of the statement or envelope carrying it)."""
    doc = _load(body)
    return _packages(doc, depth=0) if doc is not None else NONE


# -- reading ----------------------------------------------------------------------------


def _keep(pairs: list[tuple[str, Any]]) -> dict[str, Any] | None:
    kept = {k: v for k, v in pairs if k in _KEPT}
    return kept or None


def _load(body: bytes) -> Any:
    if len(body) > MAX_BYTES:
        return None
    try:
        return json.loads(body, object_pairs_hook=_keep)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _packages(doc: Any, depth: int) -> Packages:
    if not isinstance(doc, dict) or depth > 2:  # a statement in an envelope, at most
        return NONE
    if isinstance(doc.get("spdxVersion"), str):
        return _collect("spdx", _spdx(doc))
    if doc.get("bomFormat") == "CycloneDX":
        return _collect("cyclonedx", _cyclonedx(doc))
    predicate_type = doc.get("predicateType")
    if isinstance(predicate_type, str) and isinstance(doc.get("predicate"), dict):
        if predicate_type.startswith(SPDX_PREDICATES):
            return _collect("spdx", _spdx(doc["predicate"]))
        if predicate_type.startswith(CYCLONEDX_PREDICATES):
            return _collect("cyclonedx", _cyclonedx(doc["predicate"]))
        return NONE
    if doc.get("payloadType") == IN_TOTO_PAYLOAD and isinstance(doc.get("payload"), str):
        return _packages(_envelope_payload(doc["payload"]), depth + 1)
    return NONE


def _envelope_payload(payload: str) -> Any:
    if len(payload) > MAX_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        try:  # DSSE allows the URL-safe alphabet too
            raw = base64.urlsafe_b64decode(payload)
        except (binascii.Error, ValueError):
            return None
    return _load(raw)


def _spdx(doc: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    packages = doc.get("packages")
    if isinstance(packages, list):
        for package in packages:
            if isinstance(package, dict):
                yield package.get("name"), package.get("versionInfo")


def _cyclonedx(doc: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    stack: list[tuple[Any, int]] = [(doc.get("components"), 0)]
    metadata = doc.get("metadata")
    if isinstance(metadata, dict):
        stack.append(([metadata.get("component")], 0))
    while stack:
        components, depth = stack.pop()
        if not isinstance(components, list) or depth > MAX_DEPTH:
            continue
        for component in components:
            if not isinstance(component, dict):
                continue
            name, version, group = (component.get(k) for k in ("name", "version", "group"))
            if isinstance(group, str) and group and isinstance(name, str):
                yield f"{group}/{name}", version
            yield name, version
            if "components" in component:
                stack.append((component["components"], depth + 1))


def _clean(value: Any, limit: int) -> str | None:
    """The string as the document says it, or None when it is not one we keep."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > limit or not text.isprintable():
        return None
    return text


def _collect(fmt: str, found: Iterable[tuple[Any, Any]]) -> Packages:
    pairs: set[tuple[str, str]] = set()
    truncated = False
    for raw_name, raw_version in found:
        name = _clean(raw_name, MAX_NAME)
        if not name:
            continue
        version = _clean(raw_version, MAX_VERSION) if raw_version is not None else ""
        if version is None:
            continue
        if len(pairs) >= MAX_PACKAGES and (name, version) not in pairs:
            truncated = True
            break
        pairs.add((name, version))
    return Packages(tuple(sorted(pairs)), fmt, truncated)
