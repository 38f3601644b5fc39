"""Dashboards as code: generated from the alerts' metric catalogue, linked from every alert, shipped to
every cluster as ConfigMaps that kube-prometheus-stack's Grafana sidecar loads; Grafana and Pyroscope in
the stack, and the gateways' profiling agents pointed at Pyroscope."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from infra.alerts import rule_groups
from infra.alerts.exporters import exporter_of
from infra.alerts.render import DASHBOARD_UID
from infra.config import load_stack
from infra.dashboards import DASHBOARDS, dashboards, panel_queries
from infra.k8s.addons import DASHBOARD_LABEL, GRAFANA_ADMIN_SECRET, KUBE_PROMETHEUS_STACK, PYROSCOPE
from infra.k8s.base import PYROSCOPE_URL
from infra.plan import Plan
from tests.alerts.test_metric_names import metric_names, runtime_metric_names

PlanOf = Callable[[str], Plan]
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STACKS = ["local", "dev", "staging", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_panel_reads_metrics_that_exist(stack: str) -> None:
    """No name from nowhere: each is exported by the runtime, by an exporter we run, or recorded by our rules."""
    cfg = load_stack(stack)
    known = runtime_metric_names()
    recorded = {r["record"] for g in rule_groups(cfg) for r in g["rules"] if "record" in r}
    for uid, document in dashboards(cfg).items():
        queries = list(panel_queries(document))
        assert queries, uid
        for title, expr in queries:
            assert "$region" in expr or uid == "streamgate-data", (uid, title)
            for name in metric_names(expr.replace("$__rate_interval", "5m")):
                assert name in known or exporter_of(name) or name in recorded, (uid, title, name)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_alert_links_to_a_generated_dashboard_and_its_variable(stack: str) -> None:
    cfg = load_stack(stack)
    generated = dashboards(cfg)
    links = [
        rule["annotations"]["dashboard_url"]
        for region in (None, cfg.regions[0].name)
        for group in rule_groups(cfg, region)
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert links
    for link in links:
        parsed = urllib.parse.urlparse(link)
        uid = parsed.path.rsplit("/d/", 1)[1]
        assert uid in generated, link
        variables = {v["name"] for v in generated[uid]["templating"]["list"]}
        for name in urllib.parse.parse_qs(parsed.query):
            assert name.removeprefix("var-") in variables, link
    assert DASHBOARD_UID in generated


def test_dashboards_are_valid_grafana_models() -> None:
    cfg = load_stack("prod")
    generated = dashboards(cfg)
    assert set(generated) == {spec.uid for spec in DASHBOARDS}
    for uid, document in generated.items():
        assert document["uid"] == uid and document["title"].startswith("StreamGate")
        ids = [p["id"] for p in document["panels"]]
        assert len(ids) == len(set(ids)), uid  # Grafana keys panels by id
        for panel in document["panels"]:
            assert None not in panel.values(), (uid, panel.get("title"))
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == "prometheus" and re.fullmatch(r"[A-Z]", target["refId"])
    # the autoscaling panel only where kube-state-metrics runs
    titles = {p["title"] for p in generated["streamgate-data"]["panels"]}
    local_titles = {p["title"] for p in dashboards(load_stack("local"))["streamgate-data"]["panels"]}
    assert "Autoscaling" in titles and "Autoscaling" not in local_titles


def _kps_values(plan: Plan, region: str) -> dict[str, Any]:
    release = next(
        r
        for r in plan.of_type(RELEASE)
        if r.region == region and r.inputs["name"] == KUBE_PROMETHEUS_STACK.release
    )
    values: dict[str, Any] = release.inputs["values"]
    return values


def test_every_cluster_gets_the_dashboards_grafana_and_pyroscope(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    cfg = load_stack("prod")
    expected = dashboards(cfg)
    for region in (r.name for r in cfg.regions):
        maps = [r.inputs for r in plan.of_type(CONFIG_MAP) if r.region == region]
        shipped = {}
        for cm in maps:
            meta = cm["metadata"]
            assert meta["namespace"] == KUBE_PROMETHEUS_STACK.namespace
            assert DASHBOARD_LABEL.items() <= meta["labels"].items()
            [(file, text)] = cm["data"].items()
            shipped[file.removesuffix(".json")] = json.loads(text)
        assert shipped == expected
        grafana = _kps_values(plan, region)["grafana"]
        assert grafana["enabled"] is True
        sidecar = grafana["sidecar"]["dashboards"]
        assert {sidecar["label"]: sidecar["labelValue"]} == DASHBOARD_LABEL and sidecar["enabled"]
        assert grafana["admin"]["existingSecret"] == GRAFANA_ADMIN_SECRET
        assert grafana["grafana.ini"]["server"]["root_url"] == cfg.alerts.dashboard_base_url
        [pyroscope_source] = grafana["additionalDataSources"]
        assert (pyroscope_source["type"], pyroscope_source["url"]) == (
            "grafana-pyroscope-datasource",
            PYROSCOPE_URL,
        )
        admin = next(
            s.inputs
            for s in plan.of_type(SECRET)
            if s.region == region and s.inputs["metadata"]["name"] == GRAFANA_ADMIN_SECRET
        )
        assert admin["stringData"] == "[secret]"  # derived from a stack secret, never in clear
        pyroscope = next(
            r.inputs
            for r in plan.of_type(RELEASE)
            if r.region == region and r.inputs["name"] == PYROSCOPE.release
        )
        assert (
            pyroscope["version"] == PYROSCOPE.version
            and pyroscope["namespace"] == KUBE_PROMETHEUS_STACK.namespace
        )
        assert PYROSCOPE_URL.startswith(f"http://{PYROSCOPE.release}.{PYROSCOPE.namespace}.svc")
        for deployment in (r.inputs for r in plan.of_type(DEPLOYMENT) if r.region == region):
            [container] = deployment["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["STREAMGATE_PROFILING__CONTINUOUS_URL"] == PYROSCOPE_URL
