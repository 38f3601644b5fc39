"""The Alertmanager config: valid for amtool, routes by team and severity, and a real Alertmanager
applies its inhibitions (a region-down alert mutes that region's service alerts, and no other region's)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.alerts import AlertsError
from infra.alerts.alertmanager import alertmanager_config
from infra.config import load_stack
from tests.servers import alertmanager_server, require_binary

TEAM = "streaming-platform"


def binary(name: str) -> str:
    return require_binary(name, "prometheus-alertmanager")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(
        alertmanager_config(
            load_stack("prod"),
            {
                f"{TEAM}-page": {
                    "webhook_configs": [{"url": "http://127.0.0.1:9/page", "send_resolved": True}]
                },
                f"{TEAM}-ticket": {"webhook_configs": [{"url": "http://127.0.0.1:9/ticket"}]},
            },
        )
    )
    return path


def test_amtool_accepts_the_config(config_file: Path) -> None:
    result = subprocess.run(
        [binary("amtool"), "check-config", str(config_file)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "2 inhibit rules" in result.stdout
    doc = yaml.safe_load(config_file.read_text())
    assert doc["receivers"][1] == {
        "name": f"{TEAM}-page",
        "webhook_configs": [{"url": "http://127.0.0.1:9/page", "send_resolved": True}],
    }


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"team": TEAM, "severity": "page"}, f"{TEAM}-page"),
        ({"team": TEAM, "severity": "ticket"}, f"{TEAM}-ticket"),
        ({"team": TEAM, "severity": "info"}, f"{TEAM}-info"),
        ({"team": TEAM}, f"{TEAM}-ticket"),  # no severity: the team's ticket queue
        ({"team": "someone-else", "severity": "page"}, "default"),
    ],
)
def test_routing_by_team_and_severity(config_file: Path, labels: dict[str, str], receiver: str) -> None:
    args = [f"{k}={v}" for k, v in labels.items()]
    result = subprocess.run(
        [binary("amtool"), "config", "routes", "test", f"--config.file={config_file}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver


def test_unknown_receiver_names_are_refused() -> None:
    with pytest.raises(AlertsError, match="unknown receivers"):
        alertmanager_config(load_stack("prod"), {"pager": {}})


def test_extra_teams_get_their_own_routes() -> None:
    doc = yaml.safe_load(alertmanager_config(load_stack("prod"), extra_teams=["data-platform"]))
    assert [r["matchers"] for r in doc["route"]["routes"]] == [['team="data-platform"'], [f'team="{TEAM}"']]
    assert "data-platform-page" in {r["name"] for r in doc["receivers"]}


@pytest.fixture
def alertmanager(config_file: Path, tmp_path: Path) -> Iterator[str]:
    with alertmanager_server(config_file, tmp_path) as url:
        yield url


def _alert(name: str, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "team": TEAM, **labels},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


def _request(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def test_a_real_alertmanager_inhibits_as_configured(alertmanager: str) -> None:
    burn = "StreamgateAvailabilityErrorBudgetBurn"
    alerts = [
        _alert("StreamgateGatewayDown", region="eu-west-1", severity="page", impact="region"),
        _alert(
            burn, region="eu-west-1", severity="page", impact="service", slo="availability", long_window="1h"
        ),
        _alert(
            "StreamgateCacheL2Errors",
            region="eu-west-1",
            severity="ticket",
            impact="service",
            version="1.4.2",
        ),
        _alert("StreamgateRedisReplicationLinkDown", region="eu-west-1", severity="page", impact="platform"),
        _alert(
            burn, region="us-east-1", severity="page", impact="service", slo="availability", long_window="1h"
        ),
        _alert(
            burn,
            region="us-east-1",
            severity="ticket",
            impact="service",
            slo="availability",
            long_window="1d",
        ),
    ]
    _request(f"{alertmanager}/api/v2/alerts", alerts)

    def states() -> dict[tuple[str, str, str], str]:
        got = _request(f"{alertmanager}/api/v2/alerts")
        return {
            (a["labels"]["alertname"], a["labels"]["region"], a["labels"]["severity"]): a["status"]["state"]
            for a in got
        }

    deadline = time.monotonic() + 10
    while len(states()) < len(alerts) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert states() == {
        ("StreamgateGatewayDown", "eu-west-1", "page"): "active",
        (burn, "eu-west-1", "page"): "suppressed",  # the region is down: nothing new
        ("StreamgateCacheL2Errors", "eu-west-1", "ticket"): "suppressed",
        ("StreamgateRedisReplicationLinkDown", "eu-west-1", "page"): "active",  # platform, not muted
        (burn, "us-east-1", "page"): "active",  # another region: not muted
        (burn, "us-east-1", "ticket"): "suppressed",  # the page of the same SLO covers the slow burn
    }
