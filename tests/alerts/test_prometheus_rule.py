"""The PrometheusRule manifest validates against the CRD's schema and agrees with the Kubernetes seam."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from infra.alerts import prometheus_rule, rule_groups
from tests.alerts.conftest import stacks
from tests.schemas import crd_file

CRD = crd_file("prometheusrules.monitoring.coreos.com.yaml")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(CRD.read_text()) if d]
    (crd,) = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return dict(version["schema"]["openAPIV3Schema"])


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema  # type: ignore[import-untyped]

    # OpenAPI v3 schema: the structural keywords are JSON Schema's; `x-kubernetes-*` ones are ignored.
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize("stack", sorted(stacks()))
def test_prometheus_rule_validates_against_the_crd(schema: dict[str, Any], stack: str) -> None:
    cfg = stacks()[stack]
    validator = _validator(schema)
    for region in (r.name for r in cfg.regions):
        manifest = prometheus_rule(cfg, region)
        errors = sorted(validator.iter_errors(manifest), key=str)
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
        assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
        assert manifest["kind"] == "PrometheusRule"
        assert manifest["spec"]["groups"] == rule_groups(cfg, region)


def test_the_schema_check_rejects_a_broken_rule(schema: dict[str, Any]) -> None:
    manifest = prometheus_rule(stacks()["prod"], "us-east-1")
    manifest["spec"]["groups"][0]["rules"][0]["expr"] = ["not", "a", "string"]
    del manifest["spec"]["groups"][1]["name"]
    errors = list(_validator(schema).iter_errors(manifest))
    assert len(errors) >= 2


def test_manifest_matches_what_the_kubernetes_seam_creates() -> None:
    from infra.k8s.observability import RULES_NAMESPACE, prometheus_rule_spec, rule_labels

    cfg = stacks()["prod"]
    manifest = prometheus_rule(cfg, "eu-west-1")
    assert manifest["metadata"]["labels"] == rule_labels(cfg)
    assert manifest["metadata"]["namespace"] == RULES_NAMESPACE
    assert prometheus_rule_spec(rule_groups(cfg, "eu-west-1")) == manifest["spec"]
