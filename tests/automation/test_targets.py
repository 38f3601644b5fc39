"""A third kind of target is one registration in infra/automation/targets: the stack model, its checks and
the commands take it without another change. The fake target keeps its weights and versions in memory and
its state in files (the local store); nothing here edits a module outside targets/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from infra.automation import targets
from infra.automation.adapters import validate_weights
from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.adapters.state import LocalStateStore
from infra.automation.drill.cli import app as drill_app
from infra.automation.errors import InvalidInputError
from infra.automation.rollout.cli import app as rollout_app
from infra.config import PROJECT_ROOT, StackConfig, load_stack
from infra.errors import ConfigError

cli = CliRunner()


class MemoryRouter:
    name = "memory"

    def __init__(self) -> None:
        self.weights = {"blue": 100, "green": 0}

    async def get_weights(self) -> dict[str, int]:
        return dict(self.weights)

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        self.weights = validate_weights(weights, ("blue", "green"), self.name)

    async def verify(self, weights: Mapping[str, int]) -> bool:
        return self.weights == dict(weights)


class MemoryDeployer:
    def __init__(self) -> None:
        self.versions = {"blue": "v1"}

    async def deploy(self, color: str, version: str) -> None:
        self.versions[color] = version

    async def healthy(self, color: str, version: str) -> bool:
        return self.versions.get(color) == version

    async def running_version(self, color: str) -> str | None:
        return self.versions.get(color)

    async def expected_targets(self, color: str) -> int:
        return 1 if color in self.versions else 0

    async def retire(self, color: str) -> None:
        self.versions.pop(color, None)


class FakeTarget:
    routers: dict[str, MemoryRouter] = {}

    def __init__(self, cfg: StackConfig, root: Path) -> None:
        self.cfg, self.root = cfg, root

    def metrics(self, region: str) -> PrometheusMetrics:
        return PrometheusMetrics("http://127.0.0.1:9")  # never queried by the commands tested here

    def pushgateway(self, region: str, override: str | None = None) -> None:
        return None

    def state_store(self) -> LocalStateStore:
        return LocalStateStore(self.root)

    def router(self, region: str) -> MemoryRouter:
        return self.routers.setdefault(region, MemoryRouter())

    def deployer(self, region: str) -> MemoryDeployer:
        return MemoryDeployer()

    def failover_ports(self) -> None:
        raise InvalidInputError("the fake target has one region: nothing to fail over to")

    def backup(self, region: str, *, redis: bool = True) -> None:
        raise InvalidInputError("the fake target keeps nothing to back up")

    def bucket(self, name: str, region: str) -> None:
        raise InvalidInputError("the fake target has no buckets")


@pytest.fixture
def fake_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A `target: fake` stack beside the real ones, and the fake kind registered for the test only."""
    kind = targets.register(
        targets.TargetKind(
            name="fake",
            regions=re.compile(r"^fake-\d$"),
            regions_example="fake-1, fake-2, ...",
            routers=("memory",),
            cloud=False,
            scrape_interval_seconds=lambda cfg: 5,
        ),
        lambda cfg, outputs: FakeTarget(cfg, tmp_path / "state"),
    )
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    config = document["config"]
    config["streamgate:target"] = "fake"
    for i, region in enumerate(config["streamgate:regions"]):
        region["name"] = f"fake-{i + 1}"
    (stacks / "Pulumi.fake.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("STREAMGATE_STACKS_DIR", str(stacks))
    FakeTarget.routers = {}
    yield stacks
    targets.unregister(kind.name)


def _edit(stacks: Path, **config: object) -> None:
    path = stacks / "Pulumi.fake.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].update({f"streamgate:{k}": v for k, v in config.items()})
    path.write_text(yaml.safe_dump(document))


def test_the_stack_model_takes_the_new_kind_and_its_facts(fake_stacks: Path) -> None:
    cfg = load_stack("fake")
    assert cfg.kind.name == "fake" and cfg.required_secrets == ()
    assert isinstance(targets.for_stack(cfg), FakeTarget)
    _edit(fake_stacks, rollout={"router": "nginx"})
    with pytest.raises(ConfigError, match=r"nginx does not route target fake stacks \(auto or memory\)"):
        load_stack("fake")
    _edit(fake_stacks, rollout={}, regions=[{"name": "local-a", "vpcCidr": "10.90.0.0/16"}])
    with pytest.raises(ConfigError, match=r"'local-a' is not fake-1, fake-2"):
        load_stack("fake")


def test_commands_run_on_the_new_kind(fake_stacks: Path) -> None:
    status = cli.invoke(rollout_app, ["status", "--stack", "fake", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["live_weights"] == {"blue": 100, "green": 0}

    plan = cli.invoke(rollout_app, ["canary", "--stack", "fake", "--version", "v2", "--dry-run", "--json"])
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.stdout)
    assert planned["router"] == "memory" and planned["region"] == "fake-1"
    assert planned["stable"] == {"color": "blue", "version": "v1"}
    assert planned["candidate"] == {"color": "green", "version": "v2"}

    drill = cli.invoke(drill_app, ["failover", "--stack", "fake"])
    assert drill.exit_code == 2 and "local platform only" in drill.output


def test_an_unregistered_target_is_refused_with_the_known_ones(fake_stacks: Path) -> None:
    targets.unregister("fake")
    with pytest.raises(ConfigError, match=r"'fake' is not a target \(known: aws, local\)"):
        load_stack("fake")
