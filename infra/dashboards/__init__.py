"""Grafana dashboards as code (grafana-foundation-sdk), from the same metric catalogue the alerts use."""

from infra.dashboards.build import DASHBOARDS, dashboards, panel_queries

__all__ = ["DASHBOARDS", "dashboards", "panel_queries"]
