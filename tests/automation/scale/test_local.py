"""Predictive scaling on the local platform, end to end: its capacity knob is a color's gateway processes
(each a supervisord program with its own port, nginx server line and scrape target, as a pod is). A
replayed history whose sharp daily peak lies ahead makes `scale apply` start a second process before the
load needs it; a replay with the peak behind makes it stop it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
import yaml

from infra.automation.scale.capacity import pod_capacity
from infra.config import PROJECT_ROOT, load_stack
from infra.local.nginx import parse_group, parse_servers, render_group
from tests.local_platform import RunningPlatform

REGION = "local-a"
STREAMGATE = str(Path(sys.executable).with_name("streamgate"))


def test_a_color_served_by_several_processes_keeps_its_share_of_the_traffic() -> None:
    ports = {"blue": (18011, 18016, 18017), "green": (18012, 18018, 18019)}
    text = render_group(
        REGION, {"blue": 75, "green": 25}, {"blue": ports["blue"][:2], "green": ports["green"][:1]}
    )
    weights = {
        int(line.split(":")[1].split()[0]): int(line.split("weight=")[1].split()[0])
        for line in text.splitlines()
        if line.startswith("server")
    }
    # lcm(2, 1) = 2: blue's two servers 75 each, green's one 50; blue gets 150 of 200, its 75 %.
    assert weights == {18011: 75, 18016: 75, 18012: 50}
    assert parse_group(text, ports) == ({"blue": 75, "green": 25}, frozenset())
    assert parse_servers(text, ports) == {"blue": (18011, 18016), "green": (18012,)}
    # One process per color renders exactly as before processes existed.
    single = render_group(REGION, {"blue": 100, "green": 0}, {"blue": 18011, "green": 18012})
    assert "server 127.0.0.1:18011 weight=100 max_fails=1 fail_timeout=3s;  # blue" in single
    assert parse_group(single, ports) == ({"blue": 100, "green": 0}, frozenset({"green"}))


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STREAMGATE, "scale", *argv, "--stack", "local"], env=env, capture_output=True, text=True, timeout=300
    )


def decisions(run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert run.returncode == 0, run.stdout + run.stderr
    return {d["region"]: d for d in json.loads(run.stdout)}


@pytest.mark.slow
@pytest.mark.local_platform
def test_scale_apply_adds_a_process_ahead_of_a_replayed_ramp_and_removes_it_after(
    running_platform: RunningPlatform, tmp_path: Path
) -> None:
    lp = running_platform
    platform = lp.platform
    # The local stack, looking two hours ahead (start-up 1 h + an hourly run): far enough to see the ramp.
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["streamgate:scale"] = {"podStartupSeconds": 3600, "scheduleMinutes": 60}
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.local.yaml").write_text(yaml.safe_dump(document))
    env = {
        **os.environ,
        "STREAMGATE_STACKS_DIR": str(stacks),
        "STREAMGATE_LOCAL_STATE_DIR": str(platform.paths.root),
    }
    capacity = pod_capacity(load_stack("local")).rps
    try:
        # Minutes of history are not enough: refused by region, exit 2, nothing changes.
        fresh = cli(env, "apply")
        assert fresh.returncode == 2, fresh.stdout + fresh.stderr
        assert "scale.minHistoryDays needs 14" in fresh.stderr or "no request history" in fresh.stderr
        assert platform.processes(REGION, "blue") == 1

        replay = cli(env, "replay", "--peak-in-hours", "2.5", "--peak-pods", "1.8", "--json")
        assert replay.returncode == 0, replay.stderr
        ahead = decisions(cli(env, "apply", "--json"))
        a = ahead[REGION]
        # Today's load still fits one process; the ramp within the next two hours does not.
        assert a["now"]["requests_per_second"] < capacity, a["now"]
        assert a["decision"] | {"reason": ""} == {
            "action": "raise",
            "current": 1,
            "target": 2,
            "predictive": True,
            "reason": "",
            "after": "2 blue process(es)",
        }
        assert ahead["local-b"]["decision"]["action"] == "hold"
        assert platform.processes(REGION, "blue") == 2
        assert platform.supervisor.info("gateway-local-a-blue-2").state in ("STARTING", "RUNNING")
        ports = platform.layout.region(REGION).processes("blue")
        assert lp.router.servers(REGION)["blue"] == ports[:2]
        assert lp.router.loaded_state().colors[REGION] == {"blue": 100, "green": 0}  # weights unchanged
        # Both processes take the region's traffic, and Prometheus scrapes both.
        router = platform.layout.url(platform.layout.region(REGION).router)
        for _ in range(40):
            subprocess.run(["curl", "-sf", "-o", "/dev/null", f"{router}/version"], check=True, timeout=10)
        served = 'count(sum by (instance) (streamgate_http_requests_total{region="local-a", color="blue", route="/version"}) > 0)'
        lp.wait_for(served, lambda v: v == 2, timeout=30)
        # A rollout's deploy restarts every process of the color with the new version.
        stable = platform.cfg.workload.tag
        platform.deploy(REGION, "blue", f"{stable}-next")
        versions = {
            json.loads(urlopen(f"{platform.layout.url(port)}/version", timeout=5).read())["version"]
            for port in ports[:2]
        }
        assert versions == {f"{stable}-next"} and platform.processes(REGION, "blue") == 2
        platform.deploy(REGION, "blue", stable)

        replay = cli(env, "replay", "--peak-in-hours", "-4", "--peak-pods", "1.8", "--json")
        assert replay.returncode == 0, replay.stderr
        behind = decisions(cli(env, "apply", "--json"))
        assert behind[REGION]["decision"]["action"] == "lower" and behind[REGION]["decision"]["target"] == 1
        assert platform.processes(REGION, "blue") == 1
        assert "gateway-local-a-blue-2" not in platform.supervisor.processes()
        assert lp.router.servers(REGION)["blue"] == ports[:1]
        lp.wait_for(
            'count(up{job="streamgate-gateway", region="local-a", color="blue"})',
            lambda v: v == 1,
            timeout=30,
        )
    finally:
        if platform.processes(REGION, "blue") != 1:
            platform.set_processes(REGION, "blue", 1)
        from infra.automation.scale.replay import delete_synthetic

        delete_synthetic(platform)
