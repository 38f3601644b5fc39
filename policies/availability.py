"""Kubernetes availability practice: every long-running workload has a PodDisruptionBudget (a node drain
or upgrade never takes all its pods at once), and its pods spread over availability zones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from policies.autoscaling import workload_key
from policies.base import UNKNOWN, Report, StackIndex, get, items, resource_policy, stack_policy
from policies.workloads import LONG_RUNNING, POD_SPEC, pod_spec

PDB = "kubernetes:policy/v1:PodDisruptionBudget"
ZONE_KEY = "topology.kubernetes.io/zone"


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def pod_labels(workload: PolicyResource) -> dict[str, str] | None:
    """The labels of a workload's pods (None while unknown)."""
    found = get(workload.props, *POD_SPEC[workload.resource_type][:-1], "metadata", "labels")
    return None if found is UNKNOWN else _labels(found)


def selects(selector: Any, labels: Mapping[str, str], *, empty_selects_all: bool = False) -> bool:
    """A label selector (matchLabels; matchExpressions) against a pod's labels. An empty selector selects
    every pod in a NetworkPolicy and none in a PodDisruptionBudget (policy/v1)."""
    wanted = _labels(get(selector, "matchLabels"))
    if not all(labels.get(k) == v for k, v in wanted.items()):
        return False
    for expression in items(get(selector, "matchExpressions")):
        key, operator = str(get(expression, "key")), get(expression, "operator")
        values = {str(v) for v in items(get(expression, "values"))}
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return empty_selects_all or bool(wanted) or bool(items(get(selector, "matchExpressions")))


def selectors_by_namespace(objects: Iterable[PolicyResource], field: str) -> dict[tuple[str, str], list[Any]]:
    """(cluster, namespace) -> the pod selectors (`spec.<field>`) of these objects there."""
    found: dict[tuple[str, str], list[Any]] = {}
    for obj in objects:
        if (where := workload_key(obj)) is not None:
            found.setdefault(where[:2], []).append(get(obj.props, "spec", field, default={}))
    return found


@stack_policy(
    "k8s-disruption-budget",
    "Every long-running workload needs a PodDisruptionBudget selecting its pods, so drains and node "
    "upgrades keep some of them serving: add one (infra.k8s.workload does for the gateway).",
)
def k8s_disruption_budget(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    budgets = selectors_by_namespace(index.of_type(PDB), "selector")
    for workload in index.of_type(*LONG_RUNNING):
        key, labels = workload_key(workload), pod_labels(workload)
        if key is None or labels is None:
            continue
        if not any(selects(selector, labels) for selector in budgets.get(key[:2], [])):
            report(f"no PodDisruptionBudget selects the pods of {key[2]} {key[1]}/{key[3]}", workload.urn)


@resource_policy(
    "k8s-zone-spread",
    "Deployments must spread their pods over availability zones, so losing a zone keeps the rest "
    "serving: add a topologySpreadConstraint on topology.kubernetes.io/zone (whenUnsatisfiable: "
    "DoNotSchedule).",
    ["kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"],
)
def k8s_zone_spread(args: ResourceValidationArgs, report: Report) -> None:
    pod = pod_spec(args)
    if pod is UNKNOWN or pod is None:
        return
    constraints = items(get(pod, "topologySpreadConstraints"))
    if UNKNOWN in constraints:
        return
    spread = [
        c
        for c in constraints
        if get(c, "topologyKey") == ZONE_KEY
        and get(c, "whenUnsatisfiable", default="DoNotSchedule") == "DoNotSchedule"
    ]
    anti = [
        t
        for t in items(
            get(pod, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
        )
        if get(t, "topologyKey") == ZONE_KEY
    ]
    if not spread and not anti:
        report("pods are not spread over availability zones (no zone topologySpreadConstraint)")
