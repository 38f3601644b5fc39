"""Alerts reach people: each cloud stack's Alertmanager config (as its clusters get it) routes pages to
PagerDuty and tickets to Slack, with the keys read from mounted files. amtool checks and routes it; a real
Alertmanager, given the config with the integrations' endpoints pointed at a local receiver, delivers a page
and a ticket carrying the keys from the files and the runbook links."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.alerts.alertmanager import (
    PAGERDUTY_KEY,
    RECEIVER_SECRET,
    SLACK_KEY,
    alertmanager_config,
    alertmanager_document,
    receiver_files,
)
from infra.config import load_stack
from tests.alerts.test_alertmanager import _alert, _request, binary
from tests.servers import HttpReceiver, alertmanager_server, http_receiver

CLOUD_STACKS = ["dev", "staging", "prod"]
RELEASE = "kubernetes:helm.sh/v3:Release"


def render(stack: str, keys: Path) -> Path:
    """The stack's config with its key files under `keys` (in a cluster: the mounted Secret)."""
    keys.mkdir(parents=True, exist_ok=True)
    (keys / PAGERDUTY_KEY).write_text("pagerduty-routing-key-for-tests")
    (keys / SLACK_KEY).write_text("http://127.0.0.1:9/slack")
    path = keys.parent / f"{stack}.yml"
    path.write_text(alertmanager_config(load_stack(stack), receiver_files(load_stack(stack), str(keys))))
    return path


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_amtool_accepts_each_stacks_config_and_routes_pages_and_tickets(stack: str, tmp_path: Path) -> None:
    cfg = load_stack(stack)
    path = render(stack, tmp_path / "keys")
    check = subprocess.run([binary("amtool"), "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    doc = yaml.safe_load(path.read_text())
    receivers = {r["name"]: r for r in doc["receivers"]}
    team = cfg.alerts.team
    for severity in ("page", "ticket"):
        routed = subprocess.run(
            [binary("amtool"), "config", "routes", "test", f"--config.file={path}", f"team={team}",
             f"severity={severity}"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert routed.returncode == 0 and routed.stdout.strip() == f"{team}-{severity}", routed
    page, ticket = receivers[f"{team}-page"], receivers[f"{team}-ticket"]
    assert ticket["slack_configs"][0]["channel"] == cfg.alerts.receivers.slack.channel  # type: ignore[union-attr]
    assert ("pagerduty_configs" in page) == (cfg.alerts.receivers.pagerduty is not None)
    assert "slack_configs" in page  # a page is also posted to the channel
    assert "webhook_configs" not in str(receivers[f"{team}-info"])  # info notifies no one
    # No key in the config itself: only the files the Secret provides.
    text = path.read_text()
    assert "routing_key:" not in text and "api_url:" not in text


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_each_cluster_gets_the_config_and_its_keys(plan_of: Any, stack: str) -> None:
    cfg, plan = load_stack(stack), plan_of(stack)
    for region in cfg.regions:
        (release,) = [
            r
            for r in plan.of_type(RELEASE)
            if r.region == region.name and r.inputs["name"] == "kube-prometheus-stack"
        ]
        alertmanager = release.inputs["values"]["alertmanager"]
        assert alertmanager["config"] == json.loads(
            json.dumps(alertmanager_document(cfg, receiver_files(cfg)))
        )
        assert alertmanager["alertmanagerSpec"]["secrets"] == [RECEIVER_SECRET]
        (secret,) = [
            s
            for s in plan.of_type("kubernetes:core/v1:Secret")
            if s.region == region.name and s.inputs["metadata"]["name"] == RECEIVER_SECRET
        ]
        assert secret.inputs["metadata"]["namespace"] == "monitoring"
        assert secret.inputs["stringData"] == "[secret]"


def test_a_real_alertmanager_pages_pagerduty_and_tickets_slack(tmp_path: Path) -> None:
    with http_receiver() as receiver:  # stands in for PagerDuty's Events API and a Slack webhook
        deliver(tmp_path, receiver)
    check_deliveries(receiver.received)


def deliver(tmp_path: Path, receiver: HttpReceiver) -> None:
    """Fire a page and a ticket at a real Alertmanager running the prod config; wait for 3 deliveries."""
    cfg, url = load_stack("prod"), receiver.url
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / PAGERDUTY_KEY).write_text("routing-key-from-the-secret")
    (keys / SLACK_KEY).write_text(f"{url}/slack")
    doc = alertmanager_document(cfg, receiver_files(cfg, str(keys)))
    for r in doc["receivers"]:  # the one change: PagerDuty's Events API is the local receiver
        for pd in r.get("pagerduty_configs", []):
            pd["url"] = f"{url}/pagerduty"
    for timing in (doc["route"], *doc["route"]["routes"], *doc["route"]["routes"][0]["routes"]):
        timing["group_wait"] = "0s"
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(doc))
    page = _alert("StreamgateGatewayDown", region="eu-west-1", severity="page", impact="region")
    ticket = _alert("StreamgateBackupTooOld", region="us-east-1", severity="ticket", impact="platform")
    for alert, name in ((page, "StreamgateGatewayDown"), (ticket, "StreamgateBackupTooOld")):
        alert["annotations"] = {
            "summary": f"{name} summary",
            "description": f"{name} description",
            "runbook_url": f"{cfg.alerts.runbook_base_url}/{name}.md",
        }
    with alertmanager_server(config, tmp_path / "data") as alertmanager:
        _request(f"{alertmanager}/api/v2/alerts", [page, ticket])
        deadline = time.monotonic() + 20
        while len(receiver.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)


def check_deliveries(received: list[tuple[str, Any]]) -> None:
    cfg = load_stack("prod")
    runbook = f"{cfg.alerts.runbook_base_url}/StreamgateGatewayDown.md"
    by_path: dict[str, list[dict[str, Any]]] = {}
    for path, body in received:
        by_path.setdefault(path, []).append(body)
    (event,) = by_path["/pagerduty"]  # the page, once, to PagerDuty
    assert event["routing_key"] == "routing-key-from-the-secret" and event["event_action"] == "trigger"
    assert event["payload"]["severity"] == cfg.alerts.receivers.pagerduty.severity  # type: ignore[union-attr]
    assert {"href": runbook, "text": "Runbook"} in event["links"]
    slack = {m["attachments"][0]["title"]: m for m in by_path["/slack"]}  # the page's copy and the ticket
    assert set(slack) == {
        "[FIRING] StreamgateGatewayDown in eu-west-1",
        "[FIRING] StreamgateBackupTooOld in us-east-1",
    }
    for message in slack.values():
        assert message["channel"] == cfg.alerts.receivers.slack.channel  # type: ignore[union-attr]
    assert (
        f"Runbook: {runbook}"
        in slack["[FIRING] StreamgateGatewayDown in eu-west-1"]["attachments"][0]["text"]
    )
