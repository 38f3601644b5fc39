"""The stack's secrets, read once from Pulumi config (`pulumi config set --secret streamgate:<key>`).

They stay Pulumi secrets end to end: in the state, in Kubernetes Secrets, never in a plan or pod spec in
clear. Which of them a stack needs is `StackConfig.required_secrets`; `load_stack(require_secrets=True)`
(the program's entry point) names any that are missing before a resource is declared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from infra.config import NAMESPACE, StackConfig


@dataclass(frozen=True)
class StackSecrets:
    redis_auth_token: pulumi.Output[str]
    signing_key: pulumi.Output[str]
    previous_signing_keys: pulumi.Output[str]  # a JSON list of strings ("[]" when none)
    mfa_pepper: pulumi.Output[str]
    grafana_admin_password: pulumi.Output[str]
    pagerduty_routing_key: pulumi.Output[str] | None
    slack_webhook_url: pulumi.Output[str] | None

    @classmethod
    def from_config(cls, cfg: StackConfig) -> StackSecrets:
        config = pulumi.Config(NAMESPACE)
        receivers = cfg.alerts.receivers
        previous = config.get_secret("apiTokenPreviousSigningKeys") or pulumi.Output.secret("[]")
        return cls(
            redis_auth_token=config.require_secret("redisAuthToken"),
            signing_key=config.require_secret("apiTokenSigningKey"),
            previous_signing_keys=pulumi.Output.secret(previous.apply(_json_list)),
            mfa_pepper=config.require_secret("mfaPepper"),
            grafana_admin_password=config.require_secret("grafanaAdminPassword"),
            pagerduty_routing_key=(
                config.require_secret("pagerDutyRoutingKey") if receivers.pagerduty else None
            ),
            slack_webhook_url=config.require_secret("slackWebhookUrl") if receivers.slack else None,
        )


def _json_list(value: str) -> str:
    """Accept a JSON list of keys or one key; always hand the gateway a JSON list."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = [value]
    if isinstance(parsed, str):
        parsed = [parsed]
    if not (isinstance(parsed, list) and all(isinstance(k, str) and k for k in parsed)):
        raise ValueError(
            f"{NAMESPACE}:apiTokenPreviousSigningKeys must be a JSON list of keys, e.g. '[\"old-key\"]'"
        )
    return json.dumps(parsed)
