"""A cloud stack seen from inside one of its clusters: the predictive-scaling CronJob (infra/k8s/scaling.py)
runs `streamgate scale apply --in-cluster` with its pod's service account. No stack outputs (they hold every
cluster's admin kubeconfig): the API server is the one the pod runs under, and through it, as for
`AwsTarget`, the cluster's Prometheus and Pushgateway. The HPA is named by the program that created it
(the CronJob's arguments). `KUBECONFIG`, when set, replaces the service account (tests, a laptop)."""

from __future__ import annotations

import os
from functools import cache, cached_property
from typing import Any

from infra.automation.adapters.eks import HpaFloor
from infra.automation.errors import InvalidInputError
from infra.automation.targets.aws import AwsTarget
from infra.config import StackConfig


class InClusterTarget(AwsTarget):
    """Only what predictive scaling needs of one region (metrics, pushgateway, its capacity knob)."""

    def __init__(self, cfg: StackConfig, region: str, hpa: str) -> None:
        namespace, _, name = hpa.partition("/")
        if not namespace or not name:
            raise InvalidInputError(f"--hpa {hpa!r}: give NAMESPACE/NAME of the gateway's HPA")
        self.cfg, self.region, self.hpa = cfg, region, (namespace, name)
        self.names = [region]

    @cached_property
    def api_client(self) -> Any:
        from kubernetes import client, config

        kubeconfig = os.environ.get("KUBECONFIG")
        try:
            if kubeconfig:
                # Named explicitly: the client reads $KUBECONFIG once, when it is first imported.
                return config.new_client_from_config(config_file=kubeconfig)
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as exc:
            where = f"KUBECONFIG {kubeconfig}" if kubeconfig else "no service account here"
            raise InvalidInputError(
                f"--in-cluster: {where}: {exc}; run it in a pod, or set KUBECONFIG"
            ) from exc
        return client.ApiClient(configuration)

    @cache  # noqa: B019 - as AwsTarget.kube: one client for the life of the target
    def kube(self, region: str) -> Any:
        if region != self.region:
            raise InvalidInputError(f"this pod runs in {self.region}'s cluster, not {region}'s")
        return self.api_client

    def capacity_knob(self, region: str) -> HpaFloor:
        namespace, name = self.hpa
        return HpaFloor(self.kube(region), namespace, name, region)
