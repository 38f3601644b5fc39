"""Continuous profiling and production debugging on the local platform, end to end: every gateway's agent
pushes tagged profiles to the profile receiver, a CPU hot spot planted in one color shows at the top of
`streamgate profile diff`, and `streamgate debug` arms a probe whose snapshots come back through the edge."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.cli import add_groups, app
from infra.local.gateway import request
from tests.local_platform import RunningPlatform

REGION = "local-a"
HOT_SPOT = "burn_cpu (runtime/service/faults.py)"


@pytest.fixture
def cli_env(lp: RunningPlatform, monkeypatch: pytest.MonkeyPatch) -> RunningPlatform:
    monkeypatch.setenv("STREAMGATE_LOCAL_STATE_DIR", str(lp.platform.paths.root))
    add_groups(["profile", "debug"])
    return lp


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


def load(urls: list[str], seconds: float) -> None:
    """Bounded GET loops against each URL, in threads; returns when all are done."""

    def loop(url: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    answer.read()
            except OSError:
                time.sleep(0.05)

    threads = [threading.Thread(target=loop, args=(u,), daemon=True) for u in urls for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 10)


@pytest.fixture
def planted_hot_spot(cli_env: RunningPlatform) -> Iterator[str]:
    """2 ms of CPU per request in local-a's green gateway (the canary), through its admin API."""
    lp = cli_env
    green = lp.gateway(REGION, "green")
    faults = "/v1/admin/faults"
    lp.admin.put(faults, json.dumps({"cpu_seconds": 0.002}).encode(), "application/json", base_url=green)
    try:
        yield green
    finally:
        lp.admin.put(faults, json.dumps({"cpu_seconds": 0}).encode(), "application/json", base_url=green)


def test_profile_diff_shows_a_hot_spot_planted_in_the_canary(
    cli_env: RunningPlatform, planted_hot_spot: str, tmp_path: Path
) -> None:
    lp = cli_env
    segment = lp.platform.sample.path(lp.platform.sample.segments[0])
    blue = lp.gateway(REGION, "blue")
    started = time.time()
    load([f"{blue}{segment}", f"{planted_hot_spot}{segment}"], seconds=14)
    time.sleep(11)  # the agents push every 10 s

    groups = invoke("profile", "list", "--stack", "local", "--since", "10m", "--json")
    tagged = {(g["region"], g["color"]) for g in groups}
    assert {(r, c) for r in ("local-a", "local-b") for c in ("blue", "green")} <= tagged
    assert all(g["version"] for g in groups)
    recent = [g for g in groups if g["region"] == REGION and g["last"] >= started]
    assert {g["color"] for g in recent} == {"blue", "green"}

    out = tmp_path / "diff.html"
    diff = invoke(
        "profile", "diff", "--stack", "local", "--region", REGION, "--since", "1m",
        "--base", "color=blue", "--target", "color=green", "--out", str(out), "--json",
    )  # fmt: skip
    top = diff["changes"][0]
    assert top["function"] == HOT_SPOT, diff["changes"][:5]
    assert top["delta_self_share"] > 0.2 and top["base_self_share"] == 0
    page = out.read_text()
    assert "<svg" in page and "burn_cpu" in page

    graph = tmp_path / "green.svg"
    shown = invoke(
        "profile", "show", "--stack", "local", "--region", REGION, "--color", "green", "--since", "1m",
        "--out", str(graph), "--json",
    )  # fmt: skip
    assert shown["functions"][0]["function"] == HOT_SPOT
    assert graph.read_text().startswith("<svg")


def test_a_probe_armed_with_the_cli_captures_snapshots_through_the_edge(cli_env: RunningPlatform) -> None:
    lp = cli_env
    invoke("debug", "probe", "clear", "--stack", "local")
    armed = invoke(
        "debug", "probe", "set", "cache_miss", "--stack", "local", "--when", 'startswith(key, "v1/content/probe-")',
        "--hits", "3", "--ttl", "120", "--rate", "5", "--json",
    )  # fmt: skip
    assert armed["armed"]["condition"] == 'startswith(key, "v1/content/probe-")'
    time.sleep(1.5)  # every gateway applies the arming within a second
    for n in range(2):
        status, _ = request("GET", f"{lp.edge}/v1/content/probe-{n}/manifest")
        assert status == 404
    deadline = time.monotonic() + 10
    kept: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(kept) < 2:
        kept = invoke("debug", "probe", "snapshots", "cache_miss", "--stack", "local", "--json")
        time.sleep(0.3)
    assert len(kept) == 2
    assert {s["values"]["key"] for s in kept} == {
        "v1/content/probe-0/manifest",
        "v1/content/probe-1/manifest",
    }
    assert all(s["request_id"] and len(s["request_id"]) == 32 for s in kept)  # the edge's X-Request-Id
    listed = invoke("debug", "probe", "list", "--stack", "local", "--json")
    assert next(p for p in listed if p["name"] == "cache_miss")["armed"]["hits"] == 2
    cleared = invoke("debug", "probe", "clear", "cache_miss", "--stack", "local", "--json")
    assert cleared["cleared"] == ["cache_miss"]


def test_a_debug_token_gets_server_timing_from_a_gateway(cli_env: RunningPlatform) -> None:
    lp = cli_env
    token = invoke("debug", "token", "--stack", "local", "--ttl", "120", "--json")["token"]
    manifest = lp.platform.sample.path("master.m3u8")
    url = f"{lp.gateway(REGION, 'blue')}{manifest}"
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"X-StreamGate-Debug": token}), timeout=5
    ) as answer:
        timing = answer.headers["Server-Timing"]
    names = [part.split(";")[0].strip() for part in timing.split(",")]
    assert names[0] == "ratelimit" and "l1" in names and names[-1] == "total", timing
