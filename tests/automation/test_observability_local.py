"""Observability of a rollout on the local platform, under load: a canary with a CPU hot spot planted in it
is rolled out, `rollout report` names the hot spot from the canary's profiles against stable's, and every
query of every generated dashboard answers with series from the platform's Prometheus (rollout and backup
series pushed by real `rollout` and `backup` runs)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.automation.rollout.cli import app as rollout_app
from infra.cli import add_groups, app
from infra.config import load_stack
from infra.dashboards import dashboards, panel_queries
from tests.automation.conftest import REGION, STABLE_VERSION, RolloutEnv
from tests.automation.load import Load

pytestmark = [pytest.mark.local_platform, pytest.mark.slow]
CANARY = "0.5.0-hot"
HOT_SPOT = "burn_cpu (runtime/service/faults.py)"


@contextmanager
def segment_load(env: RolloutEnv, seconds: float) -> Iterator[None]:
    """Segment GETs straight to both colors of the region (the edge would answer them from its cache)."""
    lp = env.lp
    segment = lp.platform.sample.path(lp.platform.sample.segments[0])
    urls = [f"{lp.gateway(REGION, c)}{segment}" for c in ("blue", "green")]
    stop = threading.Event()

    def loop(url: str) -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    answer.read()
            except OSError:
                time.sleep(0.1)
            time.sleep(0.02)

    threads = [threading.Thread(target=loop, args=(u,), daemon=True) for u in urls]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def query(env: RolloutEnv, promql: str) -> dict[str, Any]:
    url = f"{env.lp.layout.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # a bad query: Prometheus answers 400 with the reason
        doc = json.loads(exc.read())
    return doc


def test_rollout_report_and_dashboards_under_load(rollout_env: RolloutEnv) -> None:
    env = rollout_env
    # The canary is slower on purpose (2 ms of CPU per request) and must still be promoted: on a busy machine
    # that costs more than the default judge tolerates, so it tolerates more here (the judge has its tests).
    env.write_stack(steps=[25, 50, 100], intervalSeconds=6, judge={"minSamples": 10, "maxEffect": 0.9})
    env.lp.platform.deploy(REGION, "green", CANARY, {"STREAMGATE_FAULTS__CPU_SECONDS": "0.002"})
    with segment_load(env, seconds=120), Load(f"{env.lp.edge}/v1/analytics/realtime", rps=60, max_seconds=90):
        rolled = CliRunner().invoke(
            rollout_app,
            ["canary", "--stack", "local", "--version", CANARY, "--yes", "--json"],
            catch_exceptions=False,
        )
        assert rolled.exit_code == 0, rolled.output
        time.sleep(11)  # the agents' last push covering the rollout

        report = CliRunner().invoke(
            rollout_app, ["report", "--stack", "local", "--json"], catch_exceptions=False
        )
        assert report.exit_code == 0, report.output
        cpu = json.loads(report.output)["cpu_profile_diff"]
        assert cpu["available"], cpu
        assert (cpu["base"], cpu["target"]) == (
            f"region={REGION}, version={STABLE_VERSION}",
            f"region={REGION}, version={CANARY}",
        )
        assert cpu["base_profiles"] > 0 and cpu["target_profiles"] > 0
        assert cpu["top_changes"][0]["function"] == HOT_SPOT, cpu["top_changes"]

        add_groups(["backup"])
        backup = CliRunner().invoke(
            app, ["backup", "create", "--stack", "local", "--json"], catch_exceptions=False
        )
        assert backup.exit_code == 0, backup.output
        pushed = 'streamgate_backup_last_success_timestamp_seconds{stack="local"}'
        deadline = time.monotonic() + 15  # until Prometheus has scraped the Pushgateway since
        while not query(env, pushed)["data"]["result"] and time.monotonic() < deadline:
            time.sleep(0.5)

        failures = []
        checked = 0
        for uid, document in dashboards(load_stack("local")).items():
            for title, expr in panel_queries(document):
                promql = expr.replace("$region", REGION).replace("$__rate_interval", "1m")
                doc = query(env, promql)
                checked += 1
                if doc.get("status") != "success":
                    failures.append(f"{uid} / {title}: error {doc.get('error')}: {promql}")
                elif not doc["data"]["result"]:
                    failures.append(f"{uid} / {title}: no series: {promql}")
    assert checked > 40
    assert not failures, "\n".join(failures)
