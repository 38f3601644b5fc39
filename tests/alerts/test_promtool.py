"""The rendered rules pass `promtool check rules`, and promtool's unit tests: generated cases for every
alert of every rendered stack, plus hand-written ones (tests/alerts/promtool/) with literal expectations."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import yaml

from infra.alerts.render import prometheus_rule, to_yaml
from infra.config import load_stack
from tests.alerts.conftest import Rendered
from tests.alerts.scenarios import cases, rule_id

HANDWRITTEN = Path(__file__).parent / "promtool"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


def test_rule_files_pass_promtool_check_with_lint(promtool: str, rendered: Rendered, tmp_path: Path) -> None:
    # A PrometheusRule's spec is a plain rule file (promtool 2.42 cannot read the wrapper).
    spec = tmp_path / "prometheusrule-spec.yaml"
    spec.write_text(to_yaml(prometheus_rule(load_stack("prod"), "eu-west-1")["spec"]))
    result = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", *rendered.rule_files, spec)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(rendered.rule_files) + 1


def test_every_alert_has_a_firing_and_a_silent_case(rendered: Rendered) -> None:
    for tag, world in rendered.worlds.items():
        kinds: dict[object, set[bool]] = defaultdict(set)
        for case in cases(world):
            kinds[rule_id(case.rule)].add(case.fires)
        every = {rule_id(a) for g in world.groups for a in g.alerts}
        missing = {rid: {True, False} - kinds[rid] for rid in every if kinds[rid] != {True, False}}
        assert not missing, f"{tag}: alerts without a firing or silent case: {missing}"


def test_generated_promtool_unit_tests_pass(promtool: str, rendered: Rendered) -> None:
    # Two promtool processes (the machine has two cores); each test group costs promtool a fresh TSDB.
    files = rendered.generated_tests
    procs = [
        subprocess.Popen(
            [promtool, "test", "rules", *map(str, files[i::2])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-20000:]
    assert sum(o.count("SUCCESS") for o in outputs) == len(files)
    groups = sum(len(yaml.safe_load(p.read_text())["tests"]) for p in files)
    assert groups >= 40 * len(rendered.worlds)  # every world runs its full set


def test_handwritten_promtool_unit_tests_pass(promtool: str, rendered: Rendered) -> None:
    files = sorted(HANDWRITTEN.glob("*.yaml"))
    assert files
    for path in files:  # they name their rule file relative to themselves: the rendered prod-all file
        shutil.copy(path, rendered.dir / path.name)
    result = run(promtool, "test", "rules", *(rendered.dir / p.name for p in files))
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]


def test_promtool_cases_catch_a_wrong_threshold(promtool: str, rendered: Rendered, tmp_path: Path) -> None:
    """The harness can fail: the same generated cases against a rule file whose floor was edited."""
    source = rendered.dir / "prod-all.streamgate-cache.rules.yaml"
    broken = source.read_text().replace(
        "streamgate:cache_hit_ratio:ratio_rate5m < 0.5", "streamgate:cache_hit_ratio:ratio_rate5m < 0.2"
    )
    assert broken != source.read_text()
    (tmp_path / source.name).write_text(broken)
    test = rendered.dir / "prod-all.streamgate-cache.60s.test.yaml"
    shutil.copy(test, tmp_path / test.name)
    result = run(promtool, "test", "rules", tmp_path / test.name)
    assert result.returncode != 0
    assert "StreamgateCacheHitRatioCollapse" in result.stdout + result.stderr
