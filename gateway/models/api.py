"""What the SPA receives. The OpenAPI document in ``openapi/`` is generated from these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.models.search import SearchStatus

if TYPE_CHECKING:
    from gateway.errors import GatewayError


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Api):
    """What went wrong: a code to branch on, a message to show, details to help."""

    code: str = Field(
        examples=["MANIFEST_UNKNOWN"],
        description="What went wrong, to branch on. The registry's own code where the "
        "cause is the registry (NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN, DENIED, "
        "UNAUTHORIZED, TOOMANYREQUESTS, NAME_INVALID, TAG_INVALID, DIGEST_INVALID, …), "
        "the gateway's otherwise (VALIDATION_ERROR, NOT_FOUND, UPSTREAM_UNAVAILABLE, "
        "UPSTREAM_TIMEOUT, UPSTREAM_INVALID, REALM_NOT_ALLOWED, DELETE_DISABLED, "
        "CSRF_FAILED, PAYLOAD_TOO_LARGE). Each operation's error responses list the codes "
        "it can carry.",
    )
    message: str = Field(
        description="A human-readable explanation in English, for display and logs; do "
        "not match on it (use code)."
    )
    detail: Any = Field(
        default=None,
        description="Structured context, or null. VALIDATION_ERROR: a list of {loc, msg, "
        'type}; an ended session (401): {"session": "expired"}; a multi-platform index '
        "without a platform: {platforms, choices}; NAME_INVALID/TAG_INVALID/"
        "DIGEST_INVALID: the value refused; upstream failures: e.g. {upstream_status}.",
    )

    @classmethod
    def of(cls, exc: GatewayError) -> ErrorBody:
        """The error of one row of an answer (the whole answer's is the envelope)."""
        return cls(code=exc.code, message=exc.message, detail=exc.detail)


class ErrorResponse(_Api):
    """The body of every non-2xx answer under /api."""

    error: ErrorBody = Field(description="The error: the same envelope on every failure.")


# -- health ----------------------------------------------------------------------------


class RegistryStatus(_Api):
    """The registry as the gateway last saw it (one GET /v2/)."""

    url: str = Field(description="The registry's base URL as configured, without credentials.")
    reachable: bool = Field(
        description="Whether GET /v2/ answered 200 or 401 (a 401 still proves it is alive)."
    )
    status_code: int | None = Field(
        description="The HTTP status of GET /v2/; null when no answer came (refused, timed out)."
    )
    api_version: str | None = Field(
        description="The registry's Docker-Distribution-Api-Version header (e.g. "
        "registry/2.0); null if it sent none."
    )
    auth: Literal["none", "basic", "bearer"] = Field(
        description="What the registry's challenge asks for: none (open), basic (htpasswd) "
        "or bearer (a token server)."
    )
    latency_ms: float = Field(description="How long GET /v2/ took, in milliseconds.")


class SharedStoreStatus(_Api):
    """Redis as the gateway last saw it (one PING, within LR_REDIS_TIMEOUT)."""

    reachable: bool = Field(description="Whether PING answered in time.")
    latency_ms: float | None = Field(
        description="How long PING took, in milliseconds; null when it did not answer."
    )


class LayerIndexStatus(_Api):
    """The layer indexes kept on disk (files inside images), as last read."""

    available: bool = Field(description="Whether the index store answered a read.")
    disk_bytes: int = Field(description="Bytes of its database file on disk.")


class ActivityStoreStatus(_Api):
    """The activity log's store (docs/activity.md)."""

    store: Literal["sqlite", "redis"] | None = Field(
        description="sqlite (LR_DATA_DIR) or redis (LR_REDIS_URL); null while a store that "
        "could not be opened at start is tried again."
    )
    healthy: bool = Field(description="Whether the last write and the last read worked.")
    error: str | None = Field(description="What the last failed call met; null when healthy.")
    records: int = Field(description="Records in the feed, as last counted.")


class Health(_Api):
    """Whether the gateway can reach its registry."""

    status: Literal["ok", "unavailable"] = Field(
        description="ok in a 200 answer. When the registry does not answer, the answer is "
        "503 with the error envelope, and its detail is this body with status unavailable."
    )
    version: str = Field(description="The gateway's version.")
    registry: RegistryStatus = Field(description="The registry's answer to GET /v2/.")
    redis: SharedStoreStatus | None = Field(
        default=None,
        description="The Redis that replicas share state through (LR_REDIS_URL); null "
        "without one. Its state does not change the status: reads go on without it.",
    )
    layer_index: LayerIndexStatus | None = Field(
        default=None,
        description="The layer indexes on disk (files inside images). Its state does not "
        "change the status: only the files routes depend on it.",
    )
    activity: ActivityStoreStatus | None = Field(
        default=None,
        description="The activity log's store. Its state does not change the status: reads "
        "and notifications go on without it (records are lost meanwhile).",
    )
    search: SearchStatus | None = Field(
        default=None, description="This replica's search index (docs/search.md)."
    )


class Liveness(_Api):
    """The process serves requests (the registry is not asked)."""

    status: Literal["ok"] = Field(description="Always ok: an answer at all is the signal.")
    version: str = Field(description="The gateway's version.")


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
    pull_host: str | None = Field(
        description="host[:port] for copyable commands: docker pull {pull_host}/{name}:{tag}. "
        "LR_PULL_HOST when set; otherwise null while the gateway serves the registry's v2 "
        "API (features.v2 is not off): pulls then go through the gateway, so show the host "
        "the page was loaded from; and the registry URL's host[:port] when it does not.",
        examples=["registry.example.com:5000", None],
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
    """One repository of the catalog, with its tag count."""

    name: str = Field(description="The full repository name; may contain / (library/nginx).")
    tag_count: int | None = Field(
        description="Number of tags: 0 for a repository with none (all deleted, or pushed "
        "by digest only); null when they could not be counted (see error)."
    )
    error: ErrorBody | None = Field(
        default=None,
        description="Why the tags could not be counted (e.g. DENIED for a repository this "
        "caller may not read, UPSTREAM_* for a registry failure); null otherwise. The row "
        "is listed all the same.",
    )
    bytes: int | None = Field(
        default=None,
        description="The repository's size by the usage rule (every distinct blob and "
        "manifest its tags reach, counted once; as total_bytes of .../usage) when this "
        "caller's figures are known already; null until then (never read for this page).",
    )
    last_changed: str | None = Field(
        default=None,
        description="Its newest known push or tag change, RFC 3339 in UTC: when a registry "
        "notification about it arrived, or a write through the gateway changed it; null "
        "while none is known (never read from the registry for this page).",
    )


class RepositoryPage(_Api):
    """One page of the catalog, filtered by q over all of it, sorted by name."""

    repositories: list[RepositorySummary] = Field(
        description="This page's repositories, sorted by name."
    )
    total: int = Field(
        description="Repositories matching q in the whole catalog (all pages, not this one)."
    )
    next: str | None = Field(
        description="Cursor of the next page: pass it as last to get the page after this "
        "one (exclusive: it is this page's last name); null on the last page."
    )


# -- images ----------------------------------------------------------------------------


class Platform(_Api):
    """Where an image runs, as in an OCI index entry or an image config."""

    os: str = Field(
        description="Operating system, e.g. linux or windows (unknown for attestations)."
    )
    architecture: str = Field(description="CPU architecture, e.g. amd64, arm64, arm, s390x.")
    variant: str | None = Field(
        default=None, description="CPU variant, e.g. v8 (arm64) or v7 (arm); null if none."
    )
    os_version: str | None = Field(
        default=None,
        description="Operating system version, set by Windows images (e.g. 10.0.20348.2340); "
        "null if none.",
    )
    os_features: list[str] | None = Field(
        default=None, description="Operating system features the image needs; null if none."
    )


class Layer(_Api):
    """One layer blob of an image manifest."""

    digest: str = Field(
        description="The layer blob's digest (sha256:…); GET …/blobs/{digest} downloads it."
    )
    media_type: str = Field(
        description="The layer's media type, e.g. application/vnd.oci.image.layer.v1.tar+gzip."
    )
    size: int = Field(description="Compressed size in bytes, as stored (from the manifest).")
    urls: list[str] | None = Field(
        default=None, description="Foreign layer locations (never fetched by the gateway)."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="The layer descriptor's annotations; {} if none."
    )


class PlatformImage(_Api):
    """One runnable image: a single image, or one child of an index."""

    platform: Platform = Field(
        description="Where it runs: from the index entry for a child of an index, from the "
        "config blob for a single image."
    )
    digest: str = Field(description="The image manifest's digest.")
    media_type: str = Field(description="The image manifest's media type (OCI or Docker schema 2).")
    size: int = Field(
        description="Manifest bytes + config size + sum of layer sizes (compressed, as "
        "stored). For a child that could not be read (error set), the size its index "
        "entry declares."
    )
    config_digest: str | None = Field(
        description="The config blob's digest; null when the child could not be read."
    )
    config_media_type: str | None = Field(
        default=None,
        description="The config blob's media type (an artifact's own type for Helm charts, "
        "signatures…); null when unknown.",
    )
    artifact_type: str | None = Field(
        default=None, description="Set for non-image artifacts (Helm charts, signatures…)."
    )
    created: str | None = Field(
        description="When the image was built: its config's created, RFC 3339 in UTC; null "
        "when absent, unparseable or zero, and for artifacts."
    )
    layers: list[Layer] = Field(
        description="The layers, base first; [] when the child could not be read."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="The image manifest's annotations (the index entry's for a child that "
        "could not be read); {} if none.",
    )
    error: ErrorBody | None = Field(
        default=None,
        description="Set when this child could not be read (e.g. MANIFEST_UNKNOWN for a "
        "child the registry does not hold, UPSTREAM_INVALID for a malformed one); the other "
        "children are still shown. null otherwise.",
    )


class Attestation(_Api):
    """A buildx attestation manifest (provenance, SBOM) of an index: never a platform."""

    digest: str = Field(description="The attestation manifest's digest.")
    for_digest: str | None = Field(
        description="Digest of the platform image it attests (its index entry's "
        "vnd.docker.reference.digest annotation); null if the entry names none."
    )
    media_type: str = Field(description="The attestation manifest's media type.")
    size: int = Field(
        description="Its whole size by the image rule: manifest bytes + config + layers."
    )
    predicate_types: list[str] = Field(
        default_factory=list,
        description="The in-toto predicate types of its layers (SLSA provenance, SPDX "
        "SBOM…), sorted; [] if none are named.",
    )
    error: ErrorBody | None = Field(
        default=None, description="Set when the attestation could not be read; else null."
    )


class ChartMetadata(_Api):
    """What a Helm chart's config (its Chart.yaml) says of it."""

    name: str | None = Field(description="The chart's name; null if its config has none.")
    version: str | None = Field(description="The chart's version (SemVer); null if none.")
    app_version: str | None = Field(
        description="The version of the application it deploys (appVersion); null if none."
    )
    description: str | None = Field(description="Its one-line description; null if none.")


# The activity marks an image detail and a tag row both carry (docs/activity.md).


def _last_pulled() -> Any:
    return Field(
        default=None,
        description="The latest pull of its digest (by any tag or by the digest), RFC 3339 in "
        "UTC, from the activity log; null when none is recorded, when the digest is not known "
        "(details=false) or while the activity store cannot be read.",
    )


def _last_pulled_by() -> Any:
    return Field(
        default=None, description="Who made that pull (the registry's user); null if anonymous."
    )


def _last_pushed_by() -> Any:
    return Field(default=None, description="Who made that push; null if anonymous.")


class ImageDetail(_Api):
    """A tag or digest resolved: every platform image, attestations, sizes and tags."""

    repository: str = Field(description="The repository name.")
    reference: str = Field(description="The tag or digest as given in the path.")
    digest: str = Field(description="Digest of the manifest or index the reference names.")
    media_type: str = Field(
        description="Its media type: an OCI or Docker image manifest, an OCI index or a "
        "Docker manifest list."
    )
    kind: Literal["image", "index"] = Field(
        description="image for a single image manifest; index for an OCI index or Docker "
        "manifest list (a multi-platform image)."
    )
    size: int = Field(
        description="Bytes stored in the registry. An image: manifest bytes + config size + "
        "layer sizes (compressed). An index: index bytes + the same sum over every child, "
        "platform images and attestations alike (a layer shared by two children counts in "
        "each)."
    )
    annotations: dict[str, str] = Field(
        description="The manifest's (or index's) top-level annotations; {} if none."
    )
    artifact_type: str | None = Field(
        default=None,
        description="Set for non-image artifacts (Helm charts, signatures…): the manifest's "
        "artifactType, else its config media type; null for images.",
    )
    tags: list[str] = Field(
        description="The tags of this repository whose digest equals digest (other tags on "
        "the same image included), sorted by name."
    )
    tags_complete: bool = Field(
        description="Whether tags names every such tag. Always true for a repository of up "
        "to LR_TAG_INDEX_MIN_TAGS tags. A larger one answers from the tags whose digest is "
        "known already and reads the others in the background: false until then (tags "
        "lists those found so far); ask again a little later for the whole list."
    )
    platforms: list[PlatformImage] = Field(
        description="The images: one entry for kind image; for an index, one per child "
        "except attestations, in index order."
    )
    attestations: list[Attestation] = Field(
        description="Attestation manifests of an index (platform unknown/unknown, annotation "
        "vnd.docker.reference.type: attestation-manifest); [] for a single image."
    )
    referrers: dict[str, int] = Field(
        default_factory=dict,
        description="Artifacts that refer to this digest (signatures, SBOMs, attestations; "
        'see .../referrers), counted by kind, e.g. {"signature": 1, "sbom": 1}; {} if '
        "none.",
    )
    chart: ChartMetadata | None = Field(
        default=None,
        description="For a Helm chart (config media type "
        "application/vnd.cncf.helm.config.v1+json): its name, version, appVersion and "
        "description, from its config. null for anything else.",
    )
    last_pulled: str | None = _last_pulled()
    last_pulled_by: str | None = _last_pulled_by()
    last_pushed: str | None = Field(
        default=None,
        description="The latest push of the tag named by reference (null for a digest) "
        "recorded by the activity log, RFC 3339 in UTC; null when none is recorded.",
    )
    last_pushed_by: str | None = _last_pushed_by()


# -- tags ------------------------------------------------------------------------------

_WITHOUT_DETAILS = "null without details=true (and when the tag could not be read: see error)"


class TagInfo(_Api):
    """One tag; every field but name is filled only with details=true."""

    name: str = Field(description="The tag.")
    digest: str | None = Field(
        default=None, description=f"The digest the tag points at; {_WITHOUT_DETAILS}."
    )
    media_type: str | None = Field(
        default=None, description=f"Media type of the manifest or index; {_WITHOUT_DETAILS}."
    )
    kind: Literal["image", "index"] | None = Field(
        default=None,
        description=f"image (one manifest) or index (multi-platform); {_WITHOUT_DETAILS}.",
    )
    platforms: list[str] | None = Field(
        default=None,
        description="os/architecture[/variant] of each runnable image, e.g. linux/arm64/v8 "
        f"(attestations are not platforms); {_WITHOUT_DETAILS}.",
    )
    size: int | None = Field(
        default=None,
        description="As in the image detail: manifest + config + compressed layers; for an "
        f"index, index bytes + every child's; {_WITHOUT_DETAILS}.",
    )
    created: str | None = Field(
        default=None,
        description="The newest created of its platform configs, RFC 3339 in UTC; null also "
        f"when no config has a date; {_WITHOUT_DETAILS}.",
    )
    artifact_type: str | None = Field(
        default=None,
        description="Set for non-image artifacts (Helm charts, signatures…); null for images.",
    )
    error: ErrorBody | None = Field(
        default=None,
        description="Set when details were asked for but could not be read (e.g. "
        "MANIFEST_UNKNOWN for a tag deleted meanwhile); the other rows are unaffected.",
    )
    referrers: dict[str, int] | None = Field(
        default=None,
        description="Artifacts that refer to its digest, counted by kind as in the image "
        f"detail ({{}} if none); {_WITHOUT_DETAILS}.",
    )
    last_pulled: str | None = _last_pulled()
    last_pulled_by: str | None = _last_pulled_by()
    last_pushed: str | None = Field(
        default=None,
        description="The latest push of this tag recorded by the activity log, RFC 3339 in UTC; "
        "null when none is recorded.",
    )
    last_pushed_by: str | None = _last_pushed_by()


class TagPage(_Api):
    """One page of a repository's tags, filtered by q, in the order sort names."""

    repository: str = Field(description="The repository name.")
    total: int = Field(description="Tags matching q (all pages, not just this one).")
    next: str | None = Field(
        description="Cursor of the next page: pass it as last (with the same sort and q); it "
        "is this page's last tag. null on the last page."
    )
    tags: list[TagInfo] = Field(
        description="This page's tags in sort order; only name is set unless details=true "
        "or sort is created/-created."
    )
    complete: bool = Field(
        description="Whether the order is final. Always true for the name and version "
        "orders, and for created/-created when at most LR_TAG_INDEX_MIN_TAGS tags match "
        "and every one could be read (a tag whose row carries an error has no date: it "
        "sorts as undated, and complete is false). "
        "With more, the created orders come from the tags whose date is known already "
        "(the others are read in the background): false until every matching tag is "
        "dated. Then the dated tags come first, in the order asked, and the others follow "
        "by name; the order can change from one page to the next. Ask again a little "
        "later for the complete order."
    )
    hidden: int = Field(
        default=0,
        description="Artifact tags matching q left out of this list (and of total): the "
        "referrers fallback tags sha256-<64 hex> and cosign's sha256-<64 hex>.sig/.att/.sbom; "
        "0 with include_artifacts=true, which lists them.",
    )


# -- config and history ----------------------------------------------------------------


class RunConfig(_Api):
    """What a container of this image starts with (the config's config section)."""

    user: str | None = Field(
        description="USER: name or uid[:gid] the process runs as; empty or null means root."
    )
    env: list[str] = Field(description="ENV, as KEY=value strings.")
    entrypoint: list[str] | None = Field(description="ENTRYPOINT (exec form); null if unset.")
    cmd: list[str] | None = Field(
        description="CMD: the command, or the entrypoint's default arguments; null if unset."
    )
    working_dir: str | None = Field(description="WORKDIR; empty or null means /.")
    exposed_ports: list[str] = Field(
        description="EXPOSE'd ports as port/protocol (e.g. 80/tcp), sorted."
    )
    volumes: list[str] = Field(description="VOLUME paths, sorted.")
    labels: dict[str, str] = Field(
        description="LABELs (e.g. org.opencontainers.image.source); {} if none."
    )
    stop_signal: str | None = Field(description="STOPSIGNAL (e.g. SIGQUIT); null if unset.")
    healthcheck: dict[str, Any] | None = Field(
        default=None,
        description="HEALTHCHECK as the config holds it (Test, Interval, Timeout… durations "
        "in nanoseconds); null if unset.",
    )
    shell: list[str] | None = Field(
        default=None, description="SHELL (mostly Windows images); null if unset."
    )


class HistoryLayer(_Api):
    """The layer one build step produced."""

    digest: str = Field(description="The layer blob's digest.")
    size: int = Field(description="Its compressed size in bytes.")
    media_type: str | None = Field(default=None, description="Its media type.")


class HistoryItem(_Api):
    """One build step of the image's history."""

    created: str | None = Field(description="When the step ran, RFC 3339 in UTC; null if unknown.")
    created_by: str | None = Field(
        description="The instruction, e.g. RUN apt-get install … or /bin/sh -c #(nop) CMD …"
    )
    author: str | None = Field(default=None, description="The step's author, if recorded.")
    comment: str | None = Field(description="The step's comment (e.g. buildkit.dockerfile.v0).")
    empty_layer: bool = Field(
        description="True for steps that changed only metadata (ENV, CMD, LABEL…): no layer."
    )
    layer: HistoryLayer | None = Field(
        description="The layer this step produced, matched in order to the manifest's "
        "layers; null for empty_layer steps."
    )


class ImageConfig(_Api):
    """One image's config blob and build history (one platform of an index)."""

    digest: str = Field(description="The config blob's digest.")
    media_type: str = Field(description="The config blob's media type.")
    manifest_digest: str = Field(
        description="Digest of the image manifest this config belongs to (the chosen "
        "platform's, for an index)."
    )
    created: str | None = Field(
        description="When the image was built, RFC 3339 in UTC; null when absent or zero."
    )
    author: str | None = Field(description="The image's author, if recorded.")
    os: str = Field(description="Operating system, e.g. linux.")
    architecture: str = Field(description="CPU architecture, e.g. arm64.")
    variant: str | None = Field(description="CPU variant, e.g. v8; null if none.")
    os_version: str | None = Field(
        default=None, description="Operating system version (Windows images); null if none."
    )
    config: RunConfig = Field(description="What a container of this image starts with.")
    history: list[HistoryItem] = Field(description="The build steps, oldest first.")
    layers: list[Layer] = Field(description="The manifest's layers, base first.")
    diff_ids: list[str] = Field(
        description="Digests of the uncompressed layer contents (rootfs.diff_ids), in layer "
        "order; not the layer blob digests, which are of the compressed blobs."
    )


# -- deletes ---------------------------------------------------------------------------


class ImageDeleted(_Api):
    """A manifest deleted, and with it every tag that pointed at it."""

    deleted: str = Field(description="The digest of the manifest deleted.")
    untagged: list[str] = Field(description="The tags that pointed at it, gone with it.")
    referrers_deleted: list[str] = Field(
        default_factory=list,
        description="With with_referrers=true: the digests of its referrers deleted with it "
        "(signatures, SBOMs, attestations, and the fallback index sha256-<hex>); else [].",
    )
    referrers_left: list[str] = Field(
        default_factory=list,
        description="Without with_referrers: the digests of its referrers left in the "
        "registry (delete them, or delete again with with_referrers=true); else [].",
    )


class TagDeleted(_Api):
    """One tag removed; other tags on the same digest remain."""

    untagged: list[str] = Field(description="The tag removed (a list of one).")
    method: Literal["native", "placeholder"] | None = Field(
        default=None,
        description="How: native (the registry deletes tags itself, distribution 3.x) or "
        "placeholder (2.x: the tag was moved to a tiny placeholder manifest, then that was "
        "deleted by digest).",
    )


# -- session ---------------------------------------------------------------------------


class Login(_Api):
    """Registry credentials, checked against the registry before a session is made."""

    username: str = Field(
        min_length=1,
        max_length=256,
        # Basic credentials end the user-id at the first colon (RFC 7617): "carol:pass"
        # with password "word" would log in as carol and show "carol:pass".
        pattern=r"^[^:\x00-\x1f\x7f]+$",
        description="The registry username: no colon (Basic credentials end the name at "
        "the first one) and no control characters.",
    )
    password: str = Field(
        min_length=1,
        max_length=4096,
        description="The registry password or token; kept server-side for the session, "
        "never sent back.",
    )


class LoggedIn(_Api):
    """A session was made (its id is in the HttpOnly cookie, not in the body)."""

    username: str = Field(description="Who is logged in.")


class SessionState(_Api):
    """Who the gateway serves this browser as."""

    authenticated: bool = Field(
        description="Whether a login session is active, or a Basic header the registry "
        "accepted was sent."
    )
    username: str | None = Field(description="Who; null when not authenticated.")
    source: Literal["session", "basic", "service", "anonymous"] | None = Field(
        default=None,
        description="Whose credentials the gateway uses: session (logged in), basic (this "
        "request's Authorization: Basic header), service (the configured service account) "
        "or anonymous.",
    )


# -- events ----------------------------------------------------------------------------


class EventTarget(BaseModel):
    """What an event is about (distribution's ``target``; other fields are allowed)."""

    model_config = ConfigDict(extra="allow")

    repository: str | None = Field(
        default=None,
        description="The repository the event is about; its cached lists are dropped.",
    )
    mediaType: str | None = Field(  # noqa: N815 - the registry's field name
        default=None, description="Media type of the manifest or blob."
    )
    digest: str | None = Field(default=None, description="Digest of the manifest or blob.")
    tag: str | None = Field(default=None, description="The tag pushed, when there was one.")


class RegistryEvent(BaseModel):
    """One notification event (other fields, such as id, timestamp, request, actor and
    source, are allowed and ignored)."""

    model_config = ConfigDict(extra="allow")

    action: str | None = Field(
        default=None,
        description="push, delete, mount, pull...; pull events change nothing, any other "
        "action on a valid repository name drops that repository's cached lists.",
    )
    target: EventTarget | None = Field(default=None, description="What the event is about.")


class EventEnvelope(BaseModel):
    """A registry notification envelope (``application/vnd.docker.distribution.events.v1+json``)."""

    model_config = ConfigDict(extra="allow")

    events: list[RegistryEvent] = Field(description="The events, in order.")


class EventsAccepted(_Api):
    """What a registry notification envelope changed."""

    accepted: int = Field(description="Events understood.")
    repositories: list[str] = Field(description="Repositories whose cached lists were dropped.")


# -- referrers -------------------------------------------------------------------------


class Referrer(_Api):
    """One artifact that refers to an image: a signature, an SBOM, an attestation…"""

    digest: str = Field(
        description="The artifact manifest's digest (for cosign's tags: the tag's manifest, "
        "one entry per layer, each layer being one signature or attestation)."
    )
    media_type: str = Field(description="The artifact manifest's media type.")
    artifact_type: str | None = Field(
        description="Its artifactType, else its config media type when that is not an image "
        "config; for cosign's tags the layer's media type."
    )
    kind: Literal["signature", "sbom", "attestation", "other"] = Field(
        description="signature (cosign, notation), sbom (SPDX, CycloneDX), attestation "
        "(in-toto), or other; for cosign's tags from the suffix (.sig, .sbom, .att)."
    )
    size: int = Field(
        description="Bytes stored: manifest + config + layers, as for an image (for a cosign "
        "layer: that layer's size)."
    )
    created: str | None = Field(
        description="The annotation org.opencontainers.image.created, else its config's "
        "created (RFC 3339 in UTC); null when neither says."
    )
    annotations: dict[str, str] = Field(
        description="Its annotations (for a cosign layer: the layer's, where the signature "
        "is); {} if none."
    )
    tag: str | None = Field(
        description="The tag it was found under (cosign's sha256-<hex>.sig/.att/.sbom); "
        "null for entries of the referrers API or of the fallback index."
    )


class ReferrerList(_Api):
    """Every artifact that refers to one digest, from where the registry keeps them."""

    subject: str = Field(description="The digest referred to (a child's, with platform).")
    source: Literal["api", "tag", "cosign", "mixed", "none"] = Field(
        description="Where they were found: api (the registry's referrers API), tag (the "
        "fallback index tagged sha256-<hex>), cosign (sha256-<hex>.sig/.att/.sbom tags), "
        "mixed (cosign tags and one of the others), none (nothing refers to it)."
    )
    referrers: list[Referrer] = Field(
        description="The referrers, filtered by artifact_type; in the order found."
    )
