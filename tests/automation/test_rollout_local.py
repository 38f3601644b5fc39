"""Rollouts on the local platform: real nginx (reloads), gateways under supervisord, Prometheus, Pushgateway.

Load goes through the edge the whole time (tests/automation/load.py); analysis intervals are 2 s and the
scrape interval is 2 s, so each test takes seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner, Result

from infra.automation.rollout.cli import app
from infra.config import PROJECT_ROOT
from tests.automation.conftest import REGION, SCRAPE_SECONDS, STABLE_VERSION, RolloutEnv
from tests.automation.load import Load

pytestmark = [pytest.mark.local_platform, pytest.mark.slow]
CLI = [sys.executable, "-c", "from infra.automation.rollout.cli import app; app()"]


def load_through(env: RolloutEnv, rps: float = 80.0) -> Load:
    return Load(f"{env.lp.edge}/v1/analytics/realtime", rps=rps, max_seconds=60)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def events(state: dict[str, Any]) -> list[str]:
    return [r["event"] for r in state["history"]]


def checks_of(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in record["checks"]}


def test_healthy_version_is_promoted_step_by_step(rollout_env: RolloutEnv, tmp_path: Path) -> None:
    rollout_env.write_stack(
        confirmPromotion=True, webhooks=[{"name": "load", "type": "rollout", "command": ["true"]}]
    )
    promoted: list[Result] = []

    def approve_at_the_gate() -> None:
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline:
            state = rollout_env.state()
            if state and state["phase"] == "awaiting-promotion":
                promoted.append(invoke("promote", "--stack", "local"))
                return
            time.sleep(0.2)

    gate = threading.Thread(target=approve_at_the_gate, daemon=True)
    gate.start()
    with load_through(rollout_env) as load:
        result = invoke("canary", "--stack", "local", "--version", "0.2.0", "--yes", "--json")
    gate.join(5)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["phase"] == "succeeded" and summary["max_weight"] == 100
    assert promoted and promoted[0].exit_code == 0, "the manual gate was never reached"
    # No request failed during the shifts (beyond keep-alive races with nginx reloads, which clients retry).
    assert load.statuses[200] > 200 and load.server_errors == 0 and load.transport_error_ratio < 0.01

    state = rollout_env.state()
    assert state is not None
    # Every step recorded, in order, each weight verified in nginx before it was recorded.
    moves = [(r["event"], r["weight"]) for r in state["history"] if r["event"] in ("advance", "promote")]
    assert moves == [("advance", 20), ("advance", 50), ("promote", 100)]
    assert events(state)[:2] == ["start", "deployed"] and events(state)[-1] == "succeeded"
    waits = [r for r in state["history"] if r["phase"] == "awaiting-promotion"]
    assert waits and all(r["weight"] == 50 for r in waits)  # held at 50% until `rollout promote`
    passed = [r for r in state["history"] if r["event"] == "advance" and r["checks"]]
    assert passed and all(c["outcome"] == "pass" for r in passed for c in r["checks"])
    assert {"success-rate", "latency-p99", "judge", "webhook:load"} <= set(checks_of(passed[-1]))
    assert rollout_env.weights() == {"blue": 0, "green": 100}
    green = json.loads(urllib.request.urlopen(f"{rollout_env.lp.gateway(REGION, 'green')}/version").read())
    assert green["version"] == "0.2.0"

    # The rollout's own metrics reached the Pushgateway.
    pushed = urllib.request.urlopen(f"{rollout_env.lp.layout.pushgateway_url}/metrics").read().decode()
    samples = {
        (s.name, s.labels.get("phase", s.labels.get("rollout"))): s.value
        for family in text_string_to_metric_families(pushed)
        for s in family.samples
        if s.labels.get("job") == "streamgate-rollout" and s.labels.get("region") == REGION
    }
    assert samples[("streamgate_rollout_weight", "canary-0.2.0")] == 100
    assert samples[("streamgate_rollout_failed_checks", "canary-0.2.0")] == 0
    assert samples[("streamgate_rollout_phase", "succeeded")] == 1
    assert samples[("streamgate_rollout_phase", "progressing")] == 0

    # The post-mortem report and its chart.
    png = tmp_path / "report.png"
    report = invoke("report", "--stack", "local", "--png", str(png), "--json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["max_weight"] == 100
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    status = invoke("status", "--stack", "local", "--json")
    assert json.loads(status.output)["live_weights"] == {"blue": 0, "green": 100}


def test_erroring_version_is_rolled_back_within_the_bound(rollout_env: RolloutEnv, tmp_path: Path) -> None:
    notified = tmp_path / "rollback.json"
    hook = {"name": "page", "type": "rollback", "command": ["sh", "-c", f"cat > {notified}"]}
    rollout_env.write_stack(webhooks=[hook])
    rollout_env.lp.platform.deploy(REGION, "green", "0.3.0-errors", {"STREAMGATE_FAULTS__ERROR_RATE": "0.2"})
    with load_through(rollout_env):
        result = invoke("canary", "--stack", "local", "--version", "0.3.0-errors", "--yes", "--json")
    state = rollout_env.state()
    assert result.exit_code == 3, "\n".join(
        str((r["event"], r["weight"], [(c["name"], c["value"]) for c in r["checks"]]))
        for r in (state or {}).get("history", [])
    )
    assert state is not None and state["phase"] == "rolled-back"
    first_traffic = next(r for r in state["history"] if r["weight"] > 0)
    rollback = next(r for r in state["history"] if r["event"] == "rollback")
    # The bound is threshold x interval + one scrape interval. Counted in analysis ticks it does not depend
    # on how busy the machine is: at most threshold failed ticks plus the one that saw no data yet.
    ticks = [r for r in state["history"] if first_traffic["at"] <= r["at"] < rollback["at"] and r["checks"]]
    assert len(ticks) <= 3 + 1, [(r["event"], r["at"]) for r in ticks]
    bound = 3 * 2 + SCRAPE_SECONDS
    elapsed = rollback["at"] - first_traffic["at"]
    assert elapsed <= bound * 1.5, (elapsed, bound)  # wall clock, with slack for a loaded CI machine
    history = [
        (r["event"], r["weight"], [(c["name"], c["value"]) for c in r["checks"]]) for r in state["history"]
    ]
    assert max(r["weight"] for r in state["history"]) == 20, history  # never advanced
    assert json.loads(notified.read_text())["phase"] == "rolled-back"  # the on-rollback hook ran
    failed = [
        r for r in state["history"] if r["checks"] and checks_of(r)["success-rate"]["value"] is not None
    ]
    assert failed and any(0.7 < checks_of(r)["success-rate"]["value"] < 0.9 for r in failed)
    assert rollout_env.weights() == {"blue": 100, "green": 0}


def test_added_latency_is_caught_by_p99_and_by_the_judge(rollout_env: RolloutEnv) -> None:
    rollout_env.lp.platform.deploy(
        REGION, "green", "0.4.0-slow", {"STREAMGATE_FAULTS__LATENCY_SECONDS": "0.3"}
    )
    with load_through(rollout_env) as load:
        result = invoke("canary", "--stack", "local", "--version", "0.4.0-slow", "--yes", "--json")
    assert result.exit_code == 3, result.output
    assert load.server_errors == 0 and load.statuses[200] > 50  # slow, not failing
    state = rollout_env.state()
    assert state is not None and state["phase"] == "rolled-back"
    measured = [checks_of(r) for r in state["history"] if r["checks"]]
    caught = [c for c in measured if c["latency-p99"]["value"] is not None]
    assert caught, measured
    assert all(c["latency-p99"]["outcome"] == "fail" and c["latency-p99"]["value"] > 0.25 for c in caught)
    assert any(c["success-rate"]["outcome"] == "pass" for c in caught)  # only latency is wrong
    judged = [c["judge"] for c in caught if "worse" in c["judge"]["detail"]]
    assert judged and all(j["outcome"] == "fail" for j in judged)
    assert rollout_env.weights() == {"blue": 100, "green": 0}


def test_unreachable_prometheus_holds_then_rolls_back(rollout_env: RolloutEnv) -> None:
    from tests.automation.conftest import unused_url

    rollout_env.write_stack(prometheusUrl=unused_url())
    started = time.monotonic()
    with load_through(rollout_env):
        result = invoke("canary", "--stack", "local", "--version", "0.5.0", "--yes", "--json")
    assert result.exit_code == 3, result.output
    state = rollout_env.state()
    assert state is not None and state["phase"] == "rolled-back"
    assert max(r["weight"] for r in state["history"]) == 20  # no promotion without metrics
    holds = [r for r in state["history"] if r["event"] == "hold"]
    assert len(holds) == 2 and all("no data" in r["reason"] for r in holds)  # threshold 3: hold, hold, back
    assert "3 consecutive failed analyses" in state["reason"]
    assert rollout_env.weights() == {"blue": 100, "green": 0}
    assert time.monotonic() - started < 30


def test_killed_rollout_resumes_from_its_persisted_step(rollout_env: RolloutEnv) -> None:
    args = [
        "canary",
        "--stack",
        "local",
        "--version",
        "0.6.0",
        "--steps",
        "20,40,60,80,100",
        "--yes",
        "--json",
    ]
    with load_through(rollout_env):
        first = subprocess.Popen(
            CLI + args,
            env=rollout_env.env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                state = rollout_env.state()
                if state and state["step_index"] >= 1 and first.poll() is None:
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"the rollout never reached step 2: {rollout_env.state()}")
            os.kill(first.pid, signal.SIGKILL)  # the process we started, by its id
        finally:
            first.wait(10)
        killed_at = rollout_env.state()
        assert killed_at is not None and killed_at["phase"] in ("progressing", "awaiting-promotion")
        lock = invoke("status", "--stack", "local", "--json")
        assert json.loads(lock.output)["controller"] is None  # the kernel released the dead run's lock

        # Simulate the worst crash point: the router changed but the run died before recording it.
        rollout_env.lp.router.write_weights(REGION, {"blue": 10, "green": 90})

        mismatches: list[tuple[dict[str, Any], dict[str, int]]] = []
        stop = threading.Event()

        def watch() -> None:
            """After recovery, whenever the state has recorded its weight, nginx must serve exactly it."""
            while not stop.is_set():
                state = rollout_env.state()
                live = rollout_env.weights()
                again = rollout_env.state()
                resumed = state is not None and "resume" in events(state)
                if state and resumed and again == state and state["history"][-1]["event"] != "resume":
                    recorded = state["history"][-1]["weight"] == state["weight"]
                    expected = {
                        state["stable_color"]: 100 - state["weight"],
                        state["canary_color"]: state["weight"],
                    }
                    if recorded and live != expected:
                        mismatches.append((expected, live))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        second = subprocess.Popen(
            CLI + args, env=rollout_env.env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(0.3)
        watcher.start()
        out, err = second.communicate(timeout=60)
        stop.set()
        watcher.join(5)
    assert second.returncode == 0, err.decode()[-2000:]
    state = rollout_env.state()
    assert state is not None and state["phase"] == "succeeded"
    history = state["history"]
    resume_at = events(state).index("resume")
    resumed = history[resume_at]
    assert resumed["step_index"] == killed_at["step_index"] >= 1
    heal = history[resume_at + 1]
    assert heal["event"] == "heal" and "'green': 90" in heal["reason"]
    after = history[resume_at + 1 :]
    assert min(r["step_index"] for r in after) >= killed_at["step_index"]  # never restarted from step 0
    assert [r["weight"] for r in after if r["event"] in ("advance", "promote")][-1] == 100
    assert not mismatches, mismatches[:3]
    assert rollout_env.weights() == {"blue": 0, "green": 100}
    assert json.loads(out)["phase"] == "succeeded"


def test_blue_green_switches_verifies_and_retires(rollout_env: RolloutEnv, tmp_path: Path) -> None:
    seen = tmp_path / "smoke.json"
    rollout_env.write_stack(
        webhooks=[
            {"name": "smoke", "type": "pre-rollout", "command": ["sh", "-c", f"cat > {seen}"]},
            {"name": "notify", "type": "post-rollout", "command": ["true"]},
        ]
    )
    with load_through(rollout_env) as load:
        result = invoke("bluegreen", "--stack", "local", "--version", "0.7.0", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert load.server_errors == 0 and load.transport_error_ratio < 0.01
    state = rollout_env.state()
    assert state is not None and state["phase"] == "succeeded"
    assert events(state)[:4] == ["start", "deployed", "pre-rollout", "switch"]
    assert json.loads(seen.read_text())["version"] == "0.7.0"  # the smoke gate saw the rollout
    switch = next(r for r in state["history"] if r["event"] == "switch")
    done = next(r for r in state["history"] if r["event"] == "succeeded")
    assert done["at"] - switch["at"] >= 3  # the old color stayed warm for the rollback window
    assert rollout_env.weights() == {"blue": 0, "green": 100}
    blue = rollout_env.lp.platform.supervisor.info(f"gateway-{REGION}-blue")
    assert blue.state == "STOPPED"  # retired
    assert state["stable_version"] == STABLE_VERSION


def test_dry_run_changes_nothing_and_bad_input_exits_2(rollout_env: RolloutEnv) -> None:
    result = invoke("canary", "--stack", "local", "--version", "0.8.0", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["stable"] == {"color": "blue", "version": STABLE_VERSION}
    assert 'version="0.8.0", color="green", region="local-a"' in plan["checks"]["success-rate"]
    assert rollout_env.state() is None and rollout_env.weights() == {"blue": 100, "green": 0}
    assert invoke("canary", "--stack", "local", "--version", "bad tag!", "--yes").exit_code == 2
    assert invoke("canary", "--stack", "local", "--version", "1", "--region", "mars", "--yes").exit_code == 2
    assert invoke("canary", "--stack", "local", "--version", "1", "--steps", "50,20", "--yes").exit_code == 2
    assert invoke("canary", "--stack", "nope", "--version", "1", "--yes").exit_code == 2
    assert invoke("pause", "--stack", "local").exit_code == 1  # nothing to pause


def wait_for_state(env: RolloutEnv, accept: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = env.state()
        if state and accept(state):
            return state
        time.sleep(0.1)
    pytest.fail(f"state never matched: {env.state()}")


def test_pause_and_abort_with_and_without_a_running_controller(rollout_env: RolloutEnv) -> None:
    args = [
        "canary",
        "--stack",
        "local",
        "--version",
        "0.9.0",
        "--steps",
        "20,100",
        "--yes",
    ]
    with load_through(rollout_env):
        run = subprocess.Popen(CLI + args, env=rollout_env.env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
        try:
            wait_for_state(rollout_env, lambda s: s["weight"] == 20 and s["history"][-1]["weight"] == 20)
            assert invoke("pause", "--stack", "local").exit_code == 0
            wait_for_state(rollout_env, lambda s: s["phase"] == "paused")
            assert rollout_env.weights() == {"blue": 80, "green": 20}  # held, not promoted
            asked = time.monotonic()
            assert invoke("abort", "--stack", "local", "--yes").exit_code == 0  # the controller acts
            assert run.wait(15) == 3
            assert time.monotonic() - asked < 5  # acted between ticks, not after a full analysis
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        state = rollout_env.state()
        assert state is not None and state["phase"] == "aborted" and "operator" in state["reason"]
        assert rollout_env.weights() == {"blue": 100, "green": 0}

        run = subprocess.Popen(CLI + args, env=rollout_env.env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
        try:
            wait_for_state(rollout_env, lambda s: s["phase"] != "aborted" and s["weight"] == 20)
            os.kill(run.pid, signal.SIGKILL)
        finally:
            run.wait(10)
        aborted = invoke(
            "abort", "--stack", "local", "--yes", "--json"
        )  # no controller: it rolls back itself
    assert aborted.exit_code == 3, aborted.output
    assert json.loads(aborted.output)["state"]["phase"] == "aborted"
    assert rollout_env.weights() == {"blue": 100, "green": 0}
