"""The stack outputs: what the Pulumi program exports and the automation reads, defined once.

The program exports them (`infra/platform.py` fills `StackOutputs`' keys); `pulumi stack output --json
--show-secrets > outputs.json` writes them; `streamgate rollout|failover|backup ... --outputs outputs.json`
reads them back through `load_outputs`. A test validates the offline plan's outputs against these models,
so the writer and the readers cannot drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import AliasGenerator, BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from infra.config import Color, StackConfig
from infra.errors import ConfigError

# Where kube-prometheus-stack's Prometheus and the Pushgateway answer inside every cluster: the automation
# reaches them through the cluster's API server (the `services/<name>:<port>/proxy` subresource), with the
# same credentials it uses for the Ingress and HPA, so neither needs a load balancer of its own.
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_SERVICE = "kube-prometheus-stack-prometheus:9090"
PUSHGATEWAY_SERVICE = "prometheus-pushgateway:9091"
ALERTMANAGER_SERVICE = "kube-prometheus-stack-alertmanager:9093"


def service_proxy(api_server: str, namespace: str, service: str) -> str:
    return f"{api_server.rstrip('/')}/api/v1/namespaces/{namespace}/services/{service}/proxy"


class Outputs(BaseModel):
    """camelCase keys as Pulumi exports them; unknown keys are kept out (newer programs may add some)."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(alias=to_camel), populate_by_name=True, extra="ignore", frozen=True
    )


class KubernetesOutputs(Outputs):
    """The objects rollout automation shifts traffic with, in one cluster."""

    namespace: str
    service: str
    color_services: dict[Color, str]
    deployments: dict[Color, str]
    ingress: str
    canary_ingress: str
    live_color: Color
    ingress_hostname: str


class RegionOutputs(Outputs):
    cluster_name: str
    cluster_endpoint: str
    kubeconfig: str  # a secret: `--show-secrets` writes it in clear
    redis_primary_endpoint: str
    redis_reader_endpoint: str
    redis_replication_group_id: str
    content_bucket: str
    backup_bucket: str
    backup_vault: str
    kms_key_arn: str
    health_check_id: str
    origin_name: str
    certificate_arn: str
    kubernetes: KubernetesOutputs
    # The catalog's Aurora cluster and RDS Proxy in this region (None where the region serves no catalog).
    catalog_cluster_arn: str | None = None
    catalog_proxy_endpoint: str | None = None

    def kubeconfig_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.kubeconfig)
        return loaded


class StackOutputs(Outputs):
    stack: str
    primary_region: str
    cdn_domain: str
    cdn_distribution_id: str
    zone_id: str
    global_datastore_id: str | None
    catalog_global_cluster_id: str | None = None  # prod's Aurora global database
    state_bucket: str
    automation_role_arn: str
    regions: dict[str, RegionOutputs]
    # Secrets: where the operations' notifications go (channel → URL), as the stack file configures them.
    notification_urls: dict[str, str] = {}


def load_outputs(cfg: StackConfig, path: str | Path | None) -> StackOutputs:
    """The outputs of `cfg`'s stack from the file `pulumi stack output --json --show-secrets` wrote.
    Bad input (no file, another stack's, secrets hidden, a region missing) is a ConfigError (exit 2)."""
    if path is None:
        raise ConfigError(
            f"stack {cfg.stack}: a cloud stack's resources are found through its Pulumi outputs: run "
            f"`pulumi stack output --json --show-secrets -s {cfg.stack} > outputs.json` and pass "
            "--outputs outputs.json"
        )
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the stack outputs: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected the JSON object `pulumi stack output --json` writes")
    try:
        outputs = StackOutputs.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path}: not the outputs of this program ({where}: {first['msg']}); write them with "
            f"`pulumi stack output --json --show-secrets -s {cfg.stack}`"
        ) from None
    if outputs.stack != cfg.stack:
        raise ConfigError(f"{path}: these are the outputs of stack {outputs.stack}, not {cfg.stack}")
    hidden = [r for r, o in outputs.regions.items() if o.kubeconfig == "[secret]"]
    hidden += [f"notificationUrls.{c}" for c, url in outputs.notification_urls.items() if url == "[secret]"]
    if hidden:
        raise ConfigError(
            f"{path}: the secrets of {', '.join(hidden)} are hidden: write the file with --show-secrets"
        )
    missing = [r.name for r in cfg.regions if r.name not in outputs.regions]
    if missing:
        raise ConfigError(f"{path}: no outputs for region(s) {', '.join(missing)} (run `pulumi up` first)")
    return outputs


def exported(model: type[Outputs], **values: Any) -> dict[str, Any]:
    """The program's side: a value (or Pulumi Output) for every field of `model`, under its exported
    (camelCase) name. A field left out or one the model lacks fails the program, not a later reader."""
    fields, given = set(model.model_fields), set(values)
    if fields != given:
        raise ValueError(
            f"{model.__name__}: missing {sorted(fields - given)}, unknown {sorted(given - fields)}"
        )
    return {to_camel(name): value for name, value in values.items()}
