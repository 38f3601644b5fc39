"""Kubernetes workloads: every container sized (requests and limits), probed, running as non-root and within
the restricted Pod Security Standard, from a pinned image, outside the default namespace; namespaces enforce
the restricted standard."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


# Restricted Pod Security Standard (Kubernetes 1.29+): what `k8s-non-root` does not already check.
RESTRICTED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SECCOMP_OK = ("RuntimeDefault", "Localhost")


def _restricted_pod(pod: Any) -> list[str]:
    problems = [
        f"{host} is on"
        for host in ("hostNetwork", "hostPID", "hostIPC")
        if flag(get(pod, host), unknown=False)
    ]
    for volume in items(get(pod, "volumes")):
        kinds = [str(k) for k in volume if k != "name"] if isinstance(volume, Mapping) else []
        for kind in kinds:
            if kind not in RESTRICTED_VOLUMES:
                problems.append(f"volume {get(volume, 'name', default='?')} is of type {kind}")
    for sysctl in items(get(pod, "securityContext", "sysctls")):
        name = get(sysctl, "name")
        if name is not UNKNOWN and name not in SAFE_SYSCTLS:
            problems.append(f"sets the unsafe sysctl {name}")
    return problems


def _restricted_container(pod: Any, name: str, container: Any) -> list[str]:
    context = get(container, "securityContext")
    problems = []
    drop = {str(c) for c in items(get(context, "capabilities", "drop"))}
    if get(context, "capabilities", "drop") is not UNKNOWN and "ALL" not in drop:
        problems.append(f"container {name} does not drop ALL capabilities")
    added = [
        str(c) for c in items(get(context, "capabilities", "add")) if c not in ("NET_BIND_SERVICE", UNKNOWN)
    ]
    if added:
        problems.append(f"container {name} adds capabilities {', '.join(added)}")
    seccomp = get(context, "seccompProfile", "type") or get(pod, "securityContext", "seccompProfile", "type")
    if seccomp is not UNKNOWN and seccomp not in SECCOMP_OK:
        problems.append(
            f"container {name} has seccomp profile {seccomp or 'unset'!s} (RuntimeDefault or Localhost)"
        )
    for port in items(get(container, "ports")):
        host_port = number(get(port, "hostPort"))
        if host_port:
            problems.append(f"container {name} binds host port {host_port:g}")
    proc = get(context, "procMount")
    if proc not in (None, UNKNOWN, "Default"):
        problems.append(f"container {name} has procMount {proc}")
    for where in (context, get(pod, "securityContext")):
        if get(where, "appArmorProfile", "type") == "Unconfined":
            problems.append(f"container {name} runs without AppArmor (Unconfined)")
        selinux = get(where, "seLinuxOptions", "type")
        if selinux not in (
            None,
            UNKNOWN,
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ):
            problems.append(f"container {name} sets SELinux type {selinux}")
    return problems


@resource_policy(
    "k8s-pod-security-restricted",
    "Pods must meet the restricted Pod Security Standard (CIS EKS 4.2): no host namespaces, ports or "
    "hostPath volumes, capabilities drop ALL (add at most NET_BIND_SERVICE), seccomp RuntimeDefault, only "
    "safe sysctls: set them in the pod and container securityContext.",
    list(POD_SPEC),
)
def k8s_pod_security_restricted(args: ResourceValidationArgs, report: Report) -> None:
    pod = pod_spec(args)
    if pod is UNKNOWN or pod is None:
        return
    problems = _restricted_pod(pod)
    for name, container in containers(pod):
        problems += _restricted_container(pod, name, container)
    for problem in dict.fromkeys(problems):
        report(problem)


@resource_policy(
    "k8s-image-pinned",
    "Containers must run a pinned image, never a moving one: give every image a version tag (not latest) or "
    "a digest (workload.tag for the gateway).",
    list(POD_SPEC),
)
def k8s_image_pinned(args: ResourceValidationArgs, report: Report) -> None:
    for name, container in containers(pod_spec(args)):
        image = get(container, "image")
        if image is UNKNOWN:
            continue
        text = str(image or "")
        if "@sha256:" in text:
            continue
        tag = text.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            report(f"container {name} runs {text or 'no image'} without a version tag")


@resource_policy(
    "k8s-not-default-namespace",
    "Workloads must not run in the default namespace (CIS EKS 4.5.2): put them in their own namespace.",
    list(POD_SPEC),
)
def k8s_not_default_namespace(args: ResourceValidationArgs, report: Report) -> None:
    namespace = get(args.props, "metadata", "namespace", default="default")
    if namespace == "default":
        report("runs in the default namespace")


NAMESPACE = "kubernetes:core/v1:Namespace"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
# Add-ons that cannot run restricted: kube-prometheus-stack's node-exporter needs the host's network, PIDs
# and filesystem. Their namespaces must still say their level explicitly (a deliberate choice, audited).
PRIVILEGED_ADDON_NAMESPACES = ("monitoring",)


@resource_policy(
    "k8s-namespace-pod-security",
    "Namespaces must enforce the restricted Pod Security Standard (CIS EKS 4.2): label them "
    "pod-security.kubernetes.io/enforce: restricted.",
    [NAMESPACE],
)
def k8s_namespace_pod_security(args: ResourceValidationArgs, report: Report) -> None:
    name = get(args.props, "metadata", "name")
    if name in SYSTEM_NAMESPACES:
        return
    level = get(args.props, "metadata", "labels", ENFORCE_LABEL)
    if name in PRIVILEGED_ADDON_NAMESPACES:
        if level is None:
            report(f"namespace {name} enforces no Pod Security level: set one explicitly")
        return
    if level is not UNKNOWN and level != "restricted":
        report(f"namespace {name} enforces {level or 'no'} Pod Security level, not restricted")
