"""The CPU side of a rollout's post-mortem: the canary's profiles against the stable version's, over the
rollout's own time window in its region (what `streamgate rollout report` shows beside its checks)."""

from __future__ import annotations

from typing import Any

from infra.errors import StreamgateError
from infra.profiles.store import Selection

TOP = 5
MARGIN_SECONDS = 15.0  # profiles are pushed every 10 s: the last push covers time before it


def canary_cpu_diff(
    stack: str, region: str, stable: str, canary: str, since: float, until: float
) -> dict[str, Any]:
    """The functions whose share of CPU grew most in `canary` against `stable`, or why there is no diff
    (cloud stacks keep profiles in Pyroscope; no profiles of one side in the window)."""
    from infra.profiles.cli import diff_profiles, store_for

    base = Selection(region=region, version=stable, since=since, until=until + MARGIN_SECONDS)
    target = Selection(region=region, version=canary, since=since, until=until + MARGIN_SECONDS)
    try:
        _, _, changes, base_count, target_count = diff_profiles(store_for(stack), base, target)
    except StreamgateError as exc:
        return {"available": False, "reason": str(exc)}
    return {
        "available": True,
        "base": base.describe(),
        "target": target.describe(),
        "base_profiles": base_count,
        "target_profiles": target_count,
        "top_changes": [c.to_json() for c in changes[:TOP]],
        "command": (
            f"streamgate profile diff --stack {stack} --region {region} --base version={stable} "
            f"--target version={canary} --out cpu-diff.html"
        ),
    }
