"""Router over ingress-nginx canary annotations, through the `kubernetes` client.

The objects are the Kubernetes layer's (infra/k8s/workload.py): the stable Ingress sends to Service
`gateway`, whose selector picks the live color; the canary Ingress `gateway-canary` (annotation
`canary: "true"`) sends `canary-weight` percent to Service `gateway-<other color>`.

Weights map onto them as: canary weight = the other color's weight. Full promotion (other color at 100) is
three writes, each leaving all traffic on the new color: canary weight 100 → the stable Service selects the
new color → the canary Ingress points at the old color's Service with weight 0. After that, set the stack's
`workload.liveColor` to the new color so `pulumi up` agrees (the CLI prints the command).

Not tested against a live API server here (none can run on this machine): tests check the requests the
client builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.automation.adapters import in_thread, validate_weights
from infra.automation.errors import RouterError
from infra.config import COLORS

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
COLOR_LABEL = "color"
# kubernetes>=3x picks application/json-patch+json for every PATCH unless told otherwise, which the API
# server rejects for an object body: say which patch this is.
MERGE_PATCH = "application/merge-patch+json"


def service_of(color: str, app: str = "gateway") -> str:
    return f"{app}-{color}"


def other(color: str) -> str:
    return "green" if color == "blue" else "blue"


def weight_patch(weight: int) -> dict[str, Any]:
    """Merge patch of the canary Ingress' weight (annotation values are strings)."""
    return {"metadata": {"annotations": {CANARY: "true", CANARY_WEIGHT: str(weight)}}}


def backend_patch(ingress: dict[str, Any], service: str, weight: int) -> dict[str, Any]:
    """Merge patch pointing every path of the canary Ingress at `service`, with the weight annotation."""
    rules = []
    for rule in ingress.get("spec", {}).get("rules", []):
        paths = []
        for path in rule.get("http", {}).get("paths", []):
            port = path["backend"]["service"].get("port", {"name": "http"})
            paths.append({**path, "backend": {"service": {"name": service, "port": port}}})
        rules.append({**rule, "http": {"paths": paths}})
    return {**weight_patch(weight), "spec": {"rules": rules}}


def selector_patch(color: str) -> dict[str, Any]:
    return {"spec": {"selector": {COLOR_LABEL: color}}}


@dataclass(frozen=True)
class Observed:
    stable: str  # color the stable Service selects
    canary_service: str
    weight: int

    def weights(self, app: str) -> dict[str, int]:
        canary = next((c for c in COLORS if service_of(c, app) == self.canary_service), None)
        if canary is None or canary == self.stable:
            # The canary Ingress points nowhere useful: all traffic goes to the stable color.
            return {self.stable: 100, other(self.stable): 0}
        return {self.stable: 100 - self.weight, canary: self.weight}


class IngressCanaryRouter:
    """The Router for one cluster's gateway Ingress pair."""

    def __init__(
        self,
        api_client: Any,
        namespace: str = "streamgate",
        app: str = "gateway",
        canary_ingress: str = "gateway-canary",
    ) -> None:
        from kubernetes import client

        self.networking = client.NetworkingV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.namespace, self.app, self.canary_ingress = namespace, app, canary_ingress
        self.name = f"ingress-nginx {namespace}/{canary_ingress}"

    def _observe(self) -> Observed:
        service = self.core.read_namespaced_service(self.app, self.namespace)
        selector = (service.spec.selector if service.spec else None) or {}
        stable = selector.get(COLOR_LABEL)
        if stable not in COLORS:
            raise RouterError(f"{self.name}: Service {self.app} selects no color ({selector})")
        ingress = self.networking.read_namespaced_ingress(self.canary_ingress, self.namespace)
        annotations = (ingress.metadata.annotations if ingress.metadata else None) or {}
        enabled = annotations.get(CANARY) == "true"
        weight = int(annotations.get(CANARY_WEIGHT, "0")) if enabled else 0
        backends = {
            p.backend.service.name
            for r in (ingress.spec.rules if ingress.spec else None) or []
            for p in (r.http.paths if r.http else [])
            if p.backend.service
        }
        if len(backends) != 1:
            raise RouterError(f"{self.name}: expected one backend Service, found {sorted(backends)}")
        return Observed(str(stable), backends.pop(), weight)

    def _patch_ingress(self, body: dict[str, Any]) -> None:
        self.networking.patch_namespaced_ingress(
            self.canary_ingress, self.namespace, body, _content_type=MERGE_PATCH
        )

    def _write(self, weights: dict[str, int]) -> None:
        observed = self._observe()
        stable, new = observed.stable, other(observed.stable)
        if weights.get(new, 0) < 100:
            if observed.canary_service != service_of(new, self.app):
                raw = self.networking.api_client.sanitize_for_serialization(
                    self.networking.read_namespaced_ingress(self.canary_ingress, self.namespace)
                )
                body = backend_patch(raw, service_of(new, self.app), weights.get(new, 0))
            else:
                body = weight_patch(weights.get(new, 0))
            self._patch_ingress(body)
            return
        # Full promotion of the other color, in three traffic-safe writes.
        self._patch_ingress(weight_patch(100))
        self.core.patch_namespaced_service(
            self.app, self.namespace, selector_patch(new), _content_type=MERGE_PATCH
        )
        raw = self.networking.api_client.sanitize_for_serialization(
            self.networking.read_namespaced_ingress(self.canary_ingress, self.namespace)
        )
        self._patch_ingress(backend_patch(raw, service_of(stable, self.app), 0))

    async def get_weights(self) -> dict[str, int]:
        observed = await in_thread(f"{self.name}: cannot read the Ingress pair", self._observe)
        return observed.weights(self.app)

    async def set_weights(self, weights: Mapping[str, int]) -> None:
        clean = validate_weights(weights, COLORS, self.name)
        await in_thread(f"{self.name}: cannot patch the Ingress pair", self._write, clean)

    async def verify(self, weights: Mapping[str, int]) -> bool:
        return await self.get_weights() == dict(weights)
