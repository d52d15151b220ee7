"""Wire models of what the registry sends: manifests, indexes, image configs.

Lenient by design: real documents mix ``null``/``{}``/``[]``, omit ``mediaType``, carry
Windows ``os.version``, legacy ``container_config`` and non-image configs (Helm, cosign).
Parsing never re-serialises: digests are always computed over the bytes as received.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.errors import UpstreamInvalid
from gateway.models import media_types as mt


def _none_to(default: Any) -> Any:
    def convert(value: Any) -> Any:
        return default() if value is None else value

    return convert


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Platform(_Wire):
    architecture: str = ""
    os: str = ""
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")
    os_features: list[str] | None = Field(default=None, alias="os.features")

    def label(self) -> str:
        parts = [self.os or "unknown", self.architecture or "unknown"]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)


class Descriptor(_Wire):
    media_type: str = Field(default="", alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    platform: Platform | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    urls: list[str] | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")

    _annotations = field_validator("annotations", mode="before")(_none_to(dict))

    @property
    def is_attestation(self) -> bool:
        return self.annotations.get(mt.ATTESTATION_TYPE_ANNOTATION) == mt.ATTESTATION_TYPE


class ImageManifest(_Wire):
    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    config: Descriptor
    layers: list[Descriptor] = Field(default_factory=list)
    annotations: dict[str, str] = Field(default_factory=dict)
    subject: Descriptor | None = None

    _lists = field_validator("layers", mode="before")(_none_to(list))
    _annotations = field_validator("annotations", mode="before")(_none_to(dict))


class Index(_Wire):
    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    manifests: list[Descriptor] = Field(default_factory=list)
    annotations: dict[str, str] = Field(default_factory=dict)
    subject: Descriptor | None = None

    _lists = field_validator("manifests", mode="before")(_none_to(list))
    _annotations = field_validator("annotations", mode="before")(_none_to(dict))


class ContainerConfig(_Wire):
    user: str | None = Field(default=None, alias="User")
    env: list[str] = Field(default_factory=list, alias="Env")
    entrypoint: list[str] | None = Field(default=None, alias="Entrypoint")
    cmd: list[str] | None = Field(default=None, alias="Cmd")
    working_dir: str | None = Field(default=None, alias="WorkingDir")
    exposed_ports: dict[str, Any] = Field(default_factory=dict, alias="ExposedPorts")
    volumes: dict[str, Any] = Field(default_factory=dict, alias="Volumes")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    stop_signal: str | None = Field(default=None, alias="StopSignal")
    healthcheck: dict[str, Any] | None = Field(default=None, alias="Healthcheck")
    shell: list[str] | None = Field(default=None, alias="Shell")

    _lists = field_validator("env", mode="before")(_none_to(list))
    _maps = field_validator("exposed_ports", "volumes", "labels", mode="before")(_none_to(dict))

    @field_validator("entrypoint", "cmd", "shell", mode="before")
    @classmethod
    def _string_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("labels", mode="before")
    @classmethod
    def _label_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value


class HistoryEntry(_Wire):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    @field_validator("empty_layer", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> Any:
        return bool(value)


class RootFS(_Wire):
    type: str = ""
    diff_ids: list[str] = Field(default_factory=list)

    _lists = field_validator("diff_ids", mode="before")(_none_to(list))


class ImageConfig(_Wire):
    architecture: str = ""
    os: str = ""
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")
    created: str | None = None
    author: str | None = None
    config: ContainerConfig = Field(default_factory=ContainerConfig)
    history: list[HistoryEntry] = Field(default_factory=list)
    rootfs: RootFS = Field(default_factory=RootFS)

    _lists = field_validator("history", mode="before")(_none_to(list))
    _config = field_validator("config", mode="before")(_none_to(dict))
    _rootfs = field_validator("rootfs", mode="before")(_none_to(dict))

    def platform(self) -> Platform:
        return Platform(architecture=self.architecture, os=self.os, variant=self.variant or None)


def _load(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        raise UpstreamInvalid(f"the registry answered a {what} that is not JSON") from None


def manifest_media_type(body: bytes, content_type: str | None) -> str:
    """The effective media type of a manifest document, or UpstreamInvalid.

    Rejects non-JSON, a ``mediaType`` that contradicts the Content-Type, and documents
    that are both an index and an image manifest (a confusion attack).
    """
    doc = _load(body, "manifest")
    if not isinstance(doc, dict):
        raise UpstreamInvalid("the registry answered a manifest that is not a JSON object")
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise UpstreamInvalid("the manifest's mediaType is not a string")
    header = mt.base(content_type)
    has_index = "manifests" in doc
    has_image = "config" in doc or "layers" in doc
    if has_index and has_image:
        raise UpstreamInvalid("the manifest is both an index and an image manifest")
    if declared and header in mt.MANIFEST_TYPES and declared != header:
        raise UpstreamInvalid(
            "the manifest's mediaType contradicts its Content-Type",
            detail={"media_type": declared, "content_type": header},
        )
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1
    if declared:
        kind = declared
    elif header in mt.MANIFEST_TYPES:
        kind = header
    else:
        kind = mt.OCI_INDEX if has_index else mt.OCI_MANIFEST
    if kind not in mt.MANIFEST_TYPES:
        # Never pass an arbitrary type on: the raw endpoint serves it as Content-Type.
        raise UpstreamInvalid(
            "the registry answered a document that is not a manifest",
            detail={"media_type": kind[:200]},
        )
    if kind in mt.INDEX_TYPES and has_image or kind in mt.IMAGE_MANIFEST_TYPES and has_index:
        raise UpstreamInvalid("the manifest's content does not match its media type")
    return kind


_Doc = TypeVar("_Doc", bound=_Wire)


def _parse(model: type[_Doc], body: bytes, what: str) -> _Doc:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise UpstreamInvalid(
            f"the registry answered a malformed {what}", detail=_brief(exc)
        ) from None


def parse_index(body: bytes) -> Index:
    return _parse(Index, body, "index")


def parse_image_manifest(body: bytes) -> ImageManifest:
    return _parse(ImageManifest, body, "manifest")


def parse_config(body: bytes) -> ImageConfig:
    """An image config; for non-image configs (Helm, cosign) the fields simply stay empty."""
    doc = _load(body, "config")
    if not isinstance(doc, dict):
        return ImageConfig()
    try:
        return ImageConfig.model_validate(doc)
    except ValidationError:
        # A config that is JSON but not shaped like an image config: show what we can.
        return ImageConfig(
            architecture=_str(doc.get("architecture")),
            os=_str(doc.get("os")),
            created=_str(doc.get("created")) or None,
        )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _brief(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors()[:5]]


def normalize_time(value: str | None) -> str | None:
    """RFC 3339 in UTC (``Z``), or None for absent, unparseable or zero (0001-01-01) times."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Go writes nanoseconds; Python parses at most microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = head + ("." + digits[:6] if digits else "") + rest
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # e.g. 0001-01-01T00:00:00+01:00 is before year 1
        return None
    if parsed.year <= 1:
        return None
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if parsed.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return parsed.strftime(fmt)


def time_order(value: str | None) -> datetime:
    """A sort key for times as ``normalize_time`` writes them; None is the oldest.

    Compare these, not the strings: ``…:00.5Z`` is later than ``…:00Z`` though ``.``
    sorts before ``Z`` as text.
    """
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
