"""The Kubernetes layer in the offline plan: per region the gateway in two colors, its traffic objects,
autoscaling and add-ons, on that region's cluster provider."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from infra import cli
from infra import plan as plan_module
from infra.config import StackConfig, load_stack
from infra.dashboards import DASHBOARDS
from infra.k8s.addons import CHARTS, KUBE_PROMETHEUS_STACK, PROMETHEUS_URL, VELERO
from infra.k8s.autoscaling import REQUESTS_SERIES, RPS_METRIC
from infra.plan import Plan, PlanResource, run_plan

PlanOf = Callable[[str], Plan]
STACKS = ["dev", "staging", "prod"]
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
VPA = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
RELEASE = "kubernetes:helm.sh/v3:Release"
K8S_PROVIDER = "pulumi:providers:kubernetes"
CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
# Namespace, ServiceAccount, 2 Deployments, 2 PDBs, a NetworkPolicy, 3 Services, 2 Ingresses, 2 HPAs, 2 VPAs,
# PodMonitor, PrometheusRule, the monitoring namespace, Secrets (the gateway's, the Redis exporter's auth,
# Alertmanager's receivers, Grafana's admin), 9 Helm releases, a ConfigMap per dashboard.
PER_REGION_OBJECTS = 32 + len(DASHBOARDS)
RECOMMENDED_LABELS = {
    f"app.kubernetes.io/{k}" for k in ("name", "instance", "version", "component", "part-of")
}


def in_region(plan: Plan, token: str, region: str) -> list[PlanResource]:
    return [r for r in plan.of_type(token) if r.region == region]


def by_name(plan: Plan, token: str, region: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind in one region, keyed by their Kubernetes name."""
    return {r.inputs["metadata"]["name"]: r.inputs for r in in_region(plan, token, region)}


def regions_of(stack: str) -> Iterator[tuple[StackConfig, str]]:
    cfg = load_stack(stack)
    for region in cfg.regions:
        yield cfg, region.name


@pytest.mark.parametrize("stack", STACKS)
def test_both_colors_run_with_probes_labels_spread_and_security(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    for cfg, region in regions_of(stack):
        deployments = by_name(plan, DEPLOYMENT, region)
        assert set(deployments) == {"gateway-blue", "gateway-green"}
        for color in ("blue", "green"):
            spec = deployments[f"gateway-{color}"]["spec"]
            assert "replicas" not in spec  # the HPA owns the replica count
            template = spec["template"]
            pod_labels = template["metadata"]["labels"]
            assert set(pod_labels) >= RECOMMENDED_LABELS and pod_labels["color"] == color
            assert pod_labels["app.kubernetes.io/part-of"] == "streamgate"
            assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
            assert (
                "app.kubernetes.io/version" not in spec["selector"]["matchLabels"]
            )  # selectors are immutable
            pod = template["spec"]
            (container,) = pod["containers"]
            tag = cfg.workload.tag_of(color)
            assert container["image"] == f"{cfg.workload.image}:{tag}"
            assert pod_labels["app.kubernetes.io/version"] == tag
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["ports"][0]["containerPort"] == cfg.workload.port
            assert container["resources"] == {
                "requests": {"cpu": cfg.workload.cpu_request, "memory": cfg.workload.memory_request},
                "limits": {"cpu": cfg.workload.cpu_limit, "memory": cfg.workload.memory_limit},
            }
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            zone = [
                c
                for c in pod["topologySpreadConstraints"]
                if c["topologyKey"] == "topology.kubernetes.io/zone"
            ]
            assert (
                len(zone) == 1 and zone[0]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
            )
            assert pod["serviceAccountName"] == "gateway"
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["STREAMGATE_COLOR"] == color and env["STREAMGATE_REGION"] == region


@pytest.mark.parametrize("stack", STACKS)
def test_stable_service_selects_the_live_color_and_ingresses_pair_up(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    for cfg, region in regions_of(stack):
        live, idle = cfg.workload.live_color, cfg.workload.idle_color
        services = by_name(plan, SERVICE, region)
        assert set(services) == {"gateway", "gateway-blue", "gateway-green"}
        assert services["gateway"]["spec"]["selector"]["color"] == live
        deployments = by_name(plan, DEPLOYMENT, region)
        for color in ("blue", "green"):
            selector = services[f"gateway-{color}"]["spec"]["selector"]
            pod_labels = deployments[f"gateway-{color}"]["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= pod_labels.items()
        # The stable selector matches the live Deployment's pods only.
        live_pods = deployments[f"gateway-{live}"]["spec"]["template"]["metadata"]["labels"]
        idle_pods = deployments[f"gateway-{idle}"]["spec"]["template"]["metadata"]["labels"]
        stable = services["gateway"]["spec"]["selector"]
        assert stable.items() <= live_pods.items() and not stable.items() <= idle_pods.items()

        ingresses = by_name(plan, INGRESS, region)
        assert set(ingresses) == {"gateway", "gateway-canary"}
        main, canary = ingresses["gateway"], ingresses["gateway-canary"]
        for ing in (main, canary):
            assert ing["spec"]["ingressClassName"] == "nginx"
        hosts = [rule["host"] for rule in main["spec"]["rules"]]
        assert hosts == [rule["host"] for rule in canary["spec"]["rules"]]  # nginx pairs canary by host
        assert f"origin.{region}.{cfg.domain}" in hosts and f"api.{cfg.domain}" in hosts

        def backend(ing: dict[str, Any]) -> str:
            return str(ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"])

        assert backend(main) == "gateway" and backend(canary) == f"gateway-{idle}"
        annotations = canary["metadata"]["annotations"]
        assert annotations[CANARY] == "true" and annotations[CANARY_WEIGHT] == "0"
        assert CANARY not in main["metadata"].get("annotations", {})


@pytest.mark.parametrize("stack", STACKS)
def test_each_color_has_a_disruption_budget(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    for _, region in regions_of(stack):
        budgets = by_name(plan, PDB, region)
        deployments = by_name(plan, DEPLOYMENT, region)
        assert set(budgets) == set(deployments)
        for name, budget in budgets.items():
            assert budget["spec"]["maxUnavailable"] == 1
            assert budget["spec"]["selector"] == deployments[name]["spec"]["selector"]


@pytest.mark.parametrize("stack", STACKS)
def test_hpa_scales_on_cpu_and_requests_per_pod_with_configured_behaviour(
    plan_of: PlanOf, stack: str
) -> None:
    plan = plan_of(stack)
    for cfg, region in regions_of(stack):
        scaling = cfg.autoscaling
        hpas = by_name(plan, HPA, region)
        assert set(hpas) == {"gateway-blue", "gateway-green"}
        for name, hpa in hpas.items():
            spec = hpa["spec"]
            assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
            assert (spec["minReplicas"], spec["maxReplicas"]) == (scaling.min_replicas, scaling.max_replicas)
            metrics = {m["type"]: m for m in spec["metrics"]}
            assert metrics["Resource"]["resource"] == {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": scaling.cpu_target_utilization},
            }
            assert metrics["Pods"]["pods"] == {
                "metric": {"name": RPS_METRIC},
                "target": {"type": "AverageValue", "averageValue": str(scaling.requests_per_second_per_pod)},
            }
            for key, configured in (("scaleUp", scaling.scale_up), ("scaleDown", scaling.scale_down)):
                got = spec["behavior"][key]
                assert got["stabilizationWindowSeconds"] == configured.stabilization_window_seconds
                assert got["policies"] == [
                    {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds}
                    for p in configured.policies
                ]


@pytest.mark.parametrize("stack", STACKS)
def test_vpa_never_controls_cpu_while_the_hpa_scales_on_it(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    for cfg, region in regions_of(stack):
        vpas = by_name(plan, VPA, region)
        hpas = by_name(plan, HPA, region)
        assert set(vpas) == set(hpas) == {"gateway-blue", "gateway-green"}
        for name, vpa in vpas.items():
            assert vpa["spec"]["targetRef"]["name"] == hpas[name]["spec"]["scaleTargetRef"]["name"]
            assert vpa["spec"]["updatePolicy"]["updateMode"] == cfg.autoscaling.vpa.mode
            hpa_resources = {
                m["resource"]["name"] for m in hpas[name]["spec"]["metrics"] if m["type"] == "Resource"
            }
            for policy in vpa["spec"]["resourcePolicy"]["containerPolicies"]:
                controlled = set(policy["controlledResources"])
                assert controlled == set(cfg.autoscaling.vpa.controlled_resources)
                assert not (controlled & hpa_resources), (
                    f"{region}/{name}: VPA and HPA both act on {controlled}"
                )


def test_without_a_cpu_metric_vpa_may_control_cpu() -> None:
    """The other side of the rule: with the HPA on requests/s only, the stack may hand CPU to the VPA."""
    base = load_stack("dev")
    scaling = base.autoscaling.model_copy(
        update={
            "cpu_target_utilization": None,
            "vpa": base.autoscaling.vpa.model_copy(
                update={"mode": "Recreate", "controlled_resources": ["cpu", "memory"]}
            ),
        }
    )
    cfg = base.model_copy(update={"autoscaling": scaling})
    plan = run_plan(cfg)
    hpa = plan.of_type(HPA)[0].inputs["spec"]
    assert [m["type"] for m in hpa["metrics"]] == ["Pods"]
    policy = plan.of_type(VPA)[0].inputs["spec"]["resourcePolicy"]["containerPolicies"][0]
    assert policy["controlledResources"] == ["cpu", "memory"]
    assert policy["minAllowed"] == {"cpu": "100m", "memory": "256Mi"}
    assert plan.of_type(VPA)[0].inputs["spec"]["updatePolicy"]["updateMode"] == "Recreate"


@pytest.mark.parametrize("stack", STACKS)
def test_addons_are_pinned_helm_releases(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    for _, region in regions_of(stack):
        releases = {r.inputs["name"]: r.inputs for r in in_region(plan, RELEASE, region)}
        assert (
            set(releases)
            == {c.release for c in CHARTS}
            == {
                "ingress-nginx",
                "kube-prometheus-stack",
                "prometheus-adapter",
                "metrics-server",
                "vpa",
                "velero",
                "prometheus-pushgateway",
                "prometheus-redis-exporter",
                "pyroscope",
            }
        )
        for chart in CHARTS:
            release = releases[chart.release]
            assert re.fullmatch(r"\d+\.\d+\.\d+", release["version"]), release["version"]  # exact pin
            assert release["chart"] == chart.chart and release["repositoryOpts"]["repo"].startswith(
                "https://"
            )
            assert release["namespace"] == chart.namespace


def test_prometheus_adapter_serves_the_metric_the_hpa_reads(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    for _, region in regions_of("prod"):
        releases = {r.inputs["name"]: r.inputs for r in in_region(plan, RELEASE, region)}
        adapter = releases["prometheus-adapter"]["values"]
        assert adapter["rules"]["default"] is False
        (rule,) = adapter["rules"]["custom"]
        assert rule["seriesQuery"].startswith(REQUESTS_SERIES) and rule["name"]["as"] == RPS_METRIC
        assert re.search(r"rate\(<<\.Series>>\{<<\.LabelMatchers>>\}\[\w+\]\)", rule["metricsQuery"])
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        # The adapter queries the Prometheus that kube-prometheus-stack names after its fullnameOverride.
        kps = releases["kube-prometheus-stack"]["values"]
        assert adapter["prometheus"]["url"] == PROMETHEUS_URL
        assert PROMETHEUS_URL.startswith(
            f"http://{kps['fullnameOverride']}-prometheus.{KUBE_PROMETHEUS_STACK.namespace}."
        )
        assert kps["prometheus"]["prometheusSpec"]["externalLabels"]["region"] == region


def test_velero_backs_up_to_its_regions_bucket_with_its_own_role(plan_of: PlanOf) -> None:
    plan, cfg = plan_of("prod"), load_stack("prod")
    for _, region in regions_of("prod"):
        (velero,) = [r for r in in_region(plan, RELEASE, region) if r.inputs["name"] == VELERO.release]
        values = velero.inputs["values"]
        (location,) = values["configuration"]["backupStorageLocation"]
        (backup,) = [
            b for b in in_region(plan, "aws:s3/bucket:Bucket", region) if b.name.endswith("-storage-backup")
        ]
        assert backup.arn == f"arn:aws:s3:::{location['bucket']}"
        assert location["config"]["region"] == region
        assert location["config"]["kmsKeyId"].startswith(f"arn:aws:kms:{region}:")
        assert values["credentials"]["useSecret"] is False
        role_arn = values["serviceAccount"]["server"]["annotations"]["eks.amazonaws.com/role-arn"]
        role = plan.referenced(role_arn)
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        sub = next(v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub"))
        assert sub == "system:serviceaccount:velero:velero" and role.region == region
        ttl_hours = int(values["schedules"]["cluster"]["template"]["ttl"].split("h")[0])
        assert ttl_hours == cfg.backup.retention_days * 24


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_gateway_identity_reads_its_regions_content_and_key_only(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    for _, region in regions_of(stack):
        (account,) = in_region(plan, "kubernetes:core/v1:ServiceAccount", region)
        role = plan.referenced(account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"])
        assert role.region == region and role.arn and role.arn.startswith("arn:aws:iam::")
        (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        oidc = plan.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", region)
        assert trust["Principal"]["Federated"] == oidc.arn
        issuer = oidc.inputs["url"].removeprefix("https://")
        assert trust["Condition"]["StringEquals"] == {
            f"{issuer}:sub": "system:serviceaccount:streamgate:gateway",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
        (policy,) = [
            p
            for p in plan.children(plan.by_urn(role.parent or ""))
            if p.type == "aws:iam/rolePolicy:RolePolicy"
        ]
        statements = json.loads(policy.inputs["policy"])["Statement"]
        actions = {a for s in statements for a in s["Action"]}
        # Serving reads; admin PUTs and L3 copies write; purges call the CDN (tests/infra/test_iam.py
        # proves each call against moto's IAM enforcement). Deletes: only stale L3 copies.
        assert {"s3:GetObject", "s3:PutObject", "kms:Decrypt", "cloudfront:CreateInvalidation"} <= actions
        content = next(
            b for b in in_region(plan, "aws:s3/bucket:Bucket", region) if b.name.endswith("-storage-content")
        )
        key = next(k for k in plan.of_type("aws:kms/key:Key") if k.region == region)
        distribution = plan.one("aws:cloudfront/distribution:Distribution")
        deletes = {r for s in statements if "s3:DeleteObject" in s["Action"] for r in s["Resource"]}
        assert deletes == {f"{content.arn}/l3-cache/*"}
        resources = {res for s in statements for res in s["Resource"]}
        assert resources == {
            content.arn,
            f"{content.arn}/content/*",
            f"{content.arn}/l3-cache/*",
            key.arn,
            distribution.arn,
        }


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_objects_sit_in_their_region_on_its_cluster_provider(plan_of: PlanOf, stack: str) -> None:
    plan = plan_of(stack)
    providers = {p.region: p for p in plan.of_type(K8S_PROVIDER)}
    cfg = load_stack(stack)
    assert set(providers) == {r.name for r in cfg.regions}
    for region, provider in providers.items():
        region_component = plan.by_urn(provider.parent or "")
        assert region_component.type == "streamgate:aws:Region" and region_component.name == region
        assert provider.inputs["kubeconfig"] == "[secret]"
    k8s_objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert len(k8s_objects) == len(cfg.regions) * PER_REGION_OBJECTS
    for r in k8s_objects:
        assert r.region is not None, r.urn
        assert r.provider == providers[r.region].urn, r.urn
        assert plan.by_urn(r.parent or "").type.startswith("streamgate:k8s:"), r.urn


def test_dns_origins_point_at_each_regions_ingress_load_balancer(plan_of: PlanOf) -> None:
    plan, cfg = plan_of("prod"), load_stack("prod")
    for _, region in regions_of("prod"):
        (record,) = [
            r
            for r in plan.of_type("aws:route53/record:Record")
            if r.inputs["name"] == f"origin.{region}.{cfg.domain}"
            and "failoverRoutingPolicies" not in r.inputs
        ]
        assert record.inputs["type"] == "CNAME"
        assert record.inputs["records"][0].endswith(f".elb.{region}.amazonaws.com")
        assert plan.outputs["regions"][region]["kubernetes"] is not None


def test_outputs_name_the_objects_rollouts_drive() -> None:
    """Resolved outputs (not just the declared objects): what `pulumi stack output` would show."""
    import pulumi

    cfg = load_stack("dev")
    resolved: dict[str, Any] = {}

    def program(c: StackConfig) -> dict[str, Any]:
        from infra.platform import build_platform

        outputs = build_platform(c).outputs
        regions = {n: v["kubernetes"] for n, v in outputs["regions"].items()}
        pulumi.Output.from_input(regions).apply(resolved.update)
        return outputs

    run_plan(cfg, program)
    assert set(resolved) == {r.name for r in cfg.regions}
    for region, values in resolved.items():
        assert values["namespace"] == "streamgate"
        assert values["service"] == "gateway"
        assert values["ingress"] == "gateway" and values["canaryIngress"] == "gateway-canary"
        assert values["colorServices"] == {"blue": "gateway-blue", "green": "gateway-green"}
        assert values["deployments"] == {"blue": "gateway-blue", "green": "gateway-green"}
        assert values["liveColor"] == cfg.workload.live_color
        assert values["ingressHostname"].endswith(f".elb.{region}.amazonaws.com")


class DependencyMonitor(plan_module.RecordingMonitor):
    """Also records what the plan does not: each resource's dependencies and ignored changes."""

    dependencies: dict[str, list[str]] = {}
    ignored: dict[str, list[str]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        DependencyMonitor.dependencies[response.urn] = list(request.dependencies)
        DependencyMonitor.ignored[response.urn] = list(request.ignoreChanges)
        return response


def test_crd_objects_wait_for_their_charts_and_canary_weight_is_left_to_automation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plan_module, "RecordingMonitor", DependencyMonitor)
    plan = run_plan(load_stack("dev"))
    releases = {r.inputs["name"]: r.urn for r in plan.of_type(RELEASE)}
    deps = DependencyMonitor.dependencies
    for vpa in plan.of_type(VPA):
        assert releases["vpa"] in deps[vpa.urn], vpa.name
    monitors = plan.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")
    assert monitors and all(releases["kube-prometheus-stack"] in deps[m.urn] for m in monitors)
    # ingress-nginx's and the adapter's ServiceMonitors need the CRDs kube-prometheus-stack installs.
    for name in ("ingress-nginx", "prometheus-adapter"):
        assert releases["kube-prometheus-stack"] in deps[releases[name]]
    for ingress in plan.of_type(INGRESS):
        assert releases["ingress-nginx"] in deps[ingress.urn]
    (canary,) = [i for i in plan.of_type(INGRESS) if i.inputs["metadata"]["name"] == "gateway-canary"]
    assert DependencyMonitor.ignored[canary.urn] == [f'metadata.annotations["{CANARY_WEIGHT}"]']
    (main,) = [i for i in plan.of_type(INGRESS) if i.inputs["metadata"]["name"] == "gateway"]
    assert DependencyMonitor.ignored[main.urn] == []


def test_plan_json_cli_shows_kubernetes_objects_per_region() -> None:
    """`streamgate plan prod --json` (in-process: the AWS plan test already pays for a subprocess run)."""
    result = CliRunner().invoke(cli.app, ["plan", "prod", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    providers = {r["urn"]: r["region"] for r in rows if r["type"] == K8S_PROVIDER}
    assert sorted(providers.values()) == ["ap-southeast-1", "eu-west-1", "us-east-1"]
    for token in (DEPLOYMENT, SERVICE, INGRESS, PDB, HPA, VPA, RELEASE):
        objects = [r for r in rows if r["type"] == token]
        assert {r["region"] for r in objects} == set(providers.values()), token
        assert all(providers[r["provider"]] == r["region"] for r in objects), token


def test_the_gateway_reads_every_setting_the_deployment_passes(
    plan_of: PlanOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Deployment's STREAMGATE_* variables are the names runtime/service/settings.py reads."""
    from runtime.service.settings import GatewaySettings

    deployment = next(d for d in plan_of("prod").of_type(DEPLOYMENT) if d.region == "eu-west-1")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"] if e["name"].startswith("STREAMGATE_")}
    secrets = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {
        "STREAMGATE_AUTH__SIGNING_KEY",
        "STREAMGATE_AUTH__PREVIOUS_SIGNING_KEYS",
        "STREAMGATE_SECURITY__MFA__PEPPER",
        "STREAMGATE_REDIS__PASSWORD",
    }
    for name, value in env.items():
        if name not in secrets:
            monkeypatch.setenv(name, str(value))
    settings = GatewaySettings()
    assert settings.region == "eu-west-1" and settings.color in ("blue", "green")
    assert settings.version == env["STREAMGATE_VERSION"]
    assert settings.server.port == int(env["STREAMGATE_SERVER__PORT"])
    assert settings.storage.bucket == env["STREAMGATE_STORAGE__BUCKET"]
    assert settings.security.encryption.kms_key_id == env["STREAMGATE_SECURITY__ENCRYPTION__KMS_KEY_ID"]


def test_each_cluster_runs_a_redis_exporter_on_its_regions_elasticache(plan_of: PlanOf) -> None:
    """The Redis alerts read prometheus-redis-exporter series: each region scrapes its own group, over TLS,
    with the AUTH token in a Secret (never in the release's values)."""
    plan = plan_of("prod")
    for region in ("us-east-1", "eu-west-1", "ap-southeast-1"):
        release = next(
            r.inputs
            for r in in_region(plan, RELEASE, region)
            if r.inputs["name"] == "prometheus-redis-exporter"
        )
        endpoint = plan.one("aws:elasticache/replicationGroup:ReplicationGroup", region)
        values = release["values"]
        address = (
            f"master.{endpoint.name}-{endpoint.id.removesuffix('-id').rsplit('-', 1)[1]}.cache.amazonaws.com"
        )
        assert values["redisAddress"] == f"rediss://{address}:6379"
        assert values["auth"]["secret"] == {"name": "redis-exporter-auth", "key": "password"}
        assert values["serviceMonitor"]["labels"] == {"release": KUBE_PROMETHEUS_STACK.release}
        secret = next(
            s
            for s in in_region(plan, "kubernetes:core/v1:Secret", region)
            if s.inputs["metadata"]["name"] == "redis-exporter-auth"
        )
        assert secret.inputs["stringData"] == "[secret]"


def test_gateway_pods_take_ingress_from_the_controller_and_prometheus_only(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    for region in load_stack("prod").regions:
        [policy] = by_name(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", region.name).values()
        spec = policy["spec"]
        assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress"]
        [rule] = spec["ingress"]
        sources = {f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for f in rule["from"]}
        assert sources == {"ingress-nginx", "monitoring"}
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_pod_monitor_gives_up_the_color_and_region_rollout_analysis_counts(plan_of: PlanOf) -> None:
    plan = plan_of("prod")
    for region in load_stack("prod").regions:
        [monitor] = [
            r.inputs for r in in_region(plan, "kubernetes:monitoring.coreos.com/v1:PodMonitor", region.name)
        ]
        [endpoint] = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["honorLabels"] is True  # the gateway's own version/color/region labels win
        targets = {r["targetLabel"]: r for r in endpoint["relabelings"]}
        assert targets["color"]["sourceLabels"] == ["__meta_kubernetes_pod_label_color"]
        assert targets["region"]["replacement"] == region.name
        assert targets["job"]["replacement"] == "streamgate-gateway"
