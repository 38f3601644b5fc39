"""The gateway's components, wired from settings, and their lifecycle (start in the ASGI lifespan)."""

from __future__ import annotations

import asyncio
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
from runtime.observability.metrics import BUILD_INFO
from runtime.security.envelope import Envelope, kms_client
from runtime.security.mfa import MfaManager
from runtime.security.ratelimit import RateLimiter
from runtime.service.auth import Authenticator
from runtime.service.bootstrap import bootstrap
from runtime.service.cdn import EdgeCachedOnly, Purger, purger_for
from runtime.service.content import ContentService
from runtime.service.errors import ConfigError
from runtime.service.faults import FaultConfig
from runtime.service.leases import LeasedLimiter
from runtime.service.origin import ContentOrigin, EncryptedObjectStore
from runtime.service.settings import GatewaySettings
from runtime.service.tokens import TokenSigner
from runtime.storage import ObjectStore, StorageError
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
    analytics: RealtimeAnalytics
    events: BoundedQueue[PlaybackEvent]
    processor: StreamProcessor[PlaybackEvent]
    metrics_view: LabelledRegistry
    catalog: CatalogService | None = None  # the content catalog (PostgreSQL), when enabled
    log: logging.Logger = log
    warmed: bool = False
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
            faults=FaultConfig(f.error_rate, f.latency_seconds, f.latency_rate),
            tracing=tracing,
            profiler=CpuProfiler(
                max_seconds=settings.profiling.max_seconds, interval=settings.profiling.interval_seconds
            ),
            analytics=analytics,
            events=events,
            processor=processor,
            metrics_view=LabelledRegistry(labels),
            catalog=catalog,
        )

    async def start(self) -> None:
        if self.settings.storage.create_bucket:
            stores = [self.store] + ([self.l3_store] if self.l3_store is not None else [])
            await bootstrap(stores, self.kms, self.settings.security.encryption.kms_key_id)
        BUILD_INFO.set(1)
        ANALYTICS_COLLECTOR.attach(
            self.analytics,
            queue_depth=lambda: len(self.events),
            oldest_age=self.events.oldest_age,
            top=self.settings.events.metric_top_contents,
        )
        self.processor.start()
        if self.catalog is not None:
            await self.catalog.db.start()
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
        self._started = False
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

    async def readiness(self) -> dict[str, bool]:
        async def redis_ok() -> bool:
            try:
                async with asyncio.timeout(0.5):
                    return bool(await self.redis.ping())
            except Exception:
                return False

        async def store_ok() -> bool:
            try:
                async with asyncio.timeout(2.0):
                    async for _ in self.store.list("", page_size=1):
                        break
                return True
            except (StorageError, TimeoutError):
                return False

        redis_up, store_up = await asyncio.gather(redis_ok(), store_ok())
        return {"redis": redis_up, "object_store": store_up, "warmed": self.warmed}


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
