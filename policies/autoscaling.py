"""Autoscaling: every gateway workload has exactly one HPA (min ≥ 2 replicas in prod), and no HPA and VPA
react to the same resource of the same workload (a feedback loop: VPA raises requests, utilisation drops,
the HPA scales in, utilisation rises, ...)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs

from policies.base import (
    ENVIRONMENT_PROPERTY,
    PROD,
    UNKNOWN,
    Report,
    StackIndex,
    get,
    items,
    number,
    setting,
    stack_environments,
    stack_policy,
    string,
)
from policies.workloads import POD_SPEC, containers

HPAS = (
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
)
VPA = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
NAME_LABEL = "app.kubernetes.io/name"
DEFAULT_MIN_REPLICAS = 2
ALL_RESOURCES = frozenset({"cpu", "memory"})

# (cluster, namespace, kind, name): a workload is only the same workload in the same cluster.
Key = tuple[str, str, str, str]


def cluster_of(r: PolicyResource) -> str:
    return r.provider.urn if r.provider is not None else ""


def workload_key(r: PolicyResource) -> Key | None:
    name = get(r.props, "metadata", "name")
    if not isinstance(name, str):
        return None
    namespace = get(r.props, "metadata", "namespace", default="default")
    return (cluster_of(r), str(namespace), r.resource_type.rsplit(":", 1)[-1], name)


def target_key(index: StackIndex, autoscaler: PolicyResource, ref: str) -> Key | None:
    """The workload an HPA (`scaleTargetRef`) or VPA (`targetRef`) acts on. While its name is unknown
    (preview), the engine's dependencies of `spec` name the workload instead."""
    kind, name = get(autoscaler.props, "spec", ref, "kind"), get(autoscaler.props, "spec", ref, "name")
    if isinstance(kind, str) and isinstance(name, str):
        namespace = get(autoscaler.props, "metadata", "namespace", default="default")
        return (cluster_of(autoscaler), str(namespace), kind, name)
    deps = autoscaler.property_dependencies.get("spec", []) if autoscaler.property_dependencies else []
    found = [workload_key(d) for d in deps if d.resource_type in POD_SPEC]
    return next((k for k in found if k is not None), None)


def hpa_resources(hpa: PolicyResource) -> set[str]:
    """The resources an HPA scales on; with no metric at all the HPA defaults to 80 % CPU."""
    spec = get(hpa.props, "spec")
    if get(spec, "targetCPUUtilizationPercentage") is not None:  # autoscaling/v1
        return {"cpu"}
    metrics = items(get(spec, "metrics"))
    if not metrics:
        return {"cpu"}
    found = set()
    for metric in metrics:
        kind = get(metric, "type")
        field = {"Resource": "resource", "ContainerResource": "containerResource"}.get(str(kind))
        if field and isinstance(name := get(metric, field, "name"), str):
            found.add(name)
    return found


def vpa_resources(vpa: PolicyResource, target: PolicyResource | None) -> set[str]:
    """The resources a VPA changes. Unset controlledResources means cpu and memory; containers without a
    policy (and no "*" policy) get the defaults too; updateMode or a container's mode Off changes nothing."""
    spec = get(vpa.props, "spec")
    if get(spec, "updatePolicy", "updateMode") == "Off":
        return set()
    policies = [p for p in items(get(spec, "resourcePolicy", "containerPolicies")) if p is not UNKNOWN]
    if not policies:
        return set(ALL_RESOURCES)
    found: set[str] = set()
    for policy in policies:
        if get(policy, "mode") == "Off":
            continue
        controlled = [str(r) for r in items(get(policy, "controlledResources")) if isinstance(r, str)]
        found.update(controlled or ALL_RESOURCES)
    covered = {string(get(p, "containerName")) for p in policies}
    if target is not None and "*" not in covered:
        uncovered = [n for n, _ in containers(get(target.props, *POD_SPEC[target.resource_type]), init=False)]
        if any(n not in covered for n in uncovered):
            found.update(ALL_RESOURCES)
    return found


def _shown(key: Key) -> str:
    return f"{key[2]} {key[1]}/{key[3]}"


@stack_policy(
    "hpa-vpa-conflict",
    "An HPA and a VPA must not act on the same resource of one workload: let the VPA control only what the "
    "HPA does not scale on (autoscaling.vpa.controlledResources: [memory] with a CPU HPA), or set its mode Off.",
)
def hpa_vpa_conflict(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    workloads = {k: w for w in index.of_type(*POD_SPEC) if (k := workload_key(w)) is not None}
    hpas: dict[Key, list[PolicyResource]] = {}
    for hpa in index.of_type(*HPAS):
        if (key := target_key(index, hpa, "scaleTargetRef")) is not None:
            hpas.setdefault(key, []).append(hpa)
    for vpa in index.of_type(VPA):
        key = target_key(index, vpa, "targetRef")
        if key is None or key not in hpas:
            continue
        changed = vpa_resources(vpa, workloads.get(key))
        for hpa in hpas[key]:
            both = sorted(changed & hpa_resources(hpa))
            if both:
                report(
                    f"VPA {vpa.name} and HPA {hpa.name} both act on {', '.join(both)} of {_shown(key)}",
                    vpa.urn,
                )


@stack_policy(
    "gateway-autoscaled",
    "Every gateway workload needs exactly one HPA, with minReplicas ≥ minReplicas (2) in prod: set "
    "autoscaling.minReplicas in the stack file (infra.k8s.autoscaling creates the HPA).",
    config={
        **ENVIRONMENT_PROPERTY,
        "minReplicas": {
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_MIN_REPLICAS,
            "description": "The smallest minReplicas a prod gateway HPA may have.",
        },
        "gatewayNames": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["gateway"],
            "description": "app.kubernetes.io/name label values that mark a gateway workload.",
        },
    },
)
def gateway_autoscaled(args: StackValidationArgs, report: Report) -> None:
    config = args.get_config()
    names = {str(n) for n in items(get(config, "gatewayNames"))} or {"gateway"}
    prod = PROD in stack_environments(args)
    minimum = setting(config, "minReplicas", DEFAULT_MIN_REPLICAS)
    index = StackIndex(args.resources)
    hpas: dict[Key, list[PolicyResource]] = {}
    for hpa in index.of_type(*HPAS):
        if (key := target_key(index, hpa, "scaleTargetRef")) is not None:
            hpas.setdefault(key, []).append(hpa)
    for workload in index.of_type(*POD_SPEC):
        if get(workload.props, "metadata", "labels", NAME_LABEL) not in names:
            continue
        key = workload_key(workload)
        if key is None:
            continue
        found = hpas.get(key, [])
        if not found:
            report(f"no HorizontalPodAutoscaler scales {_shown(key)}", workload.urn)
            continue
        if len(found) > 1:
            report(f"{len(found)} HPAs scale {_shown(key)} and would fight: keep one", workload.urn)
        for hpa in found:
            replicas = _min_replicas(hpa)
            if prod and replicas is not None and replicas < minimum:
                report(
                    f"HPA {hpa.name} lets {_shown(key)} shrink to {replicas:g} replica(s), below {minimum:g}",
                    hpa.urn,
                )


def _min_replicas(hpa: PolicyResource) -> float | None:
    value: Any = get(hpa.props, "spec", "minReplicas")
    if value is UNKNOWN:
        return None
    return number(value) if value is not None else 1.0  # the API's default
