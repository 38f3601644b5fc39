"""Pure failover planning: readiness checks and the ordered actions, from one observation of the system.

Nothing here does I/O. The actions are derived from what is observed, not from a script: a re-run after a
crash observes what the previous attempt already achieved and plans only what is left (Flagger's rule:
read the real state before acting). Invariant kept by every plan: never route traffic to zero healthy
regions (`routable`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from infra.automation.failover.model import (
    Action,
    Check,
    FailoverPlan,
    Mode,
    Observation,
    RegionHealth,
    StepId,
)
from infra.config import FailoverConfig

TITLES = {
    StepId.RAISE_CAPACITY: "raise the capacity floor of {region} to {floor}",
    StepId.FENCE: "pause writes on {region} (CLIENT PAUSE WRITE, at most {fence:.0f}s)",
    StepId.CATCH_UP: "wait until {region} has replicated every write",
    StepId.PROMOTE: "promote the data store of {region} to primary",
    StepId.REPOINT: "make the other members replicas of {region}; point the write endpoint at it",
    StepId.UNFENCE: "lift the write pause on {region}",
    StepId.SHIFT_TRAFFIC: "send all traffic to {region} (others on standby)",
    StepId.VERIFY: "smoke request through the edge, answered by {region}",
}


def routable(weights: Mapping[str, int], health: Mapping[str, RegionHealth]) -> bool:
    """The safety invariant: at least one healthy region keeps a weight above zero."""
    return any(w > 0 and r in health and health[r].healthy for r, w in weights.items())


def target_weights(regions: tuple[str, ...] | list[str], target: str) -> dict[str, int]:
    """All traffic to the target; every other region at 0 (a standby, as a failover record's secondary)."""
    return {r: (100 if r == target else 0) for r in regions}


def source_of(obs: Observation, target: str) -> str | None:
    """The current primary: the one reachable primary other than the target; when none answers, the region
    the target replicates from, else the region the write endpoint points at."""
    replication = obs.replication
    others = [r for r in replication.primaries if r != target]
    if len(others) == 1:
        return others[0]
    if replication.primary == target:
        return None
    node = replication.nodes.get(target)
    if node is not None and node.upstream and node.upstream != target:
        return node.upstream
    if replication.endpoint and replication.endpoint != target:
        return replication.endpoint
    return None


def capacity_floor(obs: Observation, source: str | None, target: str, ratio: float) -> int:
    """What the target must be able to serve: the old primary's ready capacity times the ratio, at least
    the target's own floor and 1 (the `capacity` check compares it with the target's maximum)."""
    tcap = obs.capacity.get(target)
    scap = obs.capacity.get(source) if source else None
    needed = math.ceil(scap.ready * ratio) if scap is not None else 0
    return max(needed, tcap.floor if tcap is not None else 0, 1)


def plan_failover(
    obs: Observation,
    target: str,
    mode: Mode,
    settings: FailoverConfig,
    *,
    allow_data_loss: bool = False,
) -> FailoverPlan:
    replication = obs.replication
    source = source_of(obs, target)
    node = replication.nodes.get(target)
    promoted = bool(node and node.reachable and node.role == "primary")
    weights_after = target_weights(obs.regions, target)
    floor = capacity_floor(obs, source, target, settings.capacity_ratio)
    checks: list[Check] = []

    checks.append(
        Check(
            "target-region",
            target in obs.regions,
            f"{target} is a region of {obs.stack}"
            if target in obs.regions
            else f"{target} is not a region of {obs.stack} ({', '.join(obs.regions)})",
        )
    )
    health = obs.health.get(target)
    checks.append(
        Check(
            "target-healthy",
            obs.healthy(target),
            f"{target}: {health.detail if health else 'no health data (counts as unhealthy)'}",
        )
    )
    checks.append(
        Check(
            "target-data-store",
            bool(node and node.reachable),
            f"{target}: {node.detail if node else 'no data store node known'}",
        )
    )
    primaries = replication.primaries
    if len(primaries) > 1:
        ok = target in primaries
        checks.append(
            Check(
                "split-brain",
                ok,
                f"several primaries answer ({', '.join(primaries)}): "
                + ("the others will be demoted to replicas of the target" if ok else "resolve it first"),
                blocking=not ok,
            )
        )

    lag_bytes = replication.lag_bytes(target, source) if source else None
    if not promoted and mode == "planned":
        snode = replication.nodes.get(source) if source else None
        checks.append(
            Check(
                "source-primary",
                bool(snode and snode.reachable and snode.role == "primary"),
                f"{source} answers as primary"
                if snode and snode.reachable and snode.role == "primary"
                else f"no reachable primary ({source or 'none known'} is down): a planned switchover needs it; "
                "for a dead region use --unplanned --allow-data-loss",
            )
        )
        link = bool(node and node.role == "replica" and node.upstream == source and node.link_up)
        checks.append(
            Check(
                "replication-link",
                link,
                f"{target} replicates from {source}, link up"
                if link
                else f"{target} is not a replica of {source} with its link up ({node.detail if node else '-'})",
            )
        )
        lag_seconds = node.lag_seconds if node else None
        if lag_bytes == 0:
            # It has replayed all the primary wrote: not behind, however old its last transaction (an
            # idle PostgreSQL replica's time lag is the age of the last write).
            lag_seconds = 0.0 if lag_seconds is not None else None
        # Self-managed Redis reports offsets (bytes), a managed service only seconds: judge what is known,
        # and count "nothing known" as too much lag.
        lag_ok = (
            (lag_bytes is not None or lag_seconds is not None)
            and (lag_bytes is None or lag_bytes <= settings.max_lag_bytes)
            and (lag_seconds is None or lag_seconds <= settings.max_lag_seconds)
        )
        checks.append(
            Check(
                "replication-lag",
                lag_ok,
                f"lag {_fmt_lag(lag_bytes, lag_seconds)} (limit {settings.max_lag_bytes} bytes, "
                f"{settings.max_lag_seconds:g}s)",
            )
        )
    if not promoted and mode == "unplanned":
        checks.append(
            Check(
                "data-loss-accepted",
                allow_data_loss,
                "--allow-data-loss given"
                if allow_data_loss
                else "an unplanned failover may lose the writes not yet replicated: add --allow-data-loss",
            )
        )
        snode = replication.nodes.get(source) if source else None
        if snode is not None and snode.reachable:
            checks.append(
                Check(
                    "source-down",
                    False,
                    f"{source} still answers: a planned switchover would lose nothing",
                    blocking=False,
                )
            )

    tcap = obs.capacity.get(target)
    checks.append(
        Check(
            "capacity",
            tcap is not None and tcap.maximum >= floor,
            f"{target} can serve {tcap.maximum}, needs {floor} ({tcap.detail})"
            if tcap is not None
            else f"{target}: no capacity data (counts as unable to absorb traffic)",
        )
    )
    checks.append(
        Check(
            "routing-invariant",
            routable(weights_after, obs.health),
            "after the shift a healthy region is routed"
            if routable(weights_after, obs.health)
            else "after the shift no healthy region would be routed",
        )
    )

    actions = _actions(obs, target, mode, source, promoted, floor, settings)
    if promoted:
        loss, loss_bytes = f"none: {target} is already the primary", 0
    elif mode == "planned":
        loss, loss_bytes = (
            f"none: writes are paused on {source} until {target} has replicated all of them "
            f"(lag now {_fmt_lag(lag_bytes, node.lag_seconds if node else None)})",
            0,
        )
    elif lag_bytes is not None:
        loss, loss_bytes = f"up to {lag_bytes} bytes of replication stream not yet on {target}", lag_bytes
    else:
        loss, loss_bytes = (
            f"the writes {source or 'the old primary'} accepted but had not replicated when it failed: "
            f"bounded by its replication lag before the outage (objective {settings.rpo_objective_seconds:g}s)",
            None,
        )
    return FailoverPlan(
        stack=obs.stack,
        mode=mode,
        source=source,
        target=target,
        checks=tuple(checks),
        actions=tuple(actions),
        expected_loss=loss,
        expected_loss_bytes=loss_bytes,
        weights_before=dict(obs.weights),
        weights_after=weights_after,
        capacity_floor=floor,
    )


def _actions(
    obs: Observation,
    target: str,
    mode: Mode,
    source: str | None,
    promoted: bool,
    floor: int,
    settings: FailoverConfig,
) -> list[Action]:
    replication = obs.replication
    repointed = all(
        n.role == "replica" and n.upstream == target
        for r, n in replication.nodes.items()
        if r != target and n.reachable
    ) and replication.endpoint in (None, target)
    shifted = obs.weights.get(target, 0) > 0 and all(w == 0 for r, w in obs.weights.items() if r != target)
    tcap = obs.capacity.get(target)
    capacity_ok = tcap is not None and tcap.ready >= floor and tcap.floor >= floor

    steps: list[tuple[StepId, str | None]] = []
    if not promoted:
        if mode == "planned":
            if not capacity_ok:
                steps.append((StepId.RAISE_CAPACITY, target))
            steps += [
                (StepId.FENCE, source),
                (StepId.CATCH_UP, target),
                (StepId.PROMOTE, target),
                (StepId.REPOINT, target),
                (StepId.UNFENCE, source),
            ]
        else:
            steps += [(StepId.PROMOTE, target), (StepId.REPOINT, target)]
            if not capacity_ok:
                steps.append((StepId.RAISE_CAPACITY, target))
    else:
        if not repointed:
            steps.append((StepId.REPOINT, target))
            snode = replication.nodes.get(source) if source else None
            if mode == "planned" and snode is not None and snode.reachable:
                # A run that stopped after promoting left the old primary fenced: lift it once demoted.
                steps.append((StepId.UNFENCE, source))
        if not capacity_ok:
            steps.append((StepId.RAISE_CAPACITY, target))
    if not shifted:
        steps.append((StepId.SHIFT_TRAFFIC, target))
    if steps:
        steps.append((StepId.VERIFY, target))
    return [
        Action(
            step,
            TITLES[step].format(region=region or "?", floor=floor, fence=settings.fence_timeout_seconds),
            region,
        )
        for step, region in steps
    ]


def _fmt_lag(lag_bytes: int | None, lag_seconds: float | None) -> str:
    parts = [f"{lag_bytes} bytes" if lag_bytes is not None else "unknown bytes"]
    if lag_seconds is not None:
        parts.append(f"{lag_seconds:g}s")
    return ", ".join(parts)
