"""What the lifespan builds: one httpx.AsyncClient, the caches and the services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from gateway import __version__
from gateway.activity import Activity
from gateway.datastore import StoreUnavailable
from gateway.layers.engine import LayerEngine
from gateway.layers.indexer import Limits
from gateway.layers.store import IndexStore
from gateway.registry import allocator
from gateway.registry.aiohttp_transport import API_READ_BYTES, TRANSFER_READ_BYTES, AiohttpTransport
from gateway.registry.auth import TokenCache
from gateway.registry.client import RegistryClient
from gateway.registry.client_cookies import keep_cookies_lean
from gateway.registry.credentials import Caller, Credentials
from gateway.registry.realm_policy import RealmPolicy
from gateway.search import SearchIndex
from gateway.services.activity import ActivityService
from gateway.services.answers import AnswerCache
from gateway.services.blobs import BlobService
from gateway.services.bulk_delete import BulkDeleteService
from gateway.services.deletes import DeleteService
from gateway.services.images import ImageService
from gateway.services.last_changed import LastChanged
from gateway.services.layer_files import LayerFiles
from gateway.services.logins import Logins
from gateway.services.referrers import ReferrerService
from gateway.services.repositories import RepositoryService
from gateway.services.retention import RetentionService
from gateway.services.retention_plans import PlanStore
from gateway.services.search import SearchService
from gateway.services.search_events import SearchEvents
from gateway.services.search_reads import SearchReads
from gateway.services.search_walk import SearchWalker
from gateway.services.status import RegistryStatus
from gateway.services.tags import TagService
from gateway.services.usage import UsageService
from gateway.services.v2_proxy import V2Proxy
from gateway.sessions import Sessions, SessionStore
from gateway.settings import Settings
from gateway.shared_state.caches import SharedCaches
from gateway.shared_state.keys import Sealer
from gateway.shared_state.sessions import SharedSessions
from gateway.shared_state.store import RedisStore
from gateway.shared_state.tokens import SharedTokens
from gateway.telemetry import Metrics
from gateway.view import CachedRegistry
from gateway.view.disk import DiskContent
from gateway.view.tag_index import TagIndex

log = logging.getLogger(__name__)

# How long a digest is known to belong to a repository (unless a notification says more).
MEMBERSHIP_TTL = 600.0


@dataclass
class AppState:
    settings: Settings
    http: httpx.AsyncClient
    client: RegistryClient
    registry: CachedRegistry
    images: ImageService
    tags: TagService
    repositories: RepositoryService
    last_changed: LastChanged
    deletes: DeleteService
    v2: V2Proxy
    blobs: BlobService
    answers: AnswerCache
    logins: Logins
    sessions: Sessions
    status: RegistryStatus
    service_account: Caller | None
    metrics: Metrics
    referrers: ReferrerService
    usage: UsageService
    bulk_deletes: BulkDeleteService
    retention: RetentionService
    files: LayerFiles
    activity: ActivityService
    shared: RedisStore | None = None  # LR_REDIS_URL: state shared with other replicas
    shared_caches: SharedCaches | None = None
    disk: DiskContent | None = None  # content on disk, per replica (LR_DISK_CACHE_BYTES)
    search: SearchService | None = None  # the registry-wide search (LR_DATA_DIR/search.sqlite3)
    search_walker: SearchWalker | None = None
    search_events: SearchEvents | None = None

    def start(self) -> None:
        """What runs in the background for the app's life (on its event loop)."""
        self.registry.start()  # with Redis: other replicas' changes
        if self.search_walker is not None:
            self.search_walker.start()  # with a service account: the registry's walk

    async def aclose(self) -> None:
        self.metrics.source = None
        await self.registry.aclose()  # background refreshes and tag index fills, before http
        await self.usage.aclose()  # background usage walks, before http
        await self.files.engine.aclose()  # layer reads stopped (nothing kept), store closed
        if self.search_walker is not None:
            await self.search_walker.aclose()  # walks and notification reads, before http
        if self.search is not None and self.search.index is not None:
            await self.search.index.aclose()
        await self.status.aclose()
        await self.activity.aclose()  # records being written, before Redis closes
        try:
            await self.http.aclose()
            if self.disk is not None:
                await self.disk.aclose()  # what is queued is written first
        finally:
            if self.client.downloads is not self.http:
                await self.client.downloads.aclose()
            if self.shared_caches is not None:
                await self.shared_caches.bus.aclose()
            if self.shared is not None:
                await self.shared.aclose()


def build_http(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    transfers: bool = False,
) -> httpx.AsyncClient:
    """An upstream client over aiohttp's connections (``gateway.registry.aiohttp_transport``),
    or over ``transport`` when given (a test's MockTransport). ``transfers``: the pool of
    blobs up and down (``LR_POOL_MAX_DOWNLOADS`` connections, larger reads); else the
    API pool (``LR_POOL_MAX_CONNECTIONS``)."""
    allocator.tune()
    connections = settings.pool_max_downloads if transfers else settings.pool_max_connections
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=min(settings.pool_max_keepalive, connections),
    )
    if transport is None:
        read_bytes = TRANSFER_READ_BYTES if transfers else API_READ_BYTES
        transport = AiohttpTransport(limits=limits, read_bytes=read_bytes)
    client = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(
            settings.read_timeout, connect=settings.connect_timeout, pool=settings.read_timeout
        ),
        limits=limits,
        headers={"User-Agent": f"light-registry/{__version__}"},
        follow_redirects=False,
        trust_env=False,
    )
    return keep_cookies_lean(client)


def build_state(
    settings: Settings,
    http: httpx.AsyncClient | None = None,
    metrics: Metrics | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AppState:
    """Everything the app needs. An ``http`` given (tests) serves downloads too; a
    ``transport`` given (tests: a MockTransport playing the registry) carries both
    clients. ``metrics`` is the app's (made by ``create_app``, which makes this state the
    source of its families collected at scrape time: ``gateway.state_metrics``)."""
    metrics = metrics or Metrics()
    shared, sealer = _shared_state(settings)
    caches = tokens = None
    if shared is not None and sealer is not None:
        caches = SharedCaches(
            shared,
            sealer,
            ttl=settings.cache_ttl,
            access_ttl=settings.access_ttl,
            membership_ttl=MEMBERSHIP_TTL,
        )
        tokens = SharedTokens(shared, sealer, caches.caller_name)
    downloads = None if http else build_http(settings, transport, transfers=True)
    http = http or build_http(settings, transport)
    client = RegistryClient(
        http,
        settings.registry_url,
        concurrency=settings.upstream_concurrency,
        page_size=settings.catalog_page_size,
        tokens=TokenCache(shared=tokens),
        policy=RealmPolicy(settings.registry_url, settings.token_realm_allowlist),
        overall_timeout=settings.read_timeout * 2,
        downloads=downloads,
        metrics=metrics,
    )
    disk = DiskContent.open(settings.data_dir, settings.disk_cache_bytes)
    registry = CachedRegistry(
        client,
        content_bytes=settings.content_cache_bytes,
        model_bytes=settings.model_cache_bytes,
        ttl=settings.cache_ttl,
        access_ttl=settings.access_ttl,
        membership_ttl=MEMBERSHIP_TTL,
        max_config_bytes=settings.max_config_bytes,
        # Background fills of large repositories' tag index: a quarter of the upstream
        # slots at most, so interactive requests always have the rest.
        tag_index=TagIndex(
            min_tags=settings.tag_index_min_tags,
            ttl=settings.tag_index_ttl,
            concurrency=max(1, settings.upstream_concurrency // 4),
        ),
        shared=caches,
        disk=disk,
        stale_ttl=settings.stale_ttl,
        # Refreshes of what was served stale: a quarter of the upstream slots at most.
        refresh_concurrency=max(1, settings.upstream_concurrency // 4),
    )
    images = ImageService(registry)
    referrers = ReferrerService(registry, images)
    images.referrer_counts = referrers.counts_in
    sessions: Sessions = SessionStore(
        settings.session_idle_seconds, settings.session_max_seconds, settings.session_max_count
    )
    if shared is not None and sealer is not None:
        sessions = SharedSessions(
            shared, sealer, settings.session_idle_seconds, settings.session_max_seconds
        )
    service_account = None
    if settings.registry_username and settings.registry_password is not None:
        creds = Credentials(
            settings.registry_username, settings.registry_password.get_secret_value()
        )
        service_account = Caller(creds, "service")
    deletes = DeleteService(registry, images, settings.delete_enabled, referrers)
    usage = UsageService(
        registry,
        ttl=settings.cache_ttl,
        concurrency=settings.upstream_concurrency,
        walk_concurrency=max(1, settings.upstream_concurrency // 4),
    )
    bulk_deletes = BulkDeleteService(registry, deletes)
    last_changed = LastChanged(registry)  # a subscriber of the view
    # Layer file indexes on disk, per replica (derived data): LR_DATA_DIR/layers.sqlite3.
    engine = LayerEngine(
        IndexStore.open(settings.data_dir, settings.layer_index_bytes),
        Limits(settings.layer_max_bytes, settings.layer_max_expanded_bytes),
        settings.layer_index_concurrency,
    )
    answers = AnswerCache(registry, ttl=settings.cache_ttl, access_ttl=settings.access_ttl)
    # The activity log: SQLite under LR_DATA_DIR, or Redis; never stops the start.
    activity = ActivityService(Activity.open(settings, shared=shared), registry)
    # Every upstream request names the gateway and its store (origin), and the request
    # it is made for: the registry's events for them are told from a client's.
    client.transport.user_agent = lambda request_id: activity.activity.user_agent(
        __version__, request_id
    )
    images.marker = activity.marks_of
    tags = TagService(registry, images, referrers)
    tags.marker = activity.marks_of
    state = AppState(
        settings=settings,
        http=http,
        client=client,
        registry=registry,
        images=images,
        tags=tags,
        repositories=RepositoryService(registry, usage=usage, last_changed=last_changed),
        last_changed=last_changed,
        deletes=deletes,
        v2=V2Proxy(
            registry,
            deletes_enabled=settings.delete_enabled,
            push_enabled=settings.v2_mode == "push",
            referrers=referrers,
        ),
        blobs=BlobService(registry, metrics, settings.blob_offload_secret),
        answers=answers,
        logins=Logins(client),
        sessions=sessions,
        status=RegistryStatus(client, timeout=settings.connect_timeout),
        service_account=service_account,
        metrics=metrics,
        usage=usage,
        bulk_deletes=bulk_deletes,
        retention=RetentionService(
            registry, images, usage, deletes, bulk_deletes, PlanStore(shared, sealer)
        ),
        referrers=referrers,
        files=LayerFiles(registry, engine),
        activity=activity,
        shared=shared,
        shared_caches=caches,
        disk=disk,
    )
    state.retention.pulled_within = activity.activity.pulled_within
    state.repositories.changed = activity.activity.changed
    usage.stored = state.answers.stale  # a row's size is shown: a kept page ends
    _build_search(state)
    return state


def _build_search(state: AppState) -> None:
    """The search index, its walker and its subscriber. An index that cannot be opened
    (disk full, permissions) leaves search answering 503 and everything else working."""
    settings = state.settings
    try:
        index = SearchIndex.from_settings(settings)
    except StoreUnavailable as exc:
        log.error("the search index could not be opened: %s", exc)
        state.search = SearchService(state.registry, None, None, concurrency=1)
        return
    # Outside request deadlines, a quarter of the upstream slots at most.
    quarter = max(1, settings.upstream_concurrency // 4)
    reads = SearchReads(state.registry, state.referrers, index, concurrency=quarter)
    walker = SearchWalker(
        state.registry,
        index,
        reads,
        service_account=state.service_account,
        concurrency=quarter,
        ttl=settings.search_index_ttl,
    )
    state.search_walker = walker
    state.search_events = SearchEvents(state.registry, index, reads, walker, state.service_account)
    state.search = SearchService(
        state.registry, index, walker, concurrency=settings.upstream_concurrency
    )


def _shared_state(settings: Settings) -> tuple[RedisStore | None, Sealer | None]:
    """The Redis store and the sealer when ``LR_REDIS_URL`` is set, else (None, None)."""
    keys = settings.secret_keys
    if settings.redis_url is None or keys is None:
        return None, None
    password = settings.redis_password
    store = RedisStore(
        settings.redis_url.get_secret_value(),
        timeout=settings.redis_timeout,
        pool_size=settings.redis_pool_size,
        password=None if password is None else password.get_secret_value(),
    )
    return store, Sealer(*keys)
