"""The rule definitions: burn-rate maths, required labels and annotations, runbooks, input validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.alerts import AlertsError, UnknownRegionError, definitions, rule_groups
from infra.alerts.model import AlertRule, Impact, Severity
from infra.alerts.promql import Scope, duration, number
from infra.alerts.slo import Slo, bucket_label
from infra.config import ConfigError, SloConfig, load_stack, parse_stack
from tests.alerts.conftest import stacks

RUNBOOKS = Path(__file__).resolve().parents[2] / "infra" / "alerts" / "runbooks"
COMMAND = re.compile(
    r"streamgate (rollout (status|abort|promote) --stack|failover (plan|run) --stack \S+ --to|"
    r"backup (create|verify|list) --stack|local (status|logs)|scale (forecast|apply) --stack)"
)


def test_workbook_factors_for_a_30_day_window() -> None:
    tiers = Slo("availability", 0.999, 30).tiers()
    assert [(duration(t.window.long_seconds), duration(t.window.short_seconds)) for t in tiers] == [
        ("1h", "5m"),
        ("6h", "30m"),
        ("1d", "2h"),
        ("3d", "6h"),
    ]
    assert [round(t.factor, 9) for t in tiers] == [14.4, 6, 3, 1]
    assert [t.window.severity for t in tiers] == [
        Severity.PAGE,
        Severity.PAGE,
        Severity.TICKET,
        Severity.TICKET,
    ]
    assert [number(t.threshold) for t in tiers] == ["0.0144", "0.006", "0.003", "0.001"]


def test_other_windows_keep_the_budget_shares() -> None:
    # 28 days: 2% of the budget in 1h is 0.02 * 28 * 24 = 13.44x; the slowest tier never drops below 1x.
    tiers = Slo("latency", 0.99, 28, 0.3).tiers()
    assert [round(t.factor, 9) for t in tiers] == [13.44, 5.6, 2.8, 1.0]
    # 7 days: 10% in 1d is 0.7x, floored to 1x; 2 days: the 3d tier cannot exist.
    assert [round(t.factor, 9) for t in Slo("availability", 0.999, 7).tiers()] == [3.36, 1.4, 1.0, 1.0]
    assert [duration(t.window.long_seconds) for t in Slo("availability", 0.999, 2).tiers()] == [
        "1h",
        "6h",
        "1d",
    ]


def test_tiers_that_need_more_than_all_requests_to_fail_are_left_out() -> None:
    # a 90% objective: 14.4x of a 10% budget is 144% errors, impossible
    assert [round(t.factor, 9) for t in Slo("availability", 0.9, 30).tiers()] == [6, 3, 1]


def test_latency_objective_must_be_a_histogram_bucket() -> None:
    assert bucket_label(0.3) == "0.3"
    assert bucket_label(1) == "1.0"  # as the Python client writes `le`
    cfg = load_stack("prod")
    odd = cfg.model_copy(update={"slo": SloConfig(latency_objective_seconds=0.2)})
    with pytest.raises(AlertsError, match=r"latencyObjectiveSeconds: 0.2 is not a bucket"):
        rule_groups(odd)


def test_unknown_region_is_refused() -> None:
    with pytest.raises(UnknownRegionError, match="us-west-2"):
        rule_groups(load_stack("prod"), "us-west-2")


def test_durations_and_numbers_render_as_prometheus_reads_them() -> None:
    assert [duration(s) for s in (300, 3600, 86400, 23400, 90, 0)] == [
        "5m",
        "1h",
        "1d",
        "6h30m",
        "1m30s",
        "0s",
    ]
    assert number(14.4 * (1 - 0.999)) == "0.0144"
    assert number(1e-7) == "1e-07"


@pytest.mark.parametrize("stack", sorted(stacks()))
def test_every_alert_carries_severity_team_and_annotations(stack: str) -> None:
    cfg = stacks()[stack]
    for region in (None, cfg.regions[-1].name):
        groups = rule_groups(cfg, region)
        assert len({g["name"] for g in groups}) == len(groups)
        alerts = [r for g in groups for r in g["rules"] if "alert" in r]
        assert alerts
        for alert in alerts:
            labels, notes = alert["labels"], alert["annotations"]
            assert labels["severity"] in {"page", "ticket", "info"}
            assert labels["team"] == cfg.alerts.team
            assert labels["impact"] in {i.value for i in Impact}
            links = {"dashboard_url"} if cfg.alerts.dashboard_base_url else set()
            assert set(notes) == {"summary", "description", "runbook_url", *links}
            assert notes["runbook_url"] == f"{cfg.alerts.runbook_base_url}/{alert['alert']}.md"
            if links:
                assert notes["dashboard_url"].startswith(f"{cfg.alerts.dashboard_base_url}/d/")
            text = notes["summary"] + notes["description"]
            # names the region: a label per cluster is a literal, else the template reads it
            assert (region or "{{ $labels.region }}") in text
            if region is not None:
                assert labels["region"] == region
                assert "$labels.region" not in text  # exporters' samples have no region label in a cluster
            # names the version: its own label, or the versions serving in the region
            if "version" not in labels and not alert["alert"].startswith(
                ("StreamgateRedis", "StreamgateBackup")
            ):
                assert "$labels.version" in text or "streamgate_build_info" in text, alert["alert"]


def test_alert_names_and_runbooks_match_one_to_one() -> None:
    names = {a.name for cfg in stacks().values() for g in definitions(cfg) for a in g.alerts}
    assert len(names) == 18
    assert {p.stem for p in RUNBOOKS.glob("*.md")} == names


@pytest.mark.parametrize("runbook", sorted(RUNBOOKS.glob("*.md")), ids=lambda p: p.stem)
def test_runbooks_say_what_it_means_how_to_confirm_and_what_to_run(runbook: Path) -> None:
    text = runbook.read_text()
    assert text.startswith(f"# {runbook.stem}\n")
    for section in ("## What it means", "## Confirm", "## What to do"):
        assert section in text
    assert "```promql" in text
    assert COMMAND.search(text), "names no streamgate command"


def test_annotation_fields_must_be_labels_of_the_expression() -> None:
    with pytest.raises(AlertsError, match=r"fields \['rollout'\]"):
        AlertRule(
            name="StreamgateExample",
            expr="vector(1)",
            severity=Severity.INFO,
            impact=Impact.PLATFORM,
            summary="{rollout} in {region}",
            description="",
            output_labels=("region",),
        )
    with pytest.raises(AlertsError, match="set by the renderer"):
        AlertRule(
            "StreamgateExample", "vector(1)", Severity.INFO, Impact.PLATFORM, "", "", ("region", "team")
        )
    with pytest.raises(AlertsError, match="must carry the region"):
        AlertRule("StreamgateExample", "vector(1)", Severity.INFO, Impact.PLATFORM, "", "", ("instance",))


def test_hpa_rules_only_where_kube_state_metrics_runs() -> None:
    aws = {g.name for g in definitions(load_stack("prod"))}
    local = {g.name for g in definitions(stacks()["local"])}
    assert "streamgate-autoscaling" in aws
    assert "streamgate-autoscaling" not in local
    assert aws - local == {"streamgate-autoscaling"}


def test_per_cluster_selectors_match_only_their_region() -> None:
    scope = Scope(load_stack("prod"), "eu-west-1")
    assert scope.labelled("streamgate_http_requests_total", status_class="5xx") == (
        'streamgate_http_requests_total{status_class="5xx", region="eu-west-1"}'
    )
    assert scope.unlabelled("redis_master_link_up") == "redis_master_link_up"
    assert scope.absent_per_region("up", labelled=False, job="g") == 'absent(up{job="g"})'
    everywhere = Scope(load_stack("staging"))
    assert everywhere.absent_per_region("up", labelled=False, job="g") == (
        'absent(up{job="g", region="us-east-1"}) or absent(up{job="g", region="eu-west-1"})'
    )


def test_new_alert_thresholds_are_validated_with_the_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    doc = {
        "config": {
            "streamgate:environment": "dev",
            "streamgate:domain": "dev.streamgate.example.com",
            "streamgate:regions": [{"name": "us-east-1"}],
            "streamgate:alerts": {
                "team": "Video Edge",
                "eventsShedRatio": 2,
                "runbookBaseUrl": "https://x.example/",
            },
        }
    }
    with pytest.raises(ConfigError) as err:
        parse_stack("bad", doc, path)
    message = str(err.value)
    assert "streamgate:alerts.team: 'Video Edge' is not a team name" in message
    assert "streamgate:alerts.eventsShedRatio" in message
    assert "streamgate:alerts.runbookBaseUrl" in message
