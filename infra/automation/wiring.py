"""Adapters chosen from the stack's target: the local platform's nginx/Prometheus/supervisord and files,
or, for cloud stacks, ingress-nginx or Route 53, the stack's Prometheus, Kubernetes and an S3 state object."""

from __future__ import annotations

from dataclasses import dataclass

from infra.automation.adapters import Deployer, Router
from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.controller import Adapters
from infra.automation.errors import InvalidInputError
from infra.automation.state import LocalStateStore, S3StateStore, StateStore
from infra.config import StackConfig


@dataclass(frozen=True)
class Endpoints:
    prometheus_url: str
    pushgateway_url: str | None


def region_of(cfg: StackConfig, region: str | None) -> str:
    names = [r.name for r in cfg.regions]
    if region is None:
        return names[0]
    if region not in names:
        raise InvalidInputError(f"--region {region}: not a region of stack {cfg.stack} ({', '.join(names)})")
    return region


def endpoints(cfg: StackConfig) -> Endpoints:
    if cfg.target == "local":
        from infra.local.layout import Layout
        from infra.local.platform import LocalPlatform

        layout: Layout = LocalPlatform(cfg).layout
        return Endpoints(
            cfg.rollout.prometheus_url or layout.prometheus_url,
            cfg.rollout.pushgateway_url or layout.pushgateway_url,
        )
    if cfg.rollout.prometheus_url is None:
        raise InvalidInputError(
            f"stack {cfg.stack}: streamgate:rollout.prometheusUrl is not set: give the Prometheus that "
            "scrapes the gateways (e.g. kube-prometheus-stack's service URL)"
        )
    return Endpoints(cfg.rollout.prometheus_url, cfg.rollout.pushgateway_url)


def state_store(cfg: StackConfig) -> StateStore:
    if cfg.target == "local":
        from infra.local.platform import LocalPlatform

        return LocalStateStore(LocalPlatform(cfg).paths.root)
    if cfg.rollout.state_bucket is None:
        raise InvalidInputError(
            f"stack {cfg.stack}: streamgate:rollout.stateBucket is not set: name the S3 bucket that keeps "
            "rollout state and locks"
        )
    import boto3

    return S3StateStore(boto3.client("s3"), cfg.rollout.state_bucket, cfg.stack)


def router(cfg: StackConfig, region: str) -> Router:
    kind = cfg.rollout.router
    if kind == "auto":
        kind = "nginx" if cfg.target == "local" else "ingress-nginx"
    if kind == "nginx":
        if cfg.target != "local":
            raise InvalidInputError(
                "streamgate:rollout.router: nginx is the local platform's router (target: local)"
            )
        from infra.automation.adapters.nginx_local import NginxColorRouter
        from infra.local.platform import LocalPlatform

        return NginxColorRouter(LocalPlatform(cfg).router, region)
    if kind == "route53":
        import boto3

        from infra.automation.adapters.route53 import Route53WeightedRouter

        r53 = cfg.rollout.route53
        assert r53 is not None  # the config model requires it with router: route53
        client = boto3.client("route53")
        zone = r53.zone_id or Route53WeightedRouter.zone_id_for(client, cfg.domain)
        return Route53WeightedRouter(
            client, zone, r53.record_name, {str(k): v for k, v in r53.targets.items()}, ttl=r53.ttl
        )
    from infra.automation.adapters.ingress_nginx import router_for_context

    return router_for_context(cfg.rollout.kube_contexts.get(region))


def deployer(cfg: StackConfig, region: str) -> Deployer:
    if cfg.target == "local":
        from infra.automation.adapters.local_deployer import LocalDeployer
        from infra.local.platform import LocalPlatform

        return LocalDeployer(LocalPlatform(cfg), region)
    from kubernetes import config

    from infra.automation.adapters.k8s_deployer import KubernetesDeployer

    api_client = config.new_client_from_config(context=cfg.rollout.kube_contexts.get(region))
    return KubernetesDeployer(api_client, cfg.workload.image)


def adapters(cfg: StackConfig, region: str) -> Adapters:
    return Adapters(
        router=router(cfg, region),
        metrics=PrometheusMetrics(endpoints(cfg).prometheus_url),
        deployer=deployer(cfg, region),
        store=state_store(cfg),
    )
