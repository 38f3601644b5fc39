"""Cache settings: a plain pydantic model with defaults, so the gateway can nest it in its own settings."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class CacheSettings(BaseModel):
    """Tier sizes, TTLs and the knobs of stampede control, invalidation and warming."""

    namespace: str = Field("sg", description="prefix of every Redis key and channel this cache uses")

    # L1: in-process, CLOCK eviction (an LRU approximation); when full, a value read from below evicts an
    # entry that is read only on its key's second miss (l1.py)
    l1_max_entries: int = Field(10_000, ge=0, description="0 disables L1")
    l1_max_bytes: int = Field(64 * 1024 * 1024, ge=0)
    l1_max_item_bytes: int = Field(1024 * 1024, ge=0, description="larger values skip L1")
    l1_ttl_seconds: float = Field(30.0, gt=0)
    l1_ttl_jitter: float = Field(0.1, ge=0, lt=1, description="L1 TTLs are shortened by up to this fraction")

    # L2: Redis
    l2_enabled: bool = True
    l2_ttl_seconds: float = Field(300.0, gt=0, description="default freshness of a value")
    l2_stale_seconds: float = Field(60.0, ge=0, description="how long past expiry L2 keeps a stale copy")
    l2_max_item_bytes: int = Field(1024 * 1024, ge=0, description="larger values skip L2")
    l2_batch_max_items: int = Field(256, ge=1)
    l2_batch_max_delay_seconds: float = Field(
        0.0,
        ge=0,
        description="how long lookups made while another is in flight wait for company (a lookup made with"
        " none in flight goes at once); 0: until the next loop iteration",
    )

    # L3: object store (used only when an ObjectStore is given)
    l3_write_through: bool = True
    l3_key_prefixes: tuple[str, ...] = Field(
        (), description="only keys with one of these prefixes use L3 (e.g. segments); empty = every key"
    )

    negative_ttl_seconds: float = Field(
        5.0, ge=0, description="how long a loader's None is cached; 0 = never"
    )
    xfetch_beta: float = Field(1.0, ge=0, description="early-refresh eagerness (XFetch); 0 disables it")

    # stampede control across instances
    lease_ttl_seconds: float = Field(5.0, gt=0)
    lease_wait_seconds: float = Field(2.0, ge=0, description="how long to wait for another instance's load")
    lease_poll_seconds: float = Field(0.01, gt=0)

    # circuit breaker in front of Redis
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_seconds: float = Field(2.0, gt=0)

    # invalidation broadcast
    pubsub_reconnect_min_seconds: float = Field(0.05, gt=0)
    pubsub_reconnect_max_seconds: float = Field(5.0, gt=0)
    pubsub_ping_seconds: float = Field(
        1.0,
        gt=0,
        description="P: the channel is PINGed every P and a reply missing for P means it is dead; L1 is "
        "trusted only within 2P of the last reply (staleness_bound_seconds)",
    )
    startup_wait_seconds: float = Field(
        5.0,
        ge=0,
        description="start() waits up to this long for the first subscription (it ends as soon as Redis "
        "confirms); past it the cache starts degraded, and the late first subscription drops L1",
    )
    dependency_ttl_seconds: float = Field(7 * 86400.0, gt=0, description="edges not re-added expire")

    # access statistics and warming
    stats_enabled: bool = True
    stats_sample_every: int = Field(64, ge=1, description="L1 hits are counted 1 in N (weighted by N)")
    stats_flush_seconds: float = Field(5.0, gt=0)
    stats_half_life_seconds: float = Field(3600.0, gt=0)
    stats_max_keys: int = Field(10_000, ge=1, description="size of the decaying top-K set in Redis")
    warm_top_n: int = Field(100, ge=0, description="0 disables warming")
    warm_interval_seconds: float = Field(300.0, gt=0)

    @property
    def staleness_bound_seconds(self) -> float:
        """How long after a change an instance can still serve the old value from L1, under any fault of
        its invalidation channel (see runtime/cache/invalidation.py): 2 x pubsub_ping_seconds."""
        return 2 * self.pubsub_ping_seconds

    @model_validator(mode="after")
    def _check(self) -> CacheSettings:
        if self.pubsub_reconnect_max_seconds < self.pubsub_reconnect_min_seconds:
            raise ValueError("pubsub_reconnect_max_seconds must be >= pubsub_reconnect_min_seconds")
        if self.stats_sample_every & (self.stats_sample_every - 1):
            raise ValueError("stats_sample_every must be a power of two")
        return self
