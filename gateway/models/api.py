"""What the SPA receives. The OpenAPI document in ``openapi/`` is generated from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Api):
    code: str = Field(examples=["MANIFEST_UNKNOWN"])
    message: str
    detail: Any = None


class ErrorResponse(_Api):
    error: ErrorBody


# -- health ----------------------------------------------------------------------------


class RegistryStatus(_Api):
    url: str
    reachable: bool
    status_code: int | None
    api_version: str | None
    auth: Literal["none", "basic", "bearer"]
    latency_ms: float


class Health(_Api):
    status: Literal["ok", "unavailable"]
    version: str
    registry: RegistryStatus


# -- config (what an SPA needs to choose its screens) -----------------------------------


class AuthConfig(_Api):
    registry: Literal["none", "basic", "bearer"] = Field(
        description="What the registry's challenge asks for (as in health): none, basic "
        "(htpasswd) or bearer (a token server)."
    )
    service_account: bool = Field(
        description="Whether the gateway has a service account: requests without a login "
        "are served as that account rather than anonymously."
    )
    login: bool = Field(
        description="Whether POST /api/session can succeed: the registry checks "
        "credentials (auth.registry is basic or bearer)."
    )


class FeaturesConfig(_Api):
    delete: bool = Field(description="Image and tag deletes are enabled (LR_DELETE_ENABLED).")
    events: bool = Field(
        description="Registry notifications are accepted on /api/events, so lists refresh "
        "as soon as the registry changes (LR_EVENTS_TOKEN is set)."
    )
    v2: Literal["off", "pull", "push"] = Field(
        description="Whether the registry's own v2 API is served through the gateway: off, "
        "pull (read and, with deletes, delete) or push."
    )
    redis: bool = Field(description="State is shared with other replicas through Redis.")


class RegistryConfig(_Api):
    pull_host: str = Field(
        description="host[:port] for copyable commands: docker pull {pull_host}/{name}:{tag}.",
        examples=["registry.example.com:5000"],
    )
    reachable: bool = Field(
        description="Whether the registry answered the last check; auth.registry is the "
        "last known answer (none before the first) while this is false."
    )


class Config(_Api):
    version: str = Field(description="The gateway's version.")
    auth: AuthConfig
    features: FeaturesConfig
    registry: RegistryConfig


# -- repositories ----------------------------------------------------------------------


class RepositorySummary(_Api):
    name: str
    tag_count: int | None = Field(
        description="Number of tags; null when they could not be counted (see error)."
    )
    error: ErrorBody | None = None


class RepositoryPage(_Api):
    repositories: list[RepositorySummary]
    total: int = Field(description="Repositories matching q in the whole catalog.")
    next: str | None = Field(description="Cursor for the next page (pass as last); null at end.")


# -- images ----------------------------------------------------------------------------


class Platform(_Api):
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: list[str] | None = None


class Layer(_Api):
    digest: str
    media_type: str
    size: int
    urls: list[str] | None = Field(
        default=None, description="Foreign layer locations (never fetched by the gateway)."
    )
    annotations: dict[str, str] = Field(default_factory=dict)


class PlatformImage(_Api):
    platform: Platform
    digest: str
    media_type: str
    size: int = Field(description="Manifest bytes + config size + sum of layer sizes.")
    config_digest: str | None
    config_media_type: str | None = None
    artifact_type: str | None = Field(
        default=None, description="Set for non-image artifacts (Helm charts, signatures…)."
    )
    created: str | None
    layers: list[Layer]
    annotations: dict[str, str] = Field(default_factory=dict)
    error: ErrorBody | None = Field(
        default=None, description="Set when this child could not be read (e.g. missing)."
    )


class Attestation(_Api):
    digest: str
    for_digest: str | None
    media_type: str
    size: int
    predicate_types: list[str] = Field(default_factory=list)
    error: ErrorBody | None = None


class ImageDetail(_Api):
    repository: str
    reference: str
    digest: str
    media_type: str
    kind: Literal["image", "index"]
    size: int
    annotations: dict[str, str]
    artifact_type: str | None = None
    tags: list[str]
    platforms: list[PlatformImage]
    attestations: list[Attestation]


# -- tags ------------------------------------------------------------------------------


class TagInfo(_Api):
    name: str
    digest: str | None = None
    media_type: str | None = None
    kind: Literal["image", "index"] | None = None
    platforms: list[str] | None = None
    size: int | None = None
    created: str | None = None
    artifact_type: str | None = None
    error: ErrorBody | None = Field(
        default=None, description="Set when details were asked for but could not be read."
    )


class TagPage(_Api):
    repository: str
    total: int
    next: str | None
    tags: list[TagInfo]


# -- config and history ----------------------------------------------------------------


class RunConfig(_Api):
    user: str | None
    env: list[str]
    entrypoint: list[str] | None
    cmd: list[str] | None
    working_dir: str | None
    exposed_ports: list[str]
    volumes: list[str]
    labels: dict[str, str]
    stop_signal: str | None
    healthcheck: dict[str, Any] | None = None
    shell: list[str] | None = None


class HistoryLayer(_Api):
    digest: str
    size: int
    media_type: str | None = None


class HistoryItem(_Api):
    created: str | None
    created_by: str | None
    author: str | None = None
    comment: str | None
    empty_layer: bool
    layer: HistoryLayer | None


class ImageConfig(_Api):
    digest: str
    media_type: str
    manifest_digest: str
    created: str | None
    author: str | None
    os: str
    architecture: str
    variant: str | None
    os_version: str | None = None
    config: RunConfig
    history: list[HistoryItem]
    layers: list[Layer]
    diff_ids: list[str]


# -- deletes ---------------------------------------------------------------------------


class ImageDeleted(_Api):
    deleted: str
    untagged: list[str]


class TagDeleted(_Api):
    untagged: list[str]
    method: Literal["native", "placeholder"] | None = None


# -- session ---------------------------------------------------------------------------


class Login(_Api):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=4096)


class LoggedIn(_Api):
    username: str


class SessionState(_Api):
    authenticated: bool
    username: str | None
    source: Literal["session", "basic", "service", "anonymous"] | None = None


# -- events ----------------------------------------------------------------------------


class EventsAccepted(_Api):
    accepted: int = Field(description="Events understood.")
    repositories: list[str] = Field(description="Repositories whose cached lists were dropped.")
