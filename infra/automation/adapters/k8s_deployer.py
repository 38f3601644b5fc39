"""Deployer for a cluster: the color's Deployment (`gateway-<color>`, infra/k8s/workload.py) gets the new
image tag and version label; healthy = the rollout of that Deployment completed with every replica ready.

Not tested against a live API server here (none can run on this machine). Retiring scales the old color to
zero; `pulumi up` restores the declared replicas, so set `workload.liveColor` after a blue-green switch.
"""

from __future__ import annotations

import asyncio
from typing import Any

from infra.automation.errors import DeployError

VERSION_LABEL = "app.kubernetes.io/version"
# Strategic merge: containers merge by name (a JSON merge patch would replace the whole list).
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


def image_patch(container: str, image: str, version: str) -> dict[str, Any]:
    """Strategic merge patch: new image for the container, version label on the Deployment and its pods."""
    return {
        "metadata": {"labels": {VERSION_LABEL: version}},
        "spec": {
            "template": {
                "metadata": {"labels": {VERSION_LABEL: version}},
                "spec": {"containers": [{"name": container, "image": f"{image}:{version}"}]},
            }
        },
    }


def rolled_out(deployment: Any, version: str) -> bool:
    """`kubectl rollout status`'s rule, plus the version label."""
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    if meta is None or spec is None or status is None:
        return False
    wanted = spec.replicas if spec.replicas is not None else 1
    return (
        (meta.labels or {}).get(VERSION_LABEL) == version
        and (status.observed_generation or 0) >= (meta.generation or 0)
        and (status.updated_replicas or 0) == wanted
        and (status.available_replicas or 0) == wanted
        and (status.replicas or 0) == wanted  # no old pods left
        and wanted > 0
    )


class KubernetesDeployer:
    def __init__(
        self, api_client: Any, image: str, namespace: str = "streamgate", app: str = "gateway"
    ) -> None:
        from kubernetes import client

        self.apps = client.AppsV1Api(api_client)
        self.image, self.namespace, self.app = image, namespace, app

    def _name(self, color: str) -> str:
        return f"{self.app}-{color}"

    async def deploy(self, color: str, version: str) -> None:
        try:
            await asyncio.to_thread(
                self.apps.patch_namespaced_deployment,
                self._name(color),
                self.namespace,
                image_patch(self.app, self.image, version),
                _content_type=STRATEGIC,
            )
        except Exception as exc:
            raise DeployError(f"deployment {self._name(color)}: {exc}") from exc

    async def _read(self, color: str) -> Any:
        try:
            return await asyncio.to_thread(
                self.apps.read_namespaced_deployment, self._name(color), self.namespace
            )
        except Exception as exc:
            raise DeployError(f"deployment {self._name(color)}: {exc}") from exc

    async def running_version(self, color: str) -> str | None:
        deployment = await self._read(color)
        labels = (deployment.metadata.labels if deployment.metadata else None) or {}
        version = labels.get(VERSION_LABEL)
        return str(version) if version is not None else None

    async def expected_targets(self, color: str) -> int:
        """The replicas the Deployment wants (the HPA sets them): every one must be scraped."""
        spec = (await self._read(color)).spec
        return int(spec.replicas if spec is not None and spec.replicas is not None else 1)

    async def healthy(self, color: str, version: str) -> bool:
        return rolled_out(await self._read(color), version)

    async def retire(self, color: str) -> None:
        try:
            await asyncio.to_thread(
                self.apps.patch_namespaced_deployment_scale,
                self._name(color),
                self.namespace,
                {"spec": {"replicas": 0}},
                _content_type=MERGE,
            )
        except Exception as exc:
            raise DeployError(f"deployment {self._name(color)}: {exc}") from exc
