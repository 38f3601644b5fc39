"""Pure failover planning: readiness checks, ordered actions, expected loss and the routing invariant."""

from __future__ import annotations

from infra.automation.failover.model import (
    Capacity,
    NodeStatus,
    Observation,
    RegionHealth,
    Replication,
    StepId,
)
from infra.automation.failover.plan import plan_failover, routable, source_of
from infra.config import FailoverConfig

SETTINGS = FailoverConfig()
REGIONS = ("a", "b")


def observe(
    *,
    a: NodeStatus | None = None,
    b: NodeStatus | None = None,
    endpoint: str | None = "a",
    weights: dict[str, int] | None = None,
    healthy: dict[str, bool] | None = None,
    capacity: dict[str, Capacity] | None = None,
) -> Observation:
    a = a or NodeStatus("a", True, "primary", offset=1000)
    b = b or NodeStatus("b", True, "replica", upstream="a", link_up=True, offset=1000, lag_seconds=0)
    healthy = healthy or {"a": True, "b": True}
    return Observation(
        "test",
        REGIONS,
        Replication({"a": a, "b": b}, endpoint),
        {r: RegionHealth(r, ok, "probe") for r, ok in healthy.items()},
        weights or {"a": 100, "b": 0},
        capacity or {"a": Capacity("a", 2, 2, 2, "a caps"), "b": Capacity("b", 2, 2, 2, "b caps")},
    )


def ids(plan: object) -> list[str]:
    return [a.id.value for a in plan.actions]  # type: ignore[attr-defined]


def test_planned_switchover_orders_fence_before_promotion_and_loses_nothing() -> None:
    plan = plan_failover(observe(), "b", "planned", SETTINGS)
    assert plan.safe and plan.source == "a"
    assert ids(plan) == [
        "fence-writes",
        "catch-up",
        "promote",
        "repoint",
        "unfence",
        "shift-traffic",
        "verify",
    ]
    assert plan.expected_loss_bytes == 0 and plan.weights_after == {"a": 0, "b": 100}
    fence = plan.actions[0]
    assert fence.region == "a" and plan.actions[2].region == "b"


def test_planned_needs_a_live_primary_and_says_what_to_do_instead() -> None:
    dead = NodeStatus("a", False, detail="unreachable")
    b = NodeStatus("b", True, "replica", upstream="a", link_up=False, offset=900)
    plan = plan_failover(observe(a=dead, b=b), "b", "planned", SETTINGS)
    assert not plan.safe
    names = {c.name for c in plan.blockers}
    assert {"source-primary", "replication-link"} <= names
    assert "--unplanned --allow-data-loss" in next(
        c.detail for c in plan.blockers if c.name == "source-primary"
    )


def test_planned_refuses_a_lagging_replica() -> None:
    b = NodeStatus("b", True, "replica", upstream="a", link_up=True, offset=10, lag_seconds=0)
    settings = FailoverConfig(max_lag_bytes=100)
    plan = plan_failover(observe(b=b), "b", "planned", settings)
    assert [c.name for c in plan.blockers] == ["replication-lag"]
    assert "990 bytes" in plan.blockers[0].detail


def test_a_replica_with_everything_replayed_is_not_lagging_however_old_its_last_write() -> None:
    # An idle PostgreSQL replica reports the age of the last replayed transaction as its time lag.
    idle = NodeStatus("b", True, "replica", upstream="a", link_up=True, offset=1000, lag_seconds=300.0)
    assert plan_failover(observe(b=idle), "b", "planned", SETTINGS).safe
    behind = NodeStatus("b", True, "replica", upstream="a", link_up=True, offset=999, lag_seconds=300.0)
    blocked = plan_failover(observe(b=behind), "b", "planned", SETTINGS)
    assert [c.name for c in blocked.blockers] == ["replication-lag"] and "300s" in blocked.blockers[0].detail


def test_unplanned_requires_accepting_data_loss_and_skips_the_fence() -> None:
    dead = NodeStatus("a", False, detail="unreachable")
    b = NodeStatus("b", True, "replica", upstream="a", link_up=False, offset=900)
    refused = plan_failover(observe(a=dead, b=b), "b", "unplanned", SETTINGS)
    assert [c.name for c in refused.blockers] == ["data-loss-accepted"]
    plan = plan_failover(observe(a=dead, b=b), "b", "unplanned", SETTINGS, allow_data_loss=True)
    assert plan.safe and plan.source == "a"
    assert ids(plan) == ["promote", "repoint", "shift-traffic", "verify"]
    assert plan.expected_loss_bytes is None and "replication lag" in plan.expected_loss


def test_unplanned_with_the_primary_alive_warns_and_bounds_the_loss() -> None:
    b = NodeStatus("b", True, "replica", upstream="a", link_up=True, offset=700)
    plan = plan_failover(observe(b=b), "b", "unplanned", SETTINGS, allow_data_loss=True)
    assert plan.safe
    warning = next(c for c in plan.checks if c.name == "source-down")
    assert not warning.ok and not warning.blocking
    assert plan.expected_loss_bytes == 300


def test_unhealthy_target_is_refused_by_the_routing_invariant() -> None:
    plan = plan_failover(observe(healthy={"a": True, "b": False}), "b", "planned", SETTINGS)
    assert {c.name for c in plan.blockers} == {"target-healthy", "routing-invariant"}


def test_routable_needs_a_healthy_region_with_weight() -> None:
    health = {"a": RegionHealth("a", False), "b": RegionHealth("b", True)}
    assert routable({"a": 0, "b": 100}, health)
    assert not routable({"a": 100, "b": 0}, health)
    assert not routable({"a": 0, "b": 0}, health)
    assert not routable({"c": 100}, health)  # no health data = not healthy


def test_capacity_floor_follows_the_old_primary_and_raises_first() -> None:
    caps = {"a": Capacity("a", 2, 2, 2), "b": Capacity("b", 1, 1, 2)}
    plan = plan_failover(observe(capacity=caps), "b", "planned", SETTINGS)
    assert plan.capacity_floor == 2
    assert ids(plan)[0] == StepId.RAISE_CAPACITY.value
    too_small = {"a": Capacity("a", 5, 5, 5), "b": Capacity("b", 1, 1, 2)}
    blocked = plan_failover(observe(capacity=too_small), "b", "planned", SETTINGS)
    assert [c.name for c in blocked.blockers] == ["capacity"]


def test_rerun_after_promotion_plans_only_what_is_left() -> None:
    """The state a crash right after `promote` leaves: b is primary, a (paused) still a primary too."""
    a = NodeStatus("a", True, "primary", offset=1000)
    b = NodeStatus("b", True, "primary", offset=1000)
    plan = plan_failover(observe(a=a, b=b), "b", "planned", SETTINGS)
    assert plan.safe  # split brain including the target: resolved by demoting the others
    assert ids(plan) == ["repoint", "unfence", "shift-traffic", "verify"]
    assert plan.actions[1].region == "a"
    assert next(c for c in plan.checks if c.name == "split-brain").ok


def test_split_brain_elsewhere_blocks() -> None:
    a = NodeStatus("a", True, "primary", offset=1)
    b = NodeStatus("b", True, "replica", upstream="a", link_up=True, offset=1)
    obs = observe(a=a, b=b)
    c = NodeStatus("c", True, "primary", offset=1)
    obs.replication.nodes["c"] = c
    plan = plan_failover(obs, "b", "planned", SETTINGS)
    assert "split-brain" in {c.name for c in plan.blockers}


def test_converged_system_is_a_noop() -> None:
    a = NodeStatus("a", True, "replica", upstream="b", link_up=True, offset=5)
    b = NodeStatus("b", True, "primary", offset=5)
    plan = plan_failover(
        observe(a=a, b=b, endpoint="b", weights={"a": 0, "b": 100}), "b", "planned", SETTINGS
    )
    assert plan.safe and plan.noop and plan.actions == ()


def test_source_of_prefers_the_live_primary_then_the_replicas_upstream() -> None:
    assert source_of(observe(), "b") == "a"
    dead = NodeStatus("a", False)
    assert source_of(observe(a=dead), "b") == "a"
    orphan = NodeStatus("b", True, "replica", upstream=None)
    assert source_of(observe(a=dead, b=orphan, endpoint="a"), "b") == "a"
