"""A cluster's API server as the way to its in-cluster Prometheus and Pushgateway (the Service proxy
subresource): the kube client's credentials, refreshed before each request (EKS tokens live 15 minutes),
and its CA. So a cloud stack's monitoring needs no load balancer and no credentials of its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import requests
from requests.auth import AuthBase

from infra import http
from infra.outputs import service_proxy


class KubeApi:
    def __init__(self, api_client: Any) -> None:  # kubernetes.client.ApiClient
        self.configuration = api_client.configuration

    def service_url(self, namespace: str, service: str) -> str:
        """The API server's proxy to `service` (`name:port`) in `namespace`."""
        return service_proxy(self.configuration.host, namespace, service)

    def headers(self) -> dict[str, str]:
        c = self.configuration
        if c.refresh_api_key_hook is not None:
            c.refresh_api_key_hook(c)
        return {
            str(auth["key"]): str(auth["value"])
            for auth in c.auth_settings().values()
            if auth.get("in") == "header" and auth.get("value")
        }

    @property
    def verify(self) -> str | bool:
        """The CA bundle requests should trust (the cluster's, from the kubeconfig)."""
        c = self.configuration
        return c.ssl_ca_cert if (c.verify_ssl and c.ssl_ca_cert) else bool(c.verify_ssl)

    def session(self) -> requests.Session:
        return http.session(verify=self.verify, auth=self.auth())

    def auth(self) -> AuthBase:
        api = self

        class Bearer(AuthBase):
            def __call__(self, request: Any) -> Any:
                request.headers.update(api.headers())
                return request

        return Bearer()

    def push_handler(
        self,
    ) -> Callable[[str, str, float | None, Sequence[tuple[str, str]], bytes], Callable[[], None]]:
        """A prometheus_client push handler that authenticates as the kube client does."""
        via = self.session()

        def handler(
            url: str, method: str, timeout: float | None, headers: Sequence[tuple[str, str]], data: bytes
        ) -> Callable[[], None]:
            def send() -> None:
                answer = http.send(
                    method, url, body=data, headers=dict(headers), timeout=timeout or 10, via=via
                )
                if not answer.ok:
                    raise OSError(f"pushgateway via the API server: {answer.describe()}")

            return send

        return handler
