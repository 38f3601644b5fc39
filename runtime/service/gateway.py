"""The gateway's components, wired from settings, and their lifecycle (start in the ASGI lifespan)."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis

from runtime.analytics import PlaybackEvent, RealtimeAnalytics
from runtime.analytics.metrics import COLLECTOR as ANALYTICS_COLLECTOR
from runtime.analytics.metrics import EVENTS_LATE
from runtime.cache import CdnPurger, MultiLevelCache
from runtime.cache.record import Record
from runtime.connections import redis_client
from runtime.observability import CpuProfiler, LabelledRegistry, Tracing
from runtime.observability.continuous import ContinuousProfiler
from runtime.observability.debugging import ProbeControl
from runtime.observability.metrics import BUILD_INFO
from runtime.security.envelope import Envelope, kms_client
from runtime.security.mfa import MfaManager
from runtime.security.ratelimit import RateLimiter
from runtime.service.auth import Authenticator
from runtime.service.bootstrap import bootstrap
from runtime.service.cdn import EdgeCachedOnly, Purger, purger_for
from runtime.service.content import ContentService
from runtime.service.errors import ConfigError, TokenError
from runtime.service.faults import FaultConfig
from runtime.service.health import BackendMonitor, Probe
from runtime.service.leases import LeasedLimiter
from runtime.service.origin import ContentOrigin, EncryptedObjectStore
from runtime.service.settings import GatewaySettings
from runtime.service.tokens import TokenSigner
from runtime.storage import ObjectStore
from runtime.streaming import BoundedQueue, StreamProcessor

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from opentelemetry.sdk.trace.export import SpanExporter

    from runtime.catalog import CatalogService

log = logging.getLogger("runtime.service")


@dataclass
class Gateway:
    settings: GatewaySettings
    redis: aioredis.Redis
    store: ObjectStore
    l3_store: ObjectStore | None
    kms: KMSClient
    envelope: Envelope
    cache: MultiLevelCache
    purger: Purger | None
    content: ContentService
    limiter: RateLimiter
    leased: LeasedLimiter  # the limiter the requests go through (local leases for hot keys)
    mfa: MfaManager
    signer: TokenSigner
    auth: Authenticator
    faults: FaultConfig
    tracing: Tracing
    profiler: CpuProfiler
    continuous: ContinuousProfiler  # the always-on agent (pushes tagged profiles)
    probes: ProbeControl  # debug probes, armed across instances through Redis
    analytics: RealtimeAnalytics
    events: BoundedQueue[PlaybackEvent]
    processor: StreamProcessor[PlaybackEvent]
    metrics_view: LabelledRegistry
    monitor: BackendMonitor
    catalog: CatalogService | None = None  # the content catalog (PostgreSQL), when enabled
    log: logging.Logger = log
    warmed: bool = False
    stopping: bool = False
    _started: bool = field(default=False, repr=False)

    @classmethod
    def build(cls, settings: GatewaySettings, *, span_exporter: SpanExporter | None = None) -> Gateway:
        key = settings.auth.signing_key.get_secret_value().encode()
        if len(key) < 16:
            raise ConfigError("STREAMGATE_AUTH__SIGNING_KEY must be set (at least 16 bytes)")
        labels = {"version": settings.version, "color": settings.color, "region": settings.region}
        tracing = Tracing(
            settings.tracing,
            resource={
                "service.version": settings.version,
                "streamgate.color": settings.color,
                "cloud.region": settings.region,
            },
            exporter=span_exporter,
        )
        r = settings.redis
        redis = redis_client(
            r.url,
            password=r.password.get_secret_value() if r.password else None,
            max_connections=r.max_connections,
            pool_timeout=r.pool_timeout_seconds,
            socket_timeout=r.socket_timeout_seconds,
        )
        s = settings.storage
        kms = kms_client(settings.security.encryption)
        envelope = Envelope(settings.security.encryption, kms=kms)
        store = ObjectStore(
            s.bucket,
            prefix=s.prefix,
            endpoint_url=s.endpoint_url,
            region=s.region,
            max_pool_connections=s.max_pool_connections,
        )
        l3_store: ObjectStore | None = None
        if s.l3_enabled:
            l3_store = EncryptedObjectStore(
                s.l3_bucket or s.bucket,
                envelope=envelope,
                tenant=s.tenant,
                tracer=tracing.tracer,
                prefix=s.l3_prefix,
                endpoint_url=s.endpoint_url,
                region=s.region,
                max_pool_connections=s.max_pool_connections,
            )
        purger = purger_for(settings.cdn)
        cdn: CdnPurger | None = EdgeCachedOnly(purger) if purger is not None else None
        cache_settings = settings.cache
        if not cache_settings.l3_key_prefixes:  # L3 keeps content only, never the catalog's small answers
            cache_settings = cache_settings.model_copy(update={"l3_key_prefixes": ("v1/",)})
        cache = MultiLevelCache(redis, settings=cache_settings, store=l3_store, cdn=cdn)
        if tracing.enabled:
            _trace_l2(cache, tracing)
        origin = ContentOrigin(store, envelope, tenant=s.tenant, tracer=tracing.tracer)
        content = ContentService(
            cache, origin, settings.content, tracing.tracer, tracing_enabled=tracing.enabled
        )
        signer = TokenSigner(
            key,
            [k.get_secret_value().encode() for k in settings.auth.previous_signing_keys],
            max_ttl=settings.auth.max_token_ttl_seconds,
        )
        mfa = MfaManager(redis, settings.security.mfa, cipher=envelope)
        e = settings.events
        analytics = RealtimeAnalytics(
            tumbling_seconds=e.tumbling_window_seconds,
            sliding_seconds=e.sliding_window_seconds,
            sliding_step_seconds=e.sliding_step_seconds,
            max_contents=e.max_contents,
            keep_closed=e.closed_windows_kept,
        )
        events: BoundedQueue[PlaybackEvent] = BoundedQueue(e.queue_max_events)

        def handle(batch: Sequence[PlaybackEvent]) -> None:
            late = analytics.ingest(batch)
            if late:
                EVENTS_LATE.inc(late)

        processor = StreamProcessor(events, handle, tick=analytics.tick, tick_interval=1.0)
        f = settings.faults
        limiter = RateLimiter(redis, settings.security.rate_limit)
        catalog: CatalogService | None = None
        if settings.catalog.enabled:
            from runtime.catalog import CatalogService, Database

            catalog = CatalogService(
                Database(settings.catalog), cache, redis, settings.catalog, settings.region
            )
        lease = settings.security.rate_lease
        return cls(
            settings=settings,
            redis=redis,
            store=store,
            l3_store=l3_store,
            kms=kms,
            envelope=envelope,
            cache=cache,
            purger=purger,
            content=content,
            limiter=limiter,
            leased=LeasedLimiter(
                limiter,
                window_seconds=lease.window_seconds,
                max_tokens=lease.max_tokens,
                hot_after=lease.hot_after,
            ),
            mfa=mfa,
            signer=signer,
            auth=Authenticator(signer, mfa, settings.auth),
            faults=FaultConfig(f.error_rate, f.latency_seconds, f.latency_rate, f.cpu_seconds),
            tracing=tracing,
            profiler=CpuProfiler(
                max_seconds=settings.profiling.max_seconds, interval=settings.profiling.interval_seconds
            ),
            continuous=ContinuousProfiler(settings.profiling, labels),
            probes=ProbeControl(
                redis,
                retain_seconds=settings.debug.snapshot_retain_seconds,
                sync_seconds=settings.debug.sync_seconds,
            ),
            analytics=analytics,
            events=events,
            processor=processor,
            metrics_view=LabelledRegistry(labels),
            monitor=_monitor(settings, redis, store, cache, catalog),
            catalog=catalog,
        )

    async def start(self) -> None:
        if self.settings.storage.create_bucket:
            stores = [self.store] + ([self.l3_store] if self.l3_store is not None else [])
            await bootstrap(stores, self.kms, self.settings.security.encryption.kms_key_id)
        BUILD_INFO.set(1)
        self.continuous.start()  # here, in the worker: the agent's thread does not survive a fork
        self.probes.start()
        ANALYTICS_COLLECTOR.attach(
            self.analytics,
            queue_depth=lambda: len(self.events),
            oldest_age=self.events.oldest_age,
            top=self.settings.events.metric_top_contents,
        )
        self.processor.start()
        if self.catalog is not None:
            await self.catalog.db.start()
        self.monitor.start()
        self._started = True
        await self.cache.start()  # subscribes to invalidations and warms L1 from the shared top-K
        self.warmed = True
        # Everything built so far lives as long as the process: keep it out of every future GC scan, so
        # full collections (a tail-latency source under load) only walk what requests allocate.
        gc.freeze()
        if self.faults.active:
            log.warning("fault injection is ON: %s", self.faults.as_dict())
        log.info(
            "gateway %s (%s, %s) started", self.settings.version, self.settings.color, self.settings.region
        )

    def offer(self, events: Sequence[PlaybackEvent]) -> bool:
        return self.events.offer(events)

    async def stop(self) -> None:
        if not self._started:
            return
        self.stopping = True
        self._started = False
        self.continuous.stop()
        await self.probes.stop()
        await self.monitor.stop()
        await self.processor.stop(drain=True)
        ANALYTICS_COLLECTOR.detach(self.analytics)
        await self.cache.close()
        if self.catalog is not None:
            await self.catalog.db.close()
        await self.leased.aclose()
        await self.limiter.aclose()
        if self.purger is not None:
            await self.purger.aclose()
        await cast(Any, self.redis).aclose()  # the types-redis stubs predate aclose()
        self.store.close()
        if self.l3_store is not None:
            self.l3_store.close()
        self.tracing.shutdown()

    def debug_token(self, value: bytes) -> bool:
        """Whether an X-StreamGate-Debug value is a valid debug token (its request gets Server-Timing)."""
        try:
            return self.signer.verify(value.decode("latin-1").strip()).debug
        except TokenError:
            return False

    @property
    def ready(self) -> bool:
        """Can this pod serve? Started (L1 warmed when Redis allowed it) and not shutting down. Shared
        backends do not count: every pod shares them, and cached content keeps serving without them."""
        return self._started and self.warmed and not self.stopping

    @property
    def phase(self) -> str:
        if self.stopping:
            return "stopping"
        return "serving" if self.ready else "starting"


def _monitor(
    settings: GatewaySettings,
    redis: aioredis.Redis,
    store: ObjectStore,
    cache: MultiLevelCache,
    catalog: CatalogService | None,
) -> BackendMonitor:
    async def redis_up() -> object:
        return await redis.ping()

    async def store_up() -> object:
        async for _ in store.list("", page_size=1):
            break
        return None

    def invalidation() -> tuple[bool, str]:
        live = cache.invalidation_live
        return live, "confirmed live" if live else "not confirmed: L1 entries are served for a bounded time"

    probes: dict[str, Probe] = {"redis": redis_up, "object_store": store_up}
    if catalog is not None:  # the catalog's primary (its replica's state is the router's business)
        probes["catalog"] = catalog.db.ping
    h = settings.health
    return BackendMonitor(
        probes,
        checks={"cache_invalidation": invalidation},
        interval_seconds=h.interval_seconds,
        timeout_seconds=h.timeout_seconds,
    )


def _trace_l2(cache: MultiLevelCache, tracing: Tracing) -> None:
    """A span around each L2 lookup (the cache library has no tracing hook of its own)."""
    original = cache.l2.get
    tracer = tracing.tracer

    async def traced_get(key: str) -> Record | None:
        with tracer.start_as_current_span("cache.l2.get") as span:
            span.set_attribute("streamgate.cache.key", key)
            return await original(key)

    with contextlib.suppress(AttributeError):
        setattr(cache.l2, "get", traced_get)  # noqa: B010
