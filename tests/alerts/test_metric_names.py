"""Every metric name a rule (or a runbook's PromQL) reads exists: exported by the runtime, checked against
the default registry of the runtime's metrics modules, or by an exporter we deploy (EXPORTER_METRICS);
recording-rule names must be recorded by the rules themselves. No third list: a name from nowhere fails."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import runtime
from infra.alerts import rule_groups
from infra.alerts.exporters import EXPORTER_METRICS, exporter_of
from tests.alerts.conftest import stacks
from tests.servers import (
    LOOPBACK,
    RedisServer,
    free_port,
    port_open,
    redis_server,
    require_binary,
    wait_until,
)

RUNBOOKS = Path(__file__).resolve().parents[2] / "infra" / "alerts" / "runbooks"
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


def runtime_metric_names() -> set[str]:
    """Sample names of the metrics the runtime defines (convention: in `runtime.<package>.metrics`)."""
    from prometheus_client import REGISTRY

    for mod in pkgutil.walk_packages(runtime.__path__, "runtime."):
        if mod.name.rsplit(".", 1)[-1] == "metrics":
            importlib.import_module(mod.name)
    importlib.import_module("runtime.service.app")  # the gateway: every collector it registers
    names = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("_info",) if family.type == "info" else ("",)):
            names.add(family.name + suffix)
    return names


def metric_names(promql: str) -> set[str]:
    """Metric names a PromQL expression selects (function names, labels, keywords and numbers removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)  # strings
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"(?<![\w:])\d+(\.\d+)?(e[+-]?\d+)?", " ", text)  # numbers
    names = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", text):
        rest = text[match.end() :].lstrip()
        if not rest.startswith("(") and match.group().lower() not in KEYWORDS:
            names.add(match.group())
    return names


def test_the_name_extractor_sees_what_promql_reads() -> None:
    assert metric_names(
        'sum by (region) (rate(a_total{le="0.3", x=~"y|z"}[5m])) / on (i) group_left (v) b:c:d > 1e-05 '
        'and time() - max(c) > 0.5 or absent(d{route="/v1/{id}"})'
    ) == {"a_total", "b:c:d", "c", "d"}


def rule_reads() -> dict[str, set[str]]:
    """Metric name → where it is read, over every rendered stack (rules and annotation queries)."""
    reads: dict[str, set[str]] = {}
    for stack, cfg in stacks().items():
        for region in (None, cfg.regions[0].name):
            for group in rule_groups(cfg, region):
                recorded = {r["record"] for r in group["rules"] if "record" in r}
                for rule in group["rules"]:
                    texts = [rule["expr"]]
                    for note in rule.get("annotations", {}).values():
                        texts += re.findall(r'printf "([^"]*)"', note)
                    for name in set().union(*map(metric_names, texts)):
                        if ":" in name:
                            assert name in recorded, f"{stack}/{group['name']}: {name} is recorded nowhere"
                            continue
                        reads.setdefault(name, set()).add(rule.get("alert") or rule["record"])
    return reads


def test_every_metric_a_rule_reads_exists() -> None:
    runtime_names = runtime_metric_names()
    reads = rule_reads()
    unknown = {n: sorted(w) for n, w in reads.items() if n not in runtime_names and exporter_of(n) is None}
    assert not unknown, f"read by rules, exported by nothing we run: {unknown}"
    # the contract's gateway metrics come from the runtime, not from a declaration
    for name in (
        "streamgate_http_requests_total",
        "streamgate_http_request_duration_seconds_bucket",
        "streamgate_build_info",
        "streamgate_events_shed_total",
        "streamgate_cache_hits_total",
    ):
        assert name in reads and name in runtime_names
    # the declaration does not shadow the runtime
    declared = set().union(*EXPORTER_METRICS.values())
    assert not declared & runtime_names


def test_every_metric_a_runbook_queries_exists() -> None:
    runtime_names = runtime_metric_names()
    recorded = {
        r["record"]
        for cfg in stacks().values()
        for g in rule_groups(cfg)
        for r in g["rules"]
        if "record" in r
    }
    for runbook in sorted(RUNBOOKS.glob("*.md")):
        for block in re.findall(r"```promql\n(.*?)```", runbook.read_text(), re.S):
            for line in block.splitlines():
                query = line.split("#", 1)[0]
                for name in metric_names(query):
                    known = name in runtime_names or exporter_of(name) or name in recorded
                    assert known, f"{runbook.name}: {name} exists nowhere"


@pytest.fixture
def primary_and_replica(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    with redis_server(tmp_path / "primary") as primary, redis_server(tmp_path / "replica") as replica:
        import redis

        client = redis.Redis(host=LOOPBACK, port=replica.port)
        client.replicaof(LOOPBACK, primary.port)
        wait_until(lambda: client.info("replication")["master_link_status"] == "up", 10, "replication link")
        client.close()
        yield primary, replica


def _scrape_exporter(redis_port: int) -> str:
    port = free_port()
    proc = subprocess.Popen(
        [
            require_binary("prometheus-redis-exporter", "prometheus-redis-exporter"),
            f"-redis.addr=redis://{LOOPBACK}:{redis_port}",
            f"-web.listen-address={LOOPBACK}:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), 10, f"redis exporter on {port}")
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=10) as resp:
            return str(resp.read().decode())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_declared_redis_exporter_names_are_what_the_exporter_exports(
    primary_and_replica: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = primary_and_replica
    started = time.monotonic()
    exported = set()
    for port in (primary.port, replica.port):
        text = _scrape_exporter(port)
        exported |= {
            line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("redis_")
        }
    assert time.monotonic() - started < 30
    assert EXPORTER_METRICS["prometheus-redis-exporter"] <= exported, (
        EXPORTER_METRICS["prometheus-redis-exporter"] - exported
    )


def test_latency_buckets_are_the_gateways() -> None:
    """The latency SLO reads `le` at the objective: the rules' bucket list must be the histogram's."""
    from infra.alerts.slo import LATENCY_BUCKETS
    from runtime.observability.metrics import LATENCY_BUCKETS as RUNTIME_BUCKETS

    assert tuple(LATENCY_BUCKETS) == tuple(RUNTIME_BUCKETS)
