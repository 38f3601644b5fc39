"""Offline schema validation of every Kubernetes object the program declares.

Core objects: the Kubernetes OpenAPI schema shipped in `kubernetes-validate` (1.25-1.37), in strict mode
(unknown fields are errors), at the stack's cluster version. Custom resources: the CRDs' own schemas in
`../shared/schemas/` (VerticalPodAutoscaler from kubernetes/autoscaler, PrometheusRule from
prometheus-operator), made strict the way `kubectl apply --validate=strict` treats unknown fields.

A plan resource's inputs already have the manifest's shape (apiVersion, kind, metadata, spec in camelCase);
the only conversion is numbers, which the mock monitor hands back as floats.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from infra.alerts import rule_groups
from infra.config import StackConfig, load_stack
from infra.plan import Plan, PlanResource, run_plan
from tests.schemas import crd_file

PlanOf = Callable[[str], Plan]
VPA_CRD = crd_file("verticalpodautoscalers.autoscaling.k8s.io.yaml")
RULE_CRD = crd_file("prometheusrules.monitoring.coreos.com.yaml")
VPA = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
# Objects without a schema here: Helm releases are not Kubernetes objects; the PodMonitor CRD is not in
# ../shared/schemas (it comes with kube-prometheus-stack).
NOT_CORE = ("kubernetes:helm.sh/", "kubernetes:autoscaling.k8s.io/", "kubernetes:monitoring.coreos.com/")


def manifest(resource: PlanResource) -> dict[str, Any]:
    """The object as `kubectl` would send it: the plan's inputs with integral floats back to ints."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    out = plain(resource.inputs)
    assert isinstance(out, dict)
    if out.get("stringData") == "[secret]":  # the plan never shows secret values: validate the shape only
        out["stringData"] = {"value": "redacted"}
    return out


def core_objects(plan: Plan) -> list[PlanResource]:
    return [
        r
        for r in plan.resources
        if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith(NOT_CORE)
    ]


def cluster_version(cfg: StackConfig, region: str | None) -> str:
    return next(r.cluster.kubernetes_version for r in cfg.regions if r.name == region)


def _strict(schema: Any) -> Any:
    """Unknown fields become errors: every object schema that lists its properties closes them, unless it
    is explicitly open (additionalProperties or x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_validator(path: Path, version: str) -> jsonschema.protocols.Validator:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    (crd,) = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert served["served"], f"{crd['metadata']['name']} {version} is not served"
    schema = _strict(copy.deepcopy(served["schema"]["openAPIV3Schema"]))
    # metadata is ObjectMeta (validated by the API server, not by the CRD): keep it open.
    schema["properties"]["metadata"] = {"type": "object"}
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)  # type: ignore[no-any-return]


def crd_errors(path: Path, obj: dict[str, Any]) -> list[str]:
    version = obj["apiVersion"].split("/")[1]
    validator = crd_validator(path, version)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def test_kubernetes_validate_ships_the_cluster_versions_we_run() -> None:
    shipped = kubernetes_validate.utils.all_versions()
    for stack in ("dev", "staging", "prod"):
        for region in load_stack(stack).regions:
            wanted = region.cluster.kubernetes_version
            assert any(v.startswith(f"{wanted}.") for v in shipped), (wanted, shipped)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_core_object_validates_against_the_kubernetes_openapi_schema(
    plan_of: PlanOf, stack: str
) -> None:
    plan, cfg = plan_of(stack), load_stack(stack)
    objects = core_objects(plan)
    kinds = {manifest(r)["kind"] for r in objects}
    assert kinds == {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "HorizontalPodAutoscaler",
        "Secret",
        "ConfigMap",
    }
    failures = []
    for r in objects:
        version = cluster_version(cfg, r.region)
        try:
            validated = kubernetes_validate.validate(manifest(r), version, strict=True)
            assert validated == version
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{r.name}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_the_openapi_check_catches_wrong_field_names_and_types(plan_of: PlanOf) -> None:
    """Control: the strict check rejects what a mistake in our code would produce."""
    deployment = manifest(plan_of("dev").of_type("kubernetes:apps/v1:Deployment")[0])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    snake = copy.deepcopy(deployment)
    snake["spec"]["template"]["spec"]["containers"][0]["security_context"] = container["securityContext"]
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    for bad in (snake, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, "1.31", strict=True)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_vpa_objects_validate_against_the_vpa_crd(plan_of: PlanOf, stack: str) -> None:
    vpas = plan_of(stack).of_type(VPA)
    assert len(vpas) == 2 * len(load_stack(stack).regions)
    for vpa in vpas:
        obj = manifest(vpa)
        assert obj["apiVersion"] == "autoscaling.k8s.io/v1" and obj["kind"] == "VerticalPodAutoscaler"
        assert crd_errors(VPA_CRD, obj) == [], vpa.name


def test_the_crd_check_catches_snake_case_and_bad_modes(plan_of: PlanOf) -> None:
    obj = manifest(plan_of("dev").of_type(VPA)[0])
    snake = copy.deepcopy(obj)
    snake["spec"]["update_policy"] = snake["spec"].pop("updatePolicy")
    bad_mode = copy.deepcopy(obj)
    bad_mode["spec"]["updatePolicy"]["updateMode"] = "Sometimes"
    no_target = copy.deepcopy(obj)
    del no_target["spec"]["targetRef"]
    for bad in (snake, bad_mode, no_target):
        assert crd_errors(VPA_CRD, bad), bad["spec"]


def test_the_alert_rule_seam_makes_a_valid_prometheus_rule_per_cluster() -> None:
    """The seam the alert rules attach to: one PrometheusRule per cluster holding that region's rules,
    selected by kube-prometheus-stack, valid against the PrometheusRule CRD."""
    cfg = load_stack("staging")
    plan = run_plan(cfg)
    rules = plan.of_type(RULE)
    assert sorted(r.region or "" for r in rules) == sorted(r.name for r in cfg.regions)
    providers = {p.region: p.urn for p in plan.of_type("pulumi:providers:kubernetes")}
    for rule in rules:
        obj = manifest(rule)
        assert crd_errors(RULE_CRD, obj) == [], rule.name
        assert obj["spec"] == {"groups": rule_groups(cfg, rule.region)}
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert obj["metadata"]["namespace"] == "monitoring"
        assert rule.provider == providers[rule.region]
    kps = next(
        r
        for r in plan.of_type("kubernetes:helm.sh/v3:Release")
        if r.inputs["name"] == "kube-prometheus-stack"
    )
    # kube-prometheus-stack's default ruleSelector matches its release label: keep it that way.
    assert kps.inputs["values"]["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is True


def test_the_seam_rejects_unnamed_or_duplicate_groups() -> None:
    from infra.k8s.observability import prometheus_rule_spec

    with pytest.raises(ValueError, match="at least one rule group"):
        prometheus_rule_spec([])
    with pytest.raises(ValueError, match="distinct, non-empty names"):
        prometheus_rule_spec([{"name": "a", "rules": []}, {"name": "a", "rules": []}])
