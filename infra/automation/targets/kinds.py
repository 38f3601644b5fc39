"""What the stack model knows of each kind of target before anything is built: its region names, the
rollout routers it has, how often its gateways are scraped, whether the Pulumi program declares it in the
cloud, whether a drill may kill its processes. Facts only, importing nothing of the project, so that the
stack model reads them while it validates (the objects that act are built in `targets/__init__.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.config import StackConfig

# The gateway PodMonitor's scrape interval on clusters (infra/k8s/observability.py renders it).
CLUSTER_SCRAPE_INTERVAL_SECONDS = 15


@dataclass(frozen=True)
class TargetKind:
    name: str
    regions: re.Pattern[str]  # the region names it accepts
    regions_example: str  # ... said in an error: "an AWS region such as us-east-1"
    routers: tuple[str, ...]  # `rollout.router` values it has; `auto` picks the first
    # Declared on AWS and Kubernetes by the Pulumi program: cloud checks (instance and node types, EKS
    # limits), required secrets, alert receivers and CloudFront's rules apply to it.
    cloud: bool
    scrape_interval_seconds: Callable[[StackConfig], int]  # of its gateways: analysis windows rely on it
    drills: bool = False  # its processes run on this machine: a drill may kill them

    def router(self, configured: str) -> str:
        return self.routers[0] if configured == "auto" else configured


LOCAL = TargetKind(
    name="local",
    regions=re.compile(r"^local-[a-z]$"),
    regions_example="local-a, local-b, ...",
    routers=("nginx",),
    cloud=False,
    scrape_interval_seconds=lambda cfg: cfg.local.scrape_interval_seconds,
    drills=True,
)
AWS = TargetKind(
    name="aws",
    regions=re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$"),
    regions_example="an AWS region such as us-east-1",
    routers=("ingress-nginx", "route53"),
    cloud=True,
    scrape_interval_seconds=lambda cfg: CLUSTER_SCRAPE_INTERVAL_SECONDS,
)
KINDS: dict[str, TargetKind] = {k.name: k for k in (LOCAL, AWS)}


def kind_of(name: str) -> TargetKind:
    """The registered kind called `name`; KeyError names the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a target (known: {', '.join(sorted(KINDS))})") from None
