"""ingress-nginx router and Kubernetes deployer: the requests the real `kubernetes` client sends.

No API server can run here, so these tests check request building (method, path, content type, body) and
the adapters' reading of the objects, against a small recording HTTP endpoint that applies JSON merge
patches. They are not a substitute for a live cluster: this path is untested against a real API server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client

from infra.automation.adapters.ingress_nginx import (
    CANARY,
    CANARY_WEIGHT,
    IngressCanaryRouter,
    backend_patch,
    weight_patch,
)
from infra.automation.adapters.k8s_deployer import KubernetesDeployer, image_patch, rolled_out
from infra.automation.errors import RouterError
from tests.kubeapi import merge
from tests.servers import LOOPBACK

SERVICE = "/api/v1/namespaces/streamgate/services/gateway"
INGRESS = "/apis/networking.k8s.io/v1/namespaces/streamgate/ingresses/gateway-canary"
DEPLOYMENT = "/apis/apps/v1/namespaces/streamgate/deployments/gateway-green"


def canary_ingress(service: str, weight: str) -> dict[str, Any]:
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"name": "http"}}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "gateway-canary",
            "namespace": "streamgate",
            "annotations": {CANARY: "true", CANARY_WEIGHT: weight},
        },
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": "api.example.com", "http": {"paths": [path]}}],
        },
    }


class Recorder:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {
            SERVICE: {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "gateway"},
                "spec": {"selector": {"app.kubernetes.io/name": "gateway", "color": "blue"}},
            },
            INGRESS: canary_ingress("gateway-green", "0"),
        }
        self.patches: list[tuple[str, str, dict[str, Any]]] = []


@pytest.fixture
def api() -> Iterator[tuple[client.ApiClient, Recorder]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            doc = recorder.objects.get(self.path.split("?")[0])
            self._send(200, doc) if doc else self._send(404, {"kind": "Status", "code": 404})

        def do_PATCH(self) -> None:
            path = self.path.split("?")[0]
            patch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorder.patches.append((path, self.headers["Content-Type"], patch))
            if self.headers["Content-Type"] != "application/merge-patch+json" or path not in recorder.objects:
                self._send(415, {"kind": "Status", "code": 415})
                return
            recorder.objects[path] = merge(recorder.objects[path], patch)
            self._send(200, recorder.objects[path])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = client.Configuration(host=f"http://{LOOPBACK}:{server.server_address[1]}")
    yield client.ApiClient(configuration), recorder
    server.shutdown()
    thread.join(5)


def test_patch_bodies() -> None:
    assert weight_patch(25) == {"metadata": {"annotations": {CANARY: "true", CANARY_WEIGHT: "25"}}}
    patched = backend_patch(canary_ingress("gateway-green", "0"), "gateway-blue", 0)
    paths = patched["spec"]["rules"][0]["http"]["paths"]
    assert paths[0]["backend"]["service"] == {"name": "gateway-blue", "port": {"name": "http"}}
    assert paths[0]["pathType"] == "Prefix" and patched["spec"]["rules"][0]["host"] == "api.example.com"


async def test_canary_weights_are_merge_patches_of_the_annotation(
    api: tuple[client.ApiClient, Recorder],
) -> None:
    api_client, recorder = api
    router = IngressCanaryRouter(api_client)
    assert await router.get_weights() == {"blue": 100, "green": 0}
    await router.set_weights({"blue": 90, "green": 10})
    path, content_type, body = recorder.patches[-1]
    assert (path, content_type) == (INGRESS, "application/merge-patch+json")
    assert body == weight_patch(10)
    assert await router.verify({"blue": 90, "green": 10})


async def test_full_promotion_flips_the_stable_service_in_safe_order(
    api: tuple[client.ApiClient, Recorder],
) -> None:
    api_client, recorder = api
    router = IngressCanaryRouter(api_client)
    await router.set_weights({"blue": 50, "green": 50})
    recorder.patches.clear()
    await router.set_weights({"blue": 0, "green": 100})
    assert [
        (p, b.get("metadata", {}).get("annotations", {}).get(CANARY_WEIGHT)) for p, _, b in recorder.patches
    ] == [
        (INGRESS, "100"),  # all traffic on green through the canary first
        (SERVICE, None),  # then the stable Service selects green
        (INGRESS, "0"),  # then the canary Ingress points at blue with nothing
    ]
    assert recorder.objects[SERVICE]["spec"]["selector"] == {
        "app.kubernetes.io/name": "gateway",
        "color": "green",
    }
    backend = recorder.objects[INGRESS]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == "gateway-blue"
    assert await router.get_weights() == {"green": 100, "blue": 0}
    # The next canary goes to blue.
    await router.set_weights({"green": 95, "blue": 5})
    assert recorder.patches[-1][2] == weight_patch(5)


async def test_unknown_selector_is_an_error(api: tuple[client.ApiClient, Recorder]) -> None:
    api_client, recorder = api
    recorder.objects[SERVICE]["spec"]["selector"] = {"app.kubernetes.io/name": "gateway"}
    with pytest.raises(RouterError, match="selects no color"):
        await IngressCanaryRouter(api_client).get_weights()


async def test_deployer_uses_a_strategic_merge_patch(api: tuple[client.ApiClient, Recorder]) -> None:
    api_client, recorder = api
    recorder.objects[DEPLOYMENT] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gateway-green"},
    }
    deployer = KubernetesDeployer(api_client, "ghcr.io/streamgate/gateway")
    with pytest.raises(Exception, match=r"415|Unsupported"):
        await deployer.deploy("green", "0.2.0")  # our recorder only accepts merge patches: see what was sent
    path, content_type, body = recorder.patches[-1]
    assert (path, content_type) == (DEPLOYMENT, "application/strategic-merge-patch+json")
    assert body == image_patch("gateway", "ghcr.io/streamgate/gateway", "0.2.0")
    assert body["spec"]["template"]["spec"]["containers"] == [
        {"name": "gateway", "image": "ghcr.io/streamgate/gateway:0.2.0"}
    ]


def test_rolled_out_needs_every_replica_updated_and_the_version() -> None:
    def deployment(**status: int) -> client.V1Deployment:
        return client.V1Deployment(
            metadata=client.V1ObjectMeta(generation=3, labels={"app.kubernetes.io/version": "0.2.0"}),
            spec=client.V1DeploymentSpec(
                replicas=2, selector=client.V1LabelSelector(), template=client.V1PodTemplateSpec()
            ),
            status=client.V1DeploymentStatus(**status),
        )

    done = {"observed_generation": 3, "updated_replicas": 2, "available_replicas": 2, "replicas": 2}
    assert rolled_out(deployment(**done), "0.2.0")
    assert not rolled_out(deployment(**done), "0.3.0")
    assert not rolled_out(deployment(**(done | {"replicas": 3})), "0.2.0")  # an old pod still runs
    assert not rolled_out(deployment(**(done | {"observed_generation": 2})), "0.2.0")
    assert not rolled_out(deployment(**(done | {"available_replicas": 1})), "0.2.0")
