"""The catalog's database as the program declares it: prod an Aurora global database across its regions
(writer in the primary, secondaries forwarding writes), other stacks one cluster in the primary region;
RDS Proxy with IAM authentication end to end; the gateway configured from the one environment builder (no
password anywhere in a pod spec); the automation finding the clusters through the stack outputs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from infra.config import load_stack
from infra.outputs import StackOutputs
from infra.plan import Plan, PlanResource

PlanOf = Callable[[str], Plan]
CLUSTER = "aws:rds/cluster:Cluster"
PROXY = "aws:rds/proxy:Proxy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def env_of(deployment: PlanResource) -> dict[str, dict[str, object]]:
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_prod_is_one_global_database_with_a_writer_and_forwarding_secondaries(plan_of: PlanOf) -> None:
    plan, cfg = plan_of("prod"), load_stack("prod")
    (global_cluster,) = plan.of_type("aws:rds/globalCluster:GlobalCluster")
    assert global_cluster.inputs["storageEncrypted"] and global_cluster.inputs["deletionProtection"]
    clusters = {c.region: c.inputs for c in plan.of_type(CLUSTER)}
    assert set(clusters) == {r.name for r in cfg.regions}
    primary, *others = [r.name for r in cfg.regions]
    assert clusters[primary]["masterUsername"] and clusters[primary]["manageMasterUserPassword"]
    for region, inputs in clusters.items():
        assert inputs["globalClusterIdentifier"] == global_cluster.id
        assert inputs["kmsKeyId"] == next(
            k.arn for k in plan.of_type("aws:kms/key:Key") if k.region == region
        )
        assert inputs["iamDatabaseAuthenticationEnabled"] and inputs["deletionProtection"]
        assert inputs["backupRetentionPeriod"] >= 7 and inputs["skipFinalSnapshot"] is False
    for region in others:
        assert "masterUsername" not in clusters[region] and clusters[region]["enableGlobalWriteForwarding"]
    rotation = plan.one("aws:secretsmanager/secretRotation:SecretRotation")
    assert rotation.region == primary and rotation.inputs["secretId"].startswith("arn:aws:secretsmanager:")
    proxies = plan.of_type(PROXY)
    assert {p.region for p in proxies} == set(clusters)
    assert all(p.inputs["requireTls"] and p.inputs["defaultAuthScheme"] == "IAM_AUTH" for p in proxies)
    outputs = StackOutputs.model_validate(plan.resolved_outputs)
    assert outputs.catalog_global_cluster_id == global_cluster.id
    assert all(o.catalog_cluster_arn and o.catalog_proxy_endpoint for o in outputs.regions.values())


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_other_stacks_run_one_cluster_in_the_primary_region(plan_of: PlanOf, stack: str) -> None:
    plan, cfg = plan_of(stack), load_stack(stack)
    assert plan.of_type("aws:rds/globalCluster:GlobalCluster") == []
    (cluster,) = plan.of_type(CLUSTER)
    assert cluster.region == cfg.regions[0].name and "globalClusterIdentifier" not in cluster.inputs
    served = {d.region for d in plan.of_type(DEPLOYMENT) if "STREAMGATE_CATALOG__ENABLED" in env_of(d)}
    if plan.of_type(DEPLOYMENT):
        assert served == {cfg.regions[0].name}


def test_gateways_reach_their_regions_proxy_with_iam_tokens_and_no_password(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    deployments = [d for d in plan.of_type(DEPLOYMENT) if d.inputs["metadata"]["name"].startswith("gateway")]
    assert deployments
    for deployment in deployments:
        env = env_of(deployment)
        proxy = plan.one(PROXY, deployment.region)
        primary = str(env["STREAMGATE_CATALOG__PRIMARY_URL"]["value"])
        assert proxy.inputs and primary.startswith("postgresql://streamgate@")
        assert "sslmode=verify-full" in primary and proxy.name.split("-catalog")[0] == deployment.region
        assert env["STREAMGATE_CATALOG__IAM_AUTH_REGION"]["value"] == deployment.region
        assert env["STREAMGATE_CATALOG__POOLER"]["value"] == "transaction"
        assert "STREAMGATE_CATALOG__PASSWORD" not in env
    for region in {d.region for d in deployments}:
        (connect,) = [
            p
            for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
            if p.name == f"{region}-gateway-catalog-connect"
        ]
        (statement,) = json.loads(connect.inputs["policy"])["Statement"]
        proxy_id = str(plan.one(PROXY, region).arn).rsplit(":", 1)[-1]
        assert statement["Action"] == ["rds-db:connect"]
        assert statement["Resource"] == [f"arn:aws:rds-db:{region}:123456789012:dbuser:{proxy_id}/streamgate"]
