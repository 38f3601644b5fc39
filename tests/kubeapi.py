"""A stand-in for a cluster's API server, on a loopback port: no kube-apiserver can run here.

It serves the objects a test gives it (GET), applies merge patches (PATCH: JSON merge, and strategic merge
for lists of named items), insists on the bearer token a kubeconfig carries, and forwards the Service proxy
subresource (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/...`) to real servers (a Prometheus, a
Pushgateway). It checks what the automation sends, not how a real API server behaves: the adapters' requests
are built by the official `kubernetes` client, which these tests do not replace.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.servers import serving

PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)/proxy(/.*)?$")
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def merge(target: Any, patch: Any, strategic: bool = False) -> Any:
    """RFC 7386 JSON merge patch; `strategic`: lists of named items merge by name, as Kubernetes' does."""
    if strategic and isinstance(patch, list) and all(isinstance(p, dict) and "name" in p for p in patch):
        merged = {item.get("name"): item for item in (target or []) if isinstance(item, dict)}
        for item in patch:
            merged[item["name"]] = merge(merged.get(item["name"]), item, strategic)
        return list(merged.values())
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value, strategic)
    return result


@dataclass
class FakeKubeApi:
    token: str = "test-token"
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # path → object
    proxies: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, service:port) → base URL
    patches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of authorized requests
    url: str = ""

    def kubeconfig(self, name: str) -> dict[str, Any]:
        """A kubeconfig for this server, shaped as the program's (one cluster, context and user)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": self.url}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [{"name": name, "user": {"token": self.token}}],
        }

    @contextmanager
    def serving(self) -> Iterator[FakeKubeApi]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _status(self, code: int, reason: str) -> None:
                doc = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "code": code,
                    "reason": reason,
                }
                self._send(code, json.dumps(doc).encode())

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    self._status(401, "Unauthorized")
                    return False
                api.requests.append((self.command, self.path))
                return True

            def _proxy(self) -> bool:
                match = PROXY.match(self.path.split("?")[0])
                if not match:
                    return False
                upstream = api.proxies.get((match.group(1), match.group(2)))
                if upstream is None:
                    self._status(503, "ServiceUnavailable")
                    return True
                query = f"?{self.path.split('?', 1)[1]}" if "?" in self.path else ""
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                request = urllib.request.Request(
                    f"{upstream}{match.group(3) or '/'}{query}", data=body, method=self.command
                )
                if self.headers.get("Content-Type"):
                    request.add_header("Content-Type", self.headers["Content-Type"])
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        self._send(response.status, response.read(), response.headers["Content-Type"] or "")
                except urllib.error.HTTPError as exc:
                    self._send(exc.code, exc.read())
                return True

            def do_GET(self) -> None:
                if not self._authorized() or self._proxy():
                    return
                doc = api.objects.get(self.path.split("?")[0])
                if doc is None:
                    self._status(404, "NotFound")
                else:
                    self._send(200, json.dumps(doc).encode())

            def do_POST(self) -> None:
                if self._authorized() and not self._proxy():
                    self._status(405, "MethodNotAllowed")

            def do_PUT(self) -> None:
                self.do_POST()

            def do_PATCH(self) -> None:
                if not self._authorized():
                    return
                path = self.path.split("?")[0]
                content_type = self.headers["Content-Type"]
                patch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.patches.append((path, content_type, patch))
                if content_type not in (MERGE, STRATEGIC):
                    self._status(415, "UnsupportedMediaType")
                elif path not in api.objects:
                    self._status(404, "NotFound")
                else:
                    api.objects[path] = merge(api.objects[path], patch, content_type == STRATEGIC)
                    self._send(200, json.dumps(api.objects[path]).encode())

            def log_message(self, *args: object) -> None:
                pass

        with serving(Handler) as url:
            self.url = url
            yield self


def gateway_objects(
    namespace: str = "streamgate", live: str = "blue", canary_weight: int = 0
) -> dict[str, Any]:
    """The objects the program creates for the gateway in one cluster (as the API server returns them)."""
    idle = "green" if live == "blue" else "blue"
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"

    def deployment(color: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": f"gateway-{color}",
                "namespace": namespace,
                "generation": 1,
                "labels": {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/version": "0.1.0"},
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "gateway", "color": color}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "gateway", "color": color}},
                    "spec": {
                        "containers": [{"name": "gateway", "image": "ghcr.io/streamgate/gateway:0.1.0"}]
                    },
                },
            },
            "status": {
                "observedGeneration": 1,
                "replicas": 3,
                "updatedReplicas": 3,
                "readyReplicas": 3,
                "availableReplicas": 3,
            },
        }

    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": f"gateway-{idle}", "port": {"name": "http"}}},
    }
    return {
        f"/api/v1/namespaces/{namespace}/services/gateway": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "gateway", "namespace": namespace},
            "spec": {"selector": {"app.kubernetes.io/name": "gateway", "color": live}},
        },
        f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/gateway-canary": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "gateway-canary",
                "namespace": namespace,
                "annotations": {
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-weight": str(canary_weight),
                },
            },
            "spec": {
                "ingressClassName": "nginx",
                "rules": [{"host": "api.example.com", "http": {"paths": [path]}}],
            },
        },
        f"{base}/gateway-blue": deployment("blue"),
        f"{base}/gateway-green": deployment("green"),
        **{
            f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/gateway-{color}": {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": f"gateway-{color}", "namespace": namespace},
                "spec": {
                    "minReplicas": 3,
                    "maxReplicas": 60,
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": f"gateway-{color}",
                    },
                },
                "status": {"currentReplicas": 3, "desiredReplicas": 3},
            }
            for color in ("blue", "green")
        },
    }
