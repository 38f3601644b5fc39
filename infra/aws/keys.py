"""A customer-managed KMS key per region, rotated yearly; EKS secrets, S3, ElastiCache and backups use it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import child


@dataclass(frozen=True)
class RegionKeyArgs:
    stack: str
    region: str


class RegionKey(pulumi.ComponentResource):
    key: aws.kms.Key

    def __init__(self, name: str, args: RegionKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        stack, region = args.stack, args.region
        super().__init__("streamgate:aws:RegionKey", name, None, opts)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"StreamGate {stack} {region}: EKS secrets, S3, ElastiCache, backups",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30,
            opts=child(self),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/streamgate-{stack}",
            target_key_id=self.key.key_id,
            opts=child(self),
        )
        self.register_outputs({"keyArn": self.key.arn})
