"""`streamgate drill failover` on the local platform: kill -9 the primary region under load (unplanned) and
a planned switchover under load; the measured RTO/RPO must meet the floors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import redis
from typer.testing import CliRunner

from infra.automation.drill.cli import app
from infra.automation.drill.runner import restore_platform
from infra.automation.failover import wiring as failover_wiring
from infra.automation.targets import for_stack
from infra.config import load_stack
from infra.local.layout import LOOPBACK
from tests.local_platform import RunningPlatform

cli = CliRunner()


@pytest.fixture
def platform(running_platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningPlatform]:
    monkeypatch.setenv("STREAMGATE_LOCAL_STATE_DIR", str(running_platform.platform.paths.root))
    cfg = load_stack("local")
    asyncio.run(restore_platform(cfg, failover_wiring.runner(for_stack(cfg))))
    yield running_platform
    asyncio.run(restore_platform(cfg, failover_wiring.runner(for_stack(cfg))))


def test_unplanned_drill_promotes_within_the_floor_and_keeps_every_replicated_write(
    platform: RunningPlatform,
) -> None:
    result = cli.invoke(app, ["failover", "--stack", "local", "--json"], catch_exceptions=False)
    assert result.stdout, result.output
    report = json.loads(result.stdout)
    print(json.dumps({k: v for k, v in report.items() if k != "failover"}))  # the measured figures (-s)
    assert result.exit_code == 0, report
    assert report["kind"] == "unplanned" and report["source"] == "local-a" and report["target"] == "local-b"
    assert report["rto_seconds"] is not None and report["rto_seconds"] < 10.0
    assert report["lost_replicated"] == 0  # WAIT-acknowledged writes all survived
    assert report["writes_acknowledged"] > 100 and report["writes_replicated"] > 0
    assert report["edge_recovery_seconds"] is not None
    steps = [s["id"] for s in report["failover"]["steps"]]
    assert steps[:2] == ["promote", "repoint"] and steps[-1] == "verify"
    assert report["failover"]["measured"]["pending_demotion"] == ["local-a"]
    # Afterwards: the killed region is back, its old primary demoted, and the drill failed back.
    processes = platform.platform.supervisor.processes()
    assert all(processes[n].state == "RUNNING" for n in ("redis-local-a", "gateway-local-a-blue"))
    assert (
        redis.Redis(host=LOOPBACK, port=platform.layout.region("local-a").redis).info("replication")["role"]
        == "master"
    )
    assert platform.router.loaded_state().regions == {"local-a": 100, "local-b": 0}


def test_planned_drill_loses_nothing(platform: RunningPlatform) -> None:
    result = cli.invoke(app, ["failover", "--stack", "local", "--planned", "--json"], catch_exceptions=False)
    assert result.stdout, result.output
    report = json.loads(result.stdout)
    print(json.dumps({k: v for k, v in report.items() if k != "failover"}))
    assert result.exit_code == 0, report
    assert report["lost_acknowledged"] == 0 and report["rpo_seconds"] == 0
    assert report["rto_seconds"] < 5.0 and report["failover"]["measured"]["rpo_bytes"] == 0
    assert report["edge_recovery_seconds"] < 5.0


def test_drill_refuses_cloud_stacks() -> None:
    result = cli.invoke(app, ["failover", "--stack", "prod"])
    assert result.exit_code in (1, 2)
    assert "local" in result.output
