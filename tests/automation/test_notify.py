"""Notifications (infra/automation/notify) delivered to a local HTTP receiver: Slack-compatible and JSON
payloads, in order per channel, retried with backoff on 5xx and transport errors (not on another 4xx),
never blocking the caller, the secret URL never in a message; the rollout and failover events they carry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.automation.errors import InvalidInputError
from infra.automation.failover.model import FailoverRecord, StepRecord
from infra.automation.failover.notifications import Notifying
from infra.automation.notify import wiring
from infra.automation.notify.channels import SlackChannel, WebhookChannel
from infra.automation.notify.dispatch import Dispatcher, Policy
from infra.automation.notify.model import Notification
from infra.automation.rollout.model import Phase, RolloutState
from infra.automation.rollout.notifications import listener
from infra.automation.targets import for_stack
from infra.config import PROJECT_ROOT, load_stack
from tests.automation.conftest import unused_url
from tests.servers import http_receiver

FAST = Policy(attempts=4, backoff_seconds=0.05, timeout_seconds=2)


def note(n: int, event: str = "rollout.step") -> Notification:
    return Notification(
        event=event, stack="prod", title=f"step {n}", summary="why", region="us-east-1", actor="ci"
    )  # type: ignore[arg-type]


def test_both_kinds_receive_every_event_in_order() -> None:
    with http_receiver() as slack, http_receiver() as hook:
        d = Dispatcher([SlackChannel(f"{slack.url}/slack"), WebhookChannel(f"{hook.url}/hook")], FAST)
        for n in range(10):
            d.notify(note(n))
        assert d.close(10) == []
    assert [body["sequence"] for _, body in hook.received] == list(range(1, 11))
    assert [body["title"] for _, body in hook.received] == [f"step {n}" for n in range(10)]
    first = hook.received[0][1]
    assert first["event"] == "rollout.step" and first["stack"] == "prod" and first["actor"] == "ci"
    assert first["severity"] == "info" and first["at"].endswith("Z") and len(first["id"]) == 32
    texts = [body["text"] for _, body in slack.received]
    assert texts == [f":large_blue_circle: *step {n}*\nwhy" for n in range(10)]
    assert slack.received[0][1]["blocks"][0]["text"]["text"] == texts[0]


def test_a_channel_hears_only_its_events() -> None:
    with http_receiver() as hook:
        channel = WebhookChannel(hook.url, events=frozenset({"rollout.rolled-back"}))
        d = Dispatcher([channel], FAST)
        d.notify(note(1))
        d.notify(note(2, "rollout.rolled-back"))
        assert d.close(10) == []
    assert [(b["title"], b["severity"]) for _, b in hook.received] == [("step 2", "error")]


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers() -> None:
    with http_receiver(status=503) as hook:
        d = Dispatcher([WebhookChannel(hook.url)], FAST)
        d.notify(note(1))
        d.notify(note(2))
        deadline = time.monotonic() + 10
        while len(hook.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        hook.status = 200  # the receiver recovers after two refused attempts
        assert d.close(10) == []
    titles = [b["title"] for _, b in hook.received]
    assert titles[:2] == ["step 1", "step 1"] and titles[-2:] == ["step 1", "step 2"]
    assert [(x.ok, x.attempts) for x in d.deliveries] == [(True, titles.count("step 1")), (True, 1)]


def test_a_receiver_that_refuses_is_not_retried_and_the_url_is_never_said() -> None:
    with http_receiver(status=404) as hook:
        url = f"{hook.url}/services/T000/B000/secret-token"
        d = Dispatcher([SlackChannel(url)], FAST)
        d.notify(note(1))
        problems = d.close(10)
    assert len(hook.received) == 1
    assert problems == ["rollout.step not delivered to slack after 1 attempt(s): HTTP 404"]


def test_notify_never_blocks_and_close_is_bounded() -> None:
    down = Dispatcher(
        [WebhookChannel(unused_url())], Policy(attempts=20, backoff_seconds=5, timeout_seconds=2)
    )
    started = time.monotonic()
    for n in range(50):
        down.notify(note(n))
    assert time.monotonic() - started < 0.1  # queued, not sent
    problems = down.close(0.5)
    assert time.monotonic() - started < 2
    assert problems and "not delivered within 0.5s" in problems[-1] and "127.0.0.1" not in "".join(problems)


def state(phase: Phase, weight: int) -> RolloutState:
    s = RolloutState("r1", "canary", "prod", "us-east-1", "1.2.0", "1.1.0", "blue", "green", [10, 100], 60, 3)
    s.phase, s.weight = phase, weight
    return s


def test_a_rollouts_records_become_its_notifications() -> None:
    with http_receiver() as hook:
        d = Dispatcher([WebhookChannel(hook.url)], FAST)
        notify = listener(d, "alice")
        s = state(Phase.PROGRESSING, 0)
        for event, phase, weight in [
            ("start", Phase.PENDING, 0),
            ("deployed", Phase.DEPLOYING, 0),
            ("advance", Phase.PROGRESSING, 10),
            ("hold", Phase.PROGRESSING, 10),
            ("rollback", Phase.ROLLED_BACK, 0),
        ]:
            s.phase, s.weight = phase, weight
            notify(s, s.record(event, f"{event} reason"))
        assert d.close(10) == []
    got = [(b["event"], b["data"]["weight"], b["summary"]) for _, b in hook.received]
    assert got == [
        ("rollout.started", 0, "start reason"),
        ("rollout.step", 10, "advance reason"),
        ("rollout.rolled-back", 0, "rollback reason"),
    ]
    assert hook.received[-1][1]["title"] == "canary 1.2.0 in prod/us-east-1 rolled-back"
    assert hook.received[-1][1]["severity"] == "error" and hook.received[0][1]["actor"] == "alice"


def test_a_failovers_begin_and_end_become_its_notifications() -> None:
    with http_receiver() as hook:
        d = Dispatcher([WebhookChannel(hook.url)], FAST)
        notifying = Notifying(d, "bob")
        ok = FailoverRecord.new("prod", "planned", "us-east-1", "eu-west-1")
        ok.outcome, ok.measured = "succeeded", {"rto_seconds": 4.2, "rpo_bytes": 0}
        bad = FailoverRecord.new("prod", "unplanned", "us-east-1", "eu-west-1")
        bad.steps.append(StepRecord("promote", "failed", 0, 1, "timeout"))
        bad.outcome, bad.error = "failed", "step failed: timeout"
        notifying.ended(ok)
        notifying.ended(bad)
        assert d.close(10) == []
    assert [(b["event"], b["severity"]) for _, b in hook.received] == [
        ("failover.ended", "info"),
        ("failover.failed", "error"),
    ]
    assert hook.received[0][1]["summary"] == "RTO 4.2 s, RPO 0 bytes"
    assert hook.received[1][1]["title"].endswith("FAILED at promote")


def local_stack_with(tmp_path: Path, notifications: dict[str, Any]) -> None:
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["streamgate:notifications"] = notifications
    (tmp_path / "Pulumi.local.yaml").write_text(yaml.safe_dump(document))


def test_a_configured_channel_needs_its_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(tmp_path))
    local_stack_with(tmp_path, {"slack": {}, "webhook": {"events": ["rollout.promoted"]}})
    target = for_stack(load_stack("local"))
    monkeypatch.delenv("STREAMGATE_NOTIFICATIONS_SLACK_URL", raising=False)
    monkeypatch.setenv("STREAMGATE_NOTIFICATIONS_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    with pytest.raises(InvalidInputError, match="export STREAMGATE_NOTIFICATIONS_SLACK_URL=<URL>") as info:
        wiring.dispatcher(target)
    assert info.value.exit_code == 2
    monkeypatch.setenv("STREAMGATE_NOTIFICATIONS_SLACK_URL", "http://127.0.0.1:9/slack")
    dispatcher = wiring.dispatcher(target)
    assert dispatcher is not None and dispatcher.close(0) == []


def test_cloud_stacks_require_the_notification_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.errors import ConfigError

    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["streamgate:notifications"] = {"webhook": {}}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    assert "notificationsWebhookUrl" in load_stack("dev", tmp_path / "Pulumi.dev.yaml").required_secrets
    with pytest.raises(ConfigError, match="streamgate:notificationsWebhookUrl: required secret is not set"):
        load_stack("dev", tmp_path / "Pulumi.dev.yaml", require_secrets=True)
    document["config"]["streamgate:notificationsWebhookUrl"] = "https://hooks.example.com/x"
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="must be a secret"):
        load_stack("dev", tmp_path / "Pulumi.dev.yaml")


def test_the_program_exports_the_urls_for_the_automation(tmp_path: Path) -> None:
    """A cloud stack's channels reach the automation as secret stack outputs (`--outputs`)."""
    from infra.automation.targets.aws import AwsTarget
    from infra.outputs import StackOutputs
    from infra.plan import PLACEHOLDER_SECRET, run_plan

    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["streamgate:notifications"] = {"slack": {}, "webhook": {}}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    cfg = load_stack("dev", tmp_path / "Pulumi.dev.yaml")
    plan = run_plan(cfg)
    outputs = StackOutputs.model_validate(plan.resolved_outputs)
    assert set(outputs.notification_urls) == {"slack", "webhook"}
    assert all(url.startswith(PLACEHOLDER_SECRET) for url in outputs.notification_urls.values())
    assert AwsTarget(cfg, outputs).notification_urls() == outputs.notification_urls
