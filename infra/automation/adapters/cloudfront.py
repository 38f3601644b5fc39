"""CloudFront as a region Router: the order of the `regional-failover` origin group and the origin of the
default behavior (writes cannot go through an origin group), as `infra/aws/cdn.py` declares them.

Failing over to a region puts it first in the group (the previous first becomes its fallback) and makes
it the default behavior's origin; one `UpdateDistribution` with the ETag just read (If-Match), so a
concurrent change is refused rather than overwritten. Weights: 100 for the group's first member.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from infra.automation.adapters import in_thread, one_backend
from infra.automation.errors import RouterError

GROUP_ID = "regional-failover"


def reorder(config: dict[str, Any], target: str, group_id: str = GROUP_ID) -> bool:
    """Make `target` the group's primary and the default origin, in place; False when it already is."""
    origins = [o["Id"] for o in config["Origins"]["Items"]]
    if target not in origins:
        raise RouterError(f"cloudfront: no origin {target!r} (origins: {origins})")
    changed = False
    for group in config.get("OriginGroups", {}).get("Items", []) or []:
        if group["Id"] != group_id:
            continue
        members = [m["OriginId"] for m in group["Members"]["Items"]]
        if members[0] != target:
            fallback = members[0]
            group["Members"]["Items"] = [{"OriginId": target}, {"OriginId": fallback}]
            group["Members"]["Quantity"] = 2
            changed = True
    if config["DefaultCacheBehavior"]["TargetOriginId"] != target:
        config["DefaultCacheBehavior"]["TargetOriginId"] = target
        changed = True
    return changed


def primary_of(config: dict[str, Any], group_id: str = GROUP_ID) -> str:
    for group in config.get("OriginGroups", {}).get("Items", []) or []:
        if group["Id"] == group_id:
            return str(group["Members"]["Items"][0]["OriginId"])
    return str(config["DefaultCacheBehavior"]["TargetOriginId"])


class CloudFrontOriginRouter:
    def __init__(self, client: Any, distribution_id: str, regions: list[str]) -> None:  # boto3 CloudFront
        self.client = client
        self.distribution_id = distribution_id
        self.regions = list(regions)
        self.name = f"cloudfront {distribution_id}"

    def _read(self) -> tuple[dict[str, Any], str]:
        response = self.client.get_distribution_config(Id=self.distribution_id)
        return dict(response["DistributionConfig"]), response["ETag"]

    def _write(self, target: str) -> None:
        config, etag = self._read()
        if reorder(config, target):
            self.client.update_distribution(
                Id=self.distribution_id,
                IfMatch=etag,
                DistributionConfig=config,
            )

    async def get_weights(self) -> dict[str, int]:
        try:
            config, _ = await asyncio.to_thread(self._read)
        except Exception as exc:
            raise RouterError(f"{self.name}: cannot read the distribution: {exc}") from exc
        first = primary_of(config)
        return {r: (100 if r == first else 0) for r in self.regions}

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        primary = one_backend(weights, self.regions, self.name)  # an origin group has one primary
        await in_thread(f"{self.name}: cannot update the distribution", self._write, primary)

    async def verify(self, weights: Mapping[str, int]) -> bool:
        return await self.get_weights() == {r: weights.get(r, 0) for r in self.regions}
