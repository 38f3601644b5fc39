"""Kubernetes workloads: every container sized (requests and limits), probed, and running as non-root."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies.base import UNKNOWN, Report, flag, get, is_set, items, number, resource_policy

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
TEMPLATE = ("spec", "template", "spec")
POD_SPEC: dict[str, tuple[str, ...]] = {
    DEPLOYMENT: TEMPLATE,
    "kubernetes:apps/v1:StatefulSet": TEMPLATE,
    "kubernetes:apps/v1:DaemonSet": TEMPLATE,
    "kubernetes:apps/v1:ReplicaSet": TEMPLATE,
    "kubernetes:batch/v1:Job": TEMPLATE,
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
# Workloads that serve until replaced: they need probes (Jobs run to completion; bare Pods are one-offs).
LONG_RUNNING = (
    DEPLOYMENT,
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
)
RESOURCES = ("cpu", "memory")
QUANTITY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTORS = {
    "": 1.0,
    "m": 1e-3,
    **{p: 1000.0 ** (i + 1) for i, p in enumerate("kMGTPE")},
    **{f"{p}i": 1024.0 ** (i + 1) for i, p in enumerate("KMGTPE")},
}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity ("500m", "2", "512Mi", or a bare number) in cores or bytes; None if unreadable."""
    plain = number(value) if not isinstance(value, str) else None
    if plain is not None:
        return plain
    match = QUANTITY.match(str(value).strip())
    return float(match.group(1)) * _FACTORS[match.group(2) or ""] if match else None


def pod_spec(args: ResourceValidationArgs) -> Any:
    return get(args.props, *POD_SPEC[args.resource_type])


def containers(pod: Any, *, init: bool = True) -> list[tuple[str, Any]]:
    """(name, container) for the pod's containers, and its init containers when `init`."""
    kinds = ("containers", "initContainers") if init else ("containers",)
    return [
        (str(get(c, "name", default=f"{kind}[{i}]")), c)
        for kind in kinds
        for i, c in enumerate(items(get(pod, kind)))
        if c is not UNKNOWN
    ]


@resource_policy(
    "k8s-container-resources",
    "Every container needs cpu and memory requests and limits (request ≤ limit): set resources.requests "
    "and resources.limits (workload.cpuRequest/cpuLimit/memoryRequest/memoryLimit for the gateway).",
    list(POD_SPEC),
)
def k8s_container_resources(args: ResourceValidationArgs, report: Report) -> None:
    for name, container in containers(pod_spec(args)):
        missing = [
            f"{kind}.{resource}"
            for kind in ("requests", "limits")
            for resource in RESOURCES
            if not is_set(container, "resources", kind, resource)
        ]
        if missing:
            report(f"container {name} has no {', '.join(missing)}")
        for resource in RESOURCES:
            request = get(container, "resources", "requests", resource)
            limit = get(container, "resources", "limits", resource)
            low, high = quantity(request), quantity(limit)
            if low is not None and high is not None and low > high:
                report(f"container {name} requests more {resource} ({request}) than its limit ({limit})")


@resource_policy(
    "k8s-container-probes",
    "Long-running containers need a readinessProbe and a livenessProbe, so rollouts and the load balancer "
    "only use healthy pods: add both (an httpGet on the health endpoint).",
    LONG_RUNNING,
)
def k8s_container_probes(args: ResourceValidationArgs, report: Report) -> None:
    for name, container in containers(pod_spec(args), init=False):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not is_set(container, p)]
        if missing:
            report(f"container {name} has no {' or '.join(missing)}")


def _explicit_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


@resource_policy(
    "k8s-non-root",
    "Containers must not run as root: set securityContext runAsNonRoot: true with a non-zero runAsUser, "
    "allowPrivilegeEscalation: false, and no privileged: true.",
    list(POD_SPEC),
)
def k8s_non_root(args: ResourceValidationArgs, report: Report) -> None:
    pod = pod_spec(args)
    pod_context = get(pod, "securityContext")
    for name, container in containers(pod):
        context = get(container, "securityContext")
        # A container's own setting wins over the pod's.
        non_root = get(context, "runAsNonRoot")
        if non_root is None:
            non_root = get(pod_context, "runAsNonRoot")
        user = get(context, "runAsUser")
        if user is None:
            user = get(pod_context, "runAsUser")
        if number(user) == 0:
            report(f"container {name} runs as root (runAsUser 0)")
        elif not flag(non_root):
            report(f"container {name} may run as root (runAsNonRoot is not true)")
        if flag(get(context, "privileged"), unknown=False):
            report(f"container {name} is privileged")
        escalation = get(context, "allowPrivilegeEscalation")
        if escalation is not UNKNOWN and not _explicit_false(escalation):
            report(f"container {name} may escalate privileges (allowPrivilegeEscalation is not false)")
