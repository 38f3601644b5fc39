"""Metrics the rules read that are not the runtime's: each exporter we deploy and the names it exports.

Redis names were read off Debian's prometheus-redis-exporter 1.45 scraping a redis-server 7.0 primary
and its replica (tests/alerts/test_metric_names.py does it again). kube-state-metrics runs in every
cluster (kube-prometheus-stack); the batch jobs (backup, rollout, scale) push to a Pushgateway.
"""

from __future__ import annotations

EXPORTER_METRICS: dict[str, frozenset[str]] = {
    "prometheus": frozenset({"up"}),
    "prometheus-redis-exporter": frozenset(
        {
            "redis_up",
            "redis_instance_info",
            "redis_connected_clients",
            "redis_net_output_bytes_total",
            # on a replica
            "redis_master_link_up",
            "redis_master_last_io_seconds_ago",
            "redis_master_sync_in_progress",
            "redis_slave_repl_offset",
            # on a primary
            "redis_connected_slaves",
            "redis_connected_slave_lag_seconds",
            "redis_connected_slave_offset_bytes",
            "redis_master_repl_offset",
        }
    ),
    "kube-state-metrics": frozenset(
        {
            "kube_horizontalpodautoscaler_status_current_replicas",
            "kube_horizontalpodautoscaler_status_desired_replicas",
            "kube_horizontalpodautoscaler_spec_max_replicas",
        }
    ),
    "pushgateway (streamgate batch jobs)": frozenset(
        {
            "streamgate_backup_last_success_timestamp_seconds",
            "streamgate_rollout_failed_checks",
            "streamgate_rollout_weight",
            "streamgate_rollout_phase",
            "streamgate_scale_forecast_error_ratio",
            "streamgate_scale_predictive_active",
            "streamgate_scale_last_run_timestamp_seconds",
        }
    ),
}


def exporter_of(metric: str) -> str | None:
    """The exporter that provides `metric`, or None."""
    return next((name for name, metrics in EXPORTER_METRICS.items() if metric in metrics), None)
