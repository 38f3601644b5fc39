"""What a rollout runs on in one region, from the stack's target (infra/automation/targets)."""

from __future__ import annotations

from infra.automation.errors import InvalidInputError
from infra.automation.rollout.controller import Adapters
from infra.automation.targets import Target
from infra.config import StackConfig


def region_of(cfg: StackConfig, region: str | None) -> str:
    names = [r.name for r in cfg.regions]
    if region is None:
        return names[0]
    if region not in names:
        raise InvalidInputError(f"--region {region}: not a region of stack {cfg.stack} ({', '.join(names)})")
    return region


def adapters(target: Target, region: str) -> Adapters:
    return Adapters(
        router=target.router(region),
        metrics=target.metrics(region),
        deployer=target.deployer(region),
        store=target.state_store(),
    )
