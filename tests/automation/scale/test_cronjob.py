"""The cloud's predictive scaling runs what the program declares: the prod plan's CronJob container is
started as its spec says (its command, its environment, its stack ConfigMap where the volume mounts it),
with the pod's service account replaced by a kubeconfig for the stand-in API server. It must raise the HPA
it names, and every request it made must be allowed by the Roles the plan binds to its service account,
which must allow nothing else."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.automation.adapters.eks import PREDICTIVE_FLOOR
from infra.k8s.scaling import NAME, STACKS_DIR
from infra.outputs import MONITORING_NAMESPACE, PROMETHEUS_SERVICE, PUSHGATEWAY_SERVICE
from infra.plan import Plan, PlanResource
from tests.automation.scale.conftest import Cluster
from tests.gateway_spec import environment

REGION = "eu-west-1"
CRONJOB = "kubernetes:batch/v1:CronJob"
VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}
NAMESPACED = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?"
)


@dataclass(frozen=True)
class Rule:
    namespace: str
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]
    verbs: frozenset[str]


def in_region(plan: Plan, token: str) -> list[PlanResource]:
    return [r for r in plan.of_type(token) if r.region == REGION]


def bound_rules(plan: Plan) -> list[Rule]:
    """The rules of every Role bound to the job's service account (and no ClusterRole is)."""
    subject = {"kind": "ServiceAccount", "name": NAME, "namespace": "streamgate"}
    bindings = [
        b
        for b in in_region(plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
        if subject in b.inputs["subjects"]
    ]
    assert not [
        b
        for b in plan.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        if subject in b.inputs.get("subjects", [])
    ]
    roles = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r
        for r in in_region(plan, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    }
    rules = []
    for binding in bindings:
        assert binding.inputs["roleRef"]["kind"] == "Role"
        namespace = binding.inputs["metadata"]["namespace"]
        role = roles[(namespace, binding.inputs["roleRef"]["name"])]
        for rule in role.inputs["rules"]:
            rules.append(
                Rule(
                    namespace,
                    frozenset(rule["apiGroups"]),
                    frozenset(rule["resources"]),
                    frozenset(rule.get("resourceNames", [])),
                    frozenset(rule["verbs"]),
                )
            )
    return rules


def allows(rules: list[Rule], method: str, path: str) -> bool:
    match = NAMESPACED.match(path.split("?")[0])
    assert match, path
    resource = match["resource"] + (f"/{match['sub']}" if match["sub"] else "")
    return any(
        rule.namespace == match["ns"]
        and (match["group"] or "") in rule.groups
        and resource in rule.resources
        and (not rule.names or match["name"] in rule.names)
        and VERBS[method] in rule.verbs
        for rule in rules
    )


def test_the_roles_grant_exactly_the_hpas_and_two_service_proxies(plan_of: Any) -> None:
    rules = bound_rules(plan_of("prod"))
    assert set(rules) == {
        Rule(
            "streamgate",
            frozenset({"autoscaling"}),
            frozenset({"horizontalpodautoscalers"}),
            frozenset({"gateway-blue", "gateway-green"}),
            frozenset({"get", "patch"}),
        ),
        Rule(
            MONITORING_NAMESPACE,
            frozenset({""}),
            frozenset({"services/proxy"}),
            frozenset({PROMETHEUS_SERVICE}),
            frozenset({"get"}),
        ),
        Rule(
            MONITORING_NAMESPACE,
            frozenset({""}),
            frozenset({"services/proxy"}),
            frozenset({PUSHGATEWAY_SERVICE}),
            frozenset({"update"}),
        ),
    }
    # The control: the evaluator refuses what the roles do not grant.
    assert not allows(rules, "PATCH", "/apis/apps/v1/namespaces/streamgate/deployments/gateway-blue")
    assert not allows(
        rules, "GET", "/api/v1/namespaces/monitoring/services/alertmanager:9093/proxy/api/v2/alerts"
    )
    assert not allows(
        rules, "DELETE", "/apis/autoscaling/v2/namespaces/streamgate/horizontalpodautoscalers/gateway-blue"
    )


def test_the_cronjob_runs_as_declared_and_stays_within_its_roles(
    plan_of: Any, cluster: Cluster, tmp_path: Path
) -> None:
    plan = plan_of("prod")
    (cronjob,) = in_region(plan, CRONJOB)
    spec = cronjob.inputs["spec"]
    assert spec["schedule"] == "*/15 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == NAME and pod["automountServiceAccountToken"] is True
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == STACKS_DIR]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (config_map,) = [
        c
        for c in in_region(plan, "kubernetes:core/v1:ConfigMap")
        if c.inputs["metadata"]["name"] == volume["configMap"]["name"]
    ]
    # The kubelet's part: the ConfigMap's keys become files where the volume is mounted.
    mounted = tmp_path / "stacks"
    mounted.mkdir()
    for key, text in config_map.inputs["data"].items():
        (mounted / key).write_text(text)
    env = environment(container)
    assert env["STREAMGATE_STACKS_DIR"] == STACKS_DIR
    env["STREAMGATE_STACKS_DIR"] = str(mounted)
    env |= {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig")),  # instead of the service account
    }
    command = container["command"]
    assert command[:3] == ["streamgate", "scale", "apply"] and shutil.which("streamgate", path=env["PATH"])
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    decided = re.search(rf"^{REGION}: (raise|hold) floor (\d+)(?: → (\d+))?", run.stdout, re.M)
    assert decided, run.stdout
    target = int(decided[3] or decided[2])
    hpa = cluster.hpa("blue")  # the live color's, as the command names it
    assert hpa["spec"]["minReplicas"] == target
    if decided[1] == "raise":
        assert hpa["metadata"]["annotations"][PREDICTIVE_FLOOR] == str(target)
    else:
        assert target == 3 and not cluster.kube.patches
    rules = bound_rules(plan)
    made = {(m, p.split("?")[0]) for m, p in cluster.kube.requests}
    assert made, "the job talked to no API server"
    refused = [r for r in made if not allows(rules, *r)]
    assert not refused, f"requests its Roles do not allow: {refused}"
    # It read the HPA, queried Prometheus and pushed its metrics, all through the API server.
    assert any(m == "GET" and p.endswith("/horizontalpodautoscalers/gateway-blue") for m, p in made)
    assert any(f"/services/{PROMETHEUS_SERVICE}/proxy/api/v1/query_range" in p for _, p in made)
    assert any(m == "PUT" and f"/services/{PUSHGATEWAY_SERVICE}/proxy/" in p for m, p in made)
    assert not os.environ.get("KUBECONFIG")  # the test's environment was not touched


@pytest.mark.parametrize(
    ("policy", "change", "fragment"),
    [
        ("k8s-image-pinned", {"image": "ghcr.io/streamgate/automation"}, "without a version tag"),
        ("k8s-non-root", {"securityContext": {"allowPrivilegeEscalation": True}}, "may escalate privileges"),
        ("k8s-container-resources", {"resources": {}}, "has no requests.cpu"),
    ],
)
def test_the_policy_pack_judges_the_cronjob(
    plan_of: Any, policy: str, change: dict[str, Any], fragment: str
) -> None:
    """The pack passes the shipped CronJob (tests/policies) and would catch it drifting."""
    from policies.offline import run_policies
    from policies.pack import BY_NAME

    plan = Plan(stack="prod", resources=copy.deepcopy(plan_of("prod").resources))
    (cronjob,) = in_region(plan, CRONJOB)
    assert run_policies(plan, policies=[BY_NAME[policy]]).passed
    (container,) = cronjob.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    container.update(change)
    report = run_policies(plan, policies=[BY_NAME[policy]])
    assert [v.urn for v in report.violations if fragment in v.message] == [cronjob.urn]
