"""One object per kind of target supplies every adapter the automation drives; it is chosen once per
command from the stack (`for_stack`): the local platform's parts, or a cloud stack's resources as its
Pulumi outputs name them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from infra.config import StackConfig

if TYPE_CHECKING:
    from infra.automation.adapters import Deployer, MetricsProvider, Router
    from infra.automation.adapters.failover_ports import FailoverPorts
    from infra.automation.adapters.pushgateway import Pushgateway
    from infra.automation.backup import RegionBackup
    from infra.automation.scale.model import CapacityKnob
    from infra.automation.state import StateStore
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
        """The router between `region`'s gateway colors."""

    def deployer(self, region: str) -> Deployer:
        """What runs a version on one of `region`'s colors."""

    def failover_ports(self) -> FailoverPorts:
        """The data store, traffic routers, health, capacity and smoke check of a regional failover."""

    def backup(self, region: str, *, redis: bool = True) -> RegionBackup:
        """What a backup of `region` reads and where it writes."""

    def bucket(self, name: str, region: str) -> ObjectStore:
        """Any bucket of the stack's object store in `region` (a restore target)."""

    def capacity_knob(self, region: str) -> CapacityKnob:
        """What predictive scaling raises ahead of demand in `region` (an HPA's minReplicas, processes)."""


def for_stack(cfg: StackConfig, outputs: str | Path | None = None) -> Target:
    """The target of `cfg`'s stack; `outputs`: a cloud stack's `pulumi stack output --json --show-secrets`."""
    if cfg.target == "local":
        from infra.automation.targets.local import LocalTarget

        return LocalTarget(cfg)
    from infra.automation.targets.aws import AwsTarget
    from infra.outputs import load_outputs

    return AwsTarget(cfg, load_outputs(cfg, outputs))
