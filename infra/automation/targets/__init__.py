"""Where a stack runs, in one place per kind of target.

A `TargetKind` (kinds.py) states the facts the stack model needs before anything runs; `for_stack` builds
the kind's `Target`, the one object that supplies every adapter the automation drives: the local
platform's parts (`local.py`), or a cloud stack's resources as its Pulumi outputs name them (`aws.py`).
A new kind of target is a module here and one `register` call: nothing outside this package names a
target. A target's own module is imported only when it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from infra.automation.targets.kinds import AWS, KINDS, LOCAL, TargetKind, kind_of
from infra.config import StackConfig, load_stack

if TYPE_CHECKING:
    from infra.automation.adapters import Deployer, MetricsProvider, Router
    from infra.automation.adapters.alertmanager import AlertmanagerAlerts
    from infra.automation.adapters.backup_source import RegionBackup
    from infra.automation.adapters.failover_ports import FailoverPorts
    from infra.automation.adapters.pushgateway import Pushgateway
    from infra.automation.adapters.state import StateStore
    from infra.automation.adapters.step_up import GatewayStepUp
    from infra.automation.scale.model import CapacityKnob
    from runtime.storage import ObjectStore


class Target(Protocol):
    cfg: StackConfig

    def metrics(self, region: str) -> MetricsProvider:
        """The Prometheus that scrapes `region`'s gateways."""

    def pushgateway(self, region: str, override: str | None = None) -> Pushgateway | None:
        """Where batch jobs acting on `region` push their metrics (`override`: a configured URL)."""

    def state_store(self) -> StateStore:
        """Where rollouts and failovers keep their state and locks."""

    def router(self, region: str) -> Router:
        """The router between `region`'s gateway colors (the one `rollout.router` names)."""

    def deployer(self, region: str) -> Deployer:
        """What runs a version on one of `region`'s colors."""

    def failover_ports(self) -> FailoverPorts:
        """The data store, traffic routers, health, capacity and smoke check of a regional failover."""

    def backup(self, region: str, *, redis: bool = True) -> RegionBackup:
        """What a backup of `region` reads and where it writes."""

    def bucket(self, name: str, region: str) -> ObjectStore:
        """Any bucket of the stack's object store in `region` (a restore target)."""

    def alerts(self, region: str) -> AlertmanagerAlerts:
        """The Alertmanager that notifies `region`'s alerts."""

    def notification_urls(self) -> dict[str, str]:
        """Channel → URL of the stack's notifications (they are secrets; see notify/wiring.py)."""

    def step_up(self) -> GatewayStepUp:
        """How an operator of the console steps up with MFA (InvalidInputError where it cannot)."""

    def capacity_knob(self, region: str) -> CapacityKnob:
        """What predictive scaling raises ahead of demand in `region` (an HPA's minReplicas, processes)."""


Outputs = str | Path | None  # a cloud stack's `pulumi stack output --json --show-secrets` file
Build = Callable[[StackConfig, Outputs], Target]


def _local(cfg: StackConfig, outputs: Outputs) -> Target:
    from infra.automation.targets.local import LocalTarget

    return LocalTarget(cfg)


def _aws(cfg: StackConfig, outputs: Outputs) -> Target:
    from infra.automation.targets.aws import AwsTarget
    from infra.outputs import load_outputs

    return AwsTarget(cfg, load_outputs(cfg, outputs))


BUILDERS: dict[str, Build] = {LOCAL.name: _local, AWS.name: _aws}


def register(kind: TargetKind, build: Build) -> TargetKind:
    """Make `kind` a valid `target:` of stack files, built by `build` (its name must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"target {kind.name!r} is registered already")
    KINDS[kind.name], BUILDERS[kind.name] = kind, build
    return kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)
    BUILDERS.pop(name, None)


def for_stack(cfg: StackConfig, outputs: Outputs = None) -> Target:
    """The target of `cfg`'s stack, built once per command."""
    kind_of(cfg.target)  # a KeyError naming the known kinds
    return BUILDERS[cfg.target](cfg, outputs)


def stack_target(stack: str, outputs: Outputs = None) -> Target:
    """The target of the stack named on a command line (its file in stacks/, checked as it loads)."""
    return for_stack(load_stack(stack), outputs)


__all__ = [
    "KINDS",
    "Outputs",
    "Target",
    "TargetKind",
    "for_stack",
    "kind_of",
    "register",
    "stack_target",
    "unregister",
]
