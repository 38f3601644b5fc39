"""Which regions a backup command acts on, and what each one reads and writes (from the stack's target)."""

from __future__ import annotations

from infra.automation.adapters.backup_source import RegionBackup
from infra.automation.errors import InvalidInputError
from infra.automation.targets import Target
from infra.config import StackConfig


def regions_of(cfg: StackConfig, regions: list[str] | None) -> list[str]:
    names = [r.name for r in cfg.regions]
    unknown = sorted(set(regions or []) - set(names))
    if unknown:
        raise InvalidInputError(
            f"--region {', '.join(unknown)}: not a region of {cfg.stack} ({', '.join(names)})"
        )
    return list(regions) if regions else names


def targets(target: Target, regions: list[str] | None = None, *, redis: bool = True) -> list[RegionBackup]:
    return [target.backup(r, redis=redis) for r in regions_of(target.cfg, regions)]
