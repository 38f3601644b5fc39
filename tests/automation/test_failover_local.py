"""`streamgate failover` on the local platform: real redis-servers, nginx, gateways under supervisord.

The platform is the automation tests' session platform (tests/automation/conftest.py); every test leaves
it as `local up` did: Redis primary and all traffic in local-a.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from infra.automation.adapters.failover_ports import DataStore, Repointed
from infra.automation.drill.runner import Load, restore_platform
from infra.automation.failover import wiring as failover_wiring
from infra.automation.failover.cli import app
from infra.automation.failover.errors import FailoverError
from infra.automation.targets import for_stack
from infra.config import load_stack
from infra.local.layout import LOOPBACK
from tests.local_platform import RunningPlatform

cli = CliRunner()


@pytest.fixture
def platform(running_platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningPlatform]:
    """The session platform, found by the CLI through STREAMGATE_LOCAL_STATE_DIR; restored afterwards."""
    monkeypatch.setenv("STREAMGATE_LOCAL_STATE_DIR", str(running_platform.platform.paths.root))
    (running_platform.platform.paths.root / "failover" / "local.json").unlink(missing_ok=True)
    cfg = load_stack("local")
    asyncio.run(restore_platform(cfg, failover_wiring.runner(for_stack(cfg))))
    yield running_platform
    asyncio.run(restore_platform(cfg, failover_wiring.runner(for_stack(cfg))))


def roles(lp: RunningPlatform) -> dict[str, tuple[str, int | None]]:
    """Each region's node: (role, port of its primary if a replica), read from the nodes."""
    out: dict[str, tuple[str, int | None]] = {}
    for region in lp.layout.regions:
        info = redis.Redis(host=LOOPBACK, port=region.redis).info("replication")
        out[region.name] = (str(info["role"]), int(info["master_port"]) if "master_port" in info else None)
    return out


def snapshot(lp: RunningPlatform) -> dict[str, Any]:
    return {"roles": roles(lp), "router": lp.router.loaded_state().to_json()}


def invoke(*args: str, **kwargs: Any) -> Any:
    return cli.invoke(app, list(args), catch_exceptions=False, **kwargs)


def test_plan_reports_readiness_and_exit_codes(platform: RunningPlatform) -> None:
    result = invoke("plan", "--stack", "local", "--to", "local-b", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["safe"] and plan["source"] == "local-a" and plan["expected_loss_bytes"] == 0
    assert [a["id"] for a in plan["actions"]][:3] == ["fence-writes", "catch-up", "promote"]
    assert {c["name"]: c["ok"] for c in plan["checks"]}["replication-link"]
    unplanned = invoke("plan", "--stack", "local", "--to", "local-b", "--unplanned")
    assert unplanned.exit_code == 1 and "allow-data-loss" in unplanned.stdout
    assert invoke("plan", "--stack", "local", "--to", "local-z").exit_code == 2
    noop = invoke("plan", "--stack", "local", "--to", "local-a")
    assert noop.exit_code == 0 and "nothing to do" in noop.stdout


def test_dry_run_changes_nothing(platform: RunningPlatform) -> None:
    before = snapshot(platform)
    result = invoke("run", "--stack", "local", "--to", "local-b", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] and report["record"] is None and len(report["plan"]["actions"]) == 7
    assert snapshot(platform) == before
    assert not (platform.platform.paths.root / "failover" / "local.json").exists()


def test_declined_confirmation_changes_nothing(platform: RunningPlatform) -> None:
    before = snapshot(platform)
    result = invoke("run", "--stack", "local", "--to", "local-b", input="n\n")
    assert result.exit_code == 3
    assert snapshot(platform) == before


def test_planned_switchover_loses_nothing_moves_traffic_and_demotes_the_old_primary(
    platform: RunningPlatform,
) -> None:
    layout = platform.layout
    a, b = layout.region("local-a"), layout.region("local-b")
    load = Load(b.redis_endpoint, f"{layout.edge_url}/version")
    with load:
        load.wait_for_writes(100)
        result = invoke("run", "--stack", "local", "--to", "local-b", "--yes", "--json")
        count = len(load.acked)
        load.wait_for_writes(count + 100)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    measured = report["measured"]
    assert measured["rpo_bytes"] == 0 and measured["rto_seconds"] < 5.0
    # Zero acknowledged writes lost: every one is on the new primary.
    numbers = [n for n, _ in load.acked]
    values = redis.Redis(host=LOOPBACK, port=b.redis).mget([load.key(n) for n in numbers])
    assert [n for n, v in zip(numbers, values, strict=True) if v is None] == []
    # Traffic moved: the routers serve local-b, the edge answers from it.
    state = platform.router.loaded_state()
    assert state.regions == {"local-a": 0, "local-b": 100} and state.redis_primary == "local-b"
    assert load.reads[-1].ok and load.reads[-1].region == "local-b"
    # The old primary is now a replica of the new one.
    assert roles(platform) == {"local-a": ("slave", b.redis), "local-b": ("master", None)}
    assert redis.Redis(host=LOOPBACK, port=a.redis).info("replication")["master_link_status"] == "up"
    # Re-running is a no-op.
    again = invoke("run", "--stack", "local", "--to", "local-b", "--yes", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["plan"]["noop"]


class CrashBeforeRepoint:
    """The real data store, whose `repoint` fails as a crash right after `promote` would leave the run."""

    def __init__(self, inner: DataStore) -> None:
        self.inner, self.name = inner, inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def repoint(self, primary: str) -> Repointed:
        raise ConnectionError("injected: the process died before repointing")


def test_interrupted_failover_rerun_completes(platform: RunningPlatform) -> None:
    runner = failover_wiring.runner(for_stack(load_stack("local")))
    runner.ports.datastore = CrashBeforeRepoint(runner.ports.datastore)
    with pytest.raises(FailoverError, match="injected"):
        asyncio.run(runner.run("local-b", "planned"))
    record = json.loads((platform.platform.paths.root / "failover" / "local.json").read_text())
    assert record["outcome"] == "failed" and [(s["id"], s["status"]) for s in record["steps"]] == [
        ("fence-writes", "done"),
        ("catch-up", "done"),
        ("promote", "done"),
        ("repoint", "failed"),
    ]
    # Half done: local-b promoted, local-a not yet demoted, traffic not moved.
    assert roles(platform)["local-b"] == ("master", None)
    assert platform.router.loaded_state().regions["local-a"] == 100

    resumed = invoke("run", "--stack", "local", "--to", "local-b", "--yes", "--json")
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert report["previously_done"] == ["fence-writes", "catch-up", "promote"]
    assert [a["id"] for a in report["plan"]["actions"]] == ["repoint", "unfence", "shift-traffic", "verify"]
    assert report["record"]["attempts"] == 2 and report["record"]["outcome"] == "succeeded"
    b = platform.layout.region("local-b")
    assert roles(platform) == {"local-a": ("slave", b.redis), "local-b": ("master", None)}
    assert platform.router.loaded_state().regions == {"local-a": 0, "local-b": 100}
    # The lifted fence: the demoted node accepts its replication stream and clients again.
    redis.Redis(host=LOOPBACK, port=b.redis).set("after-resume", "1")
    assert redis.Redis(host=LOOPBACK, port=b.redis).execute_command("WAIT", 1, 2000) == 1


def test_allow_data_loss_needs_unplanned() -> None:
    result = invoke("run", "--stack", "local", "--to", "local-b", "--allow-data-loss")
    assert result.exit_code == 2 and "--unplanned" in result.output
