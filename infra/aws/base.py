"""What every AWS component shares: the per-region provider, naming and tags."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import StackConfig

PROVIDER_TYPE = "pulumi:providers:aws"


def regional_provider(cfg: StackConfig, region: str) -> aws.Provider:
    """An explicit provider per region: default providers are disabled in every stack file, so nothing can
    silently land in the wrong region."""
    return aws.Provider(
        f"aws-{region}",
        region=region,
        default_tags={"tags": cfg.resource_tags},
    )


def child(
    parent: pulumi.Resource, provider: pulumi.ProviderResource | None = None, **kwargs: Any
) -> pulumi.ResourceOptions:
    """Options for a component's child: parented (so the plan groups it) and on the region's provider."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **kwargs)


def assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )
