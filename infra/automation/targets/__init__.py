"""Where a stack runs, in one place per kind of target.

A `TargetKind` states a target's facts that the stack model and its checks need before anything runs (its
region names, the rollout routers it has, how often its gateways are scraped, whether the Pulumi program
declares it in the cloud); `for_stack` builds its `Target`, the one object that supplies every adapter the
automation drives: the local platform's parts (`local.py`), or a cloud stack's resources as its Pulumi
outputs name them (`aws.py`). A new kind of target is a module here and one `register` call: nothing
outside this package names a target.

This module stays light (the stack model reads its kinds while validating): a target's own module is imported
when it is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from infra.config import CLUSTER_SCRAPE_INTERVAL_SECONDS, StackConfig

if TYPE_CHECKING:
    from infra.automation.adapters import Deployer, MetricsProvider, Router
    from infra.automation.adapters.failover_ports import FailoverPorts
    from infra.automation.adapters.pushgateway import Pushgateway
    from infra.automation.adapters.state import StateStore
    from infra.automation.backup.backups import RegionBackup
    from infra.local.platform import LocalPlatform
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


Outputs = str | Path | None  # a cloud stack's `pulumi stack output --json --show-secrets` file


@dataclass(frozen=True)
class TargetKind:
    """What the stack model knows of a target before building it."""

    name: str
    regions: re.Pattern[str]  # the region names it accepts
    regions_example: str  # ... said in an error: "an AWS region such as us-east-1"
    routers: tuple[str, ...]  # `rollout.router` values it has; `auto` picks the first
    # Declared on AWS and Kubernetes by the Pulumi program: cloud checks (instance and node types, EKS
    # limits), required secrets, alert receivers and CloudFront's rules apply to it.
    cloud: bool
    scrape_interval_seconds: Callable[[StackConfig], int]  # of its gateways: analysis windows rely on it
    build: Callable[[StackConfig, Outputs], Target]
    # The platform whose processes run here, so that a drill may kill them (None: drills cannot run).
    drill_platform: Callable[[StackConfig], LocalPlatform] | None = None

    def router(self, configured: str) -> str:
        return self.routers[0] if configured == "auto" else configured


def _local(cfg: StackConfig, outputs: Outputs) -> Target:
    from infra.automation.targets.local import LocalTarget

    return LocalTarget(cfg)


def _local_platform(cfg: StackConfig) -> LocalPlatform:
    from infra.local.platform import LocalPlatform

    return LocalPlatform(cfg)


def _aws(cfg: StackConfig, outputs: Outputs) -> Target:
    from infra.automation.targets.aws import AwsTarget
    from infra.outputs import load_outputs

    return AwsTarget(cfg, load_outputs(cfg, outputs))


KINDS: dict[str, TargetKind] = {}


def register(kind: TargetKind) -> TargetKind:
    """Make `kind` a valid `target:` of stack files (its name must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"target {kind.name!r} is registered already")
    KINDS[kind.name] = kind
    return kind


LOCAL = register(
    TargetKind(
        name="local",
        regions=re.compile(r"^local-[a-z]$"),
        regions_example="local-a, local-b, ...",
        routers=("nginx",),
        cloud=False,
        scrape_interval_seconds=lambda cfg: cfg.local.scrape_interval_seconds,
        build=_local,
        drill_platform=_local_platform,
    )
)
AWS = register(
    TargetKind(
        name="aws",
        regions=re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$"),
        regions_example="an AWS region such as us-east-1",
        routers=("ingress-nginx", "route53"),
        cloud=True,
        scrape_interval_seconds=lambda cfg: CLUSTER_SCRAPE_INTERVAL_SECONDS,
        build=_aws,
    )
)


def kind_of(name: str) -> TargetKind:
    """The registered kind called `name`; KeyError names the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a target (known: {', '.join(sorted(KINDS))})") from None


def for_stack(cfg: StackConfig, outputs: Outputs = None) -> Target:
    """The target of `cfg`'s stack, built once per command."""
    return kind_of(cfg.target).build(cfg, outputs)
