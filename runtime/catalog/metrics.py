"""The catalog's Prometheus series (`streamgate_catalog_*`): pool waits, queries by target, replica lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

POOL_WAIT_SECONDS = Histogram(
    "streamgate_catalog_pool_wait_seconds",
    "Time a catalog query waited for a pooled connection",
    ["target"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5),
)
POOL_TIMEOUTS = Counter(
    "streamgate_catalog_pool_timeouts_total", "Catalog queries refused: no connection within the timeout"
)
QUERIES = Counter("streamgate_catalog_queries_total", "Catalog queries sent, by target", ["target"])
QUERY_ERRORS = Counter("streamgate_catalog_query_errors_total", "Catalog queries that failed or timed out")
REPLICA_LAG_SECONDS = Gauge(
    "streamgate_catalog_replica_lag_seconds", "Replay lag of the catalog replica (as last read)"
)
REPLICA_USABLE = Gauge("streamgate_catalog_replica_usable", "1 while reads may go to the replica")

for _target in ("primary", "replica"):
    QUERIES.labels(_target)
    POOL_WAIT_SECONDS.labels(_target)
