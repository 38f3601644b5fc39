"""`streamgate failover` on the local platform: real redis-servers, nginx, gateways under supervisord.

The platform is the automation tests' session platform (tests/automation/conftest.py); every test leaves
it as `local up` did: Redis primary and all traffic in local-a.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from typer.testing import CliRunner

from infra.automation.adapters.failover_ports import DataStore, Repointed
from infra.automation.drill.runner import Load, restore_platform
from infra.automation.failover import wiring as failover_wiring
from infra.automation.failover.cli import app
from infra.automation.failover.errors import FailoverError
from infra.automation.targets import for_stack
from infra.config import PROJECT_ROOT, load_stack
from infra.local.layout import LOOPBACK
from tests.local_platform import RunningPlatform
from tests.servers import http_receiver, wait_until

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


STREAMGATE = [sys.executable, "-c", "from infra.cli import main; main()"]


def test_a_failover_is_notified_and_audited(
    platform: RunningPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook hears it begin and end, in order; `streamgate history` records who ran it and why."""
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["streamgate:notifications"] = {"webhook": {}, "backoffSeconds": 0.2}
    (tmp_path / "Pulumi.local.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path))
    args = [
        "failover",
        "run",
        "--stack",
        "local",
        "--to",
        "local-b",
        "--actor",
        "dave",
        "--reason",
        "game day",
    ]
    with http_receiver() as hook:
        monkeypatch.setenv("STREAMGATE_NOTIFICATIONS_WEBHOOK_URL", f"{hook.url}/hook")
        run = subprocess.run(
            [*STREAMGATE, *args, "--yes", "--json"], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
    assert [(b["event"], b["actor"]) for _, b in hook.received] == [
        ("failover.began", "dave"),
        ("failover.ended", "dave"),
    ]
    began, ended = (b for _, b in hook.received)
    assert "local-a → local-b" in began["title"] and ended["data"]["measured"]["rpo_bytes"] == 0
    history = subprocess.run(
        [*STREAMGATE, "history", "--stack", "local", "--command", "failover", "--limit", "1", "--json"],
        capture_output=True,
        text=True,
    )
    [entry] = json.loads(history.stdout)
    assert (entry["command"], entry["actor"], entry["reason"], entry["outcome"]) == (
        "failover run",
        "dave",
        "game day",
        "ok",
    )
    assert entry["args"]["to"] == "local-b"
    assert entry["extra"]["failover_id"] == json.loads(run.stdout)["record"]["id"]


class SlowVerify:
    """The real smoke check, answering after a pause: time for a watcher to see the steps go by."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds = inner, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def check(self, region: str) -> Any:
        await asyncio.sleep(self.seconds)
        return await self.inner.check(region)


def test_failover_status_watch_follows_a_run_to_its_end(platform: RunningPlatform) -> None:
    runner = failover_wiring.runner(for_stack(load_stack("local")))
    runner.ports.smoke = SlowVerify(runner.ports.smoke, 4.0)
    done = threading.Thread(target=lambda: asyncio.run(runner.run("local-b", "planned")))
    done.start()
    record = platform.platform.paths.root / "failover" / "local.json"
    wait_until(lambda: json.loads(record.read_text())["outcome"] == "running", 30, "the run's record")
    watch = subprocess.run(
        [*STREAMGATE, "failover", "status", "--stack", "local", "--watch", "--json", "--every", "0.2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    done.join(30)
    lines = [json.loads(line) for line in watch.stdout.splitlines()]
    assert watch.returncode == 0 and len(lines) >= 2
    assert [line["outcome"] for line in lines] == ["running"] * (len(lines) - 1) + ["succeeded"]
    steps = [[s["id"] for s in line["steps"]] for line in lines]
    assert "verify" not in steps[0] and steps[-1][-1] == "verify"
    assert all(a == b[: len(a)] for a, b in itertools.pairwise(steps))  # steps only ever added


def test_a_prod_stack_fails_over_only_once_its_name_is_typed(
    platform: RunningPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["streamgate:environment"] = "prod"  # with what the model requires of prod
    document["config"]["streamgate:autoscaling"].update(minReplicas=2, maxReplicas=3)
    document["config"]["streamgate:backup"] = {
        **document["config"].get("streamgate:backup", {}),
        "objectLock": True,
    }
    (tmp_path / "Pulumi.local.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path))
    before = snapshot(platform)
    for answer in ("y\n", "prod\n", ""):  # a yes is not the name; nor another name; nor no answer
        result = invoke("run", "--stack", "local", "--to", "local-b", input=answer)
        assert result.exit_code == 3, result.output
        assert "type the stack name (local)" in result.output and "nothing was changed" in result.output
    assert snapshot(platform) == before
