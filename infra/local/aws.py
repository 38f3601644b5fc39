"""moto's server as the local S3 and KMS: per region a content and a backup bucket, a bucket of profiles, and
one KMS key.

moto keeps its state in memory only: if its process restarts, buckets, objects and the key are gone, and
`streamgate local up` creates them again (content must then be seeded or uploaded again). The key is
addressed by its alias, which is stable across such restarts, so the gateways' settings never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.errors import LocalPlatformError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

# moto accepts any credentials; these are never real ones.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "streamgate-local",
    "AWS_SECRET_ACCESS_KEY": "streamgate-local",
    "AWS_SESSION_TOKEN": "streamgate-local",
}
AWS_REGION = "us-east-1"  # moto's region for every local "region"; local-a/-b are names only


@dataclass(frozen=True)
class AwsResources:
    """Names of what `ensure()` created; the gateways get them through their settings."""

    content_buckets: dict[str, str]  # region → bucket
    backup_buckets: dict[str, str]
    kms_key_alias: str
    profile_bucket: str  # the gateways' continuous profiles (infra/profiles), kept by the profile receiver

    @classmethod
    def for_stack(cls, stack: str, regions: list[str]) -> AwsResources:
        return cls(
            content_buckets={r: f"streamgate-{stack}-content-{r}" for r in regions},
            backup_buckets={r: f"streamgate-{stack}-backup-{r}" for r in regions},
            kms_key_alias=f"alias/streamgate-{stack}",
            profile_bucket=f"streamgate-{stack}-profiles",
        )

    @property
    def buckets(self) -> list[str]:
        return [*self.content_buckets.values(), *self.backup_buckets.values(), self.profile_bucket]

    def to_json(self) -> dict[str, Any]:
        return {
            "content_buckets": self.content_buckets,
            "backup_buckets": self.backup_buckets,
            "kms_key_alias": self.kms_key_alias,
            "profile_bucket": self.profile_bucket,
        }


def _client(service: str, endpoint: str) -> Any:
    config = Config(region_name=AWS_REGION, connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})
    session: Any = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    return session.client(service, endpoint_url=endpoint, config=config)


def s3_client(endpoint: str) -> S3Client:
    client: S3Client = _client("s3", endpoint)
    return client


def kms_client(endpoint: str) -> KMSClient:
    client: KMSClient = _client("kms", endpoint)
    return client


def missing(resources: AwsResources, endpoint: str) -> list[str]:
    """What `ensure` would have to create (empty when moto still holds everything)."""
    try:
        existing = {b["Name"] for b in s3_client(endpoint).list_buckets().get("Buckets", [])}
        aliases = {a["AliasName"] for a in kms_client(endpoint).list_aliases().get("Aliases", [])}
    except (BotoCoreError, ClientError) as exc:
        raise LocalPlatformError(f"moto's server at {endpoint} is not answering: {exc}") from exc
    gaps = [f"bucket {b}" for b in resources.buckets if b not in existing]
    if resources.kms_key_alias not in aliases:
        gaps.append(f"KMS key {resources.kms_key_alias}")
    return gaps


def ensure(resources: AwsResources, endpoint: str) -> list[str]:
    """Create whatever is missing (versioned buckets, the key and its alias); return what was created."""
    created: list[str] = []
    try:
        s3 = s3_client(endpoint)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in resources.buckets:
            if bucket in existing:
                continue
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            created.append(f"bucket {bucket}")
        kms = kms_client(endpoint)
        aliases = {a["AliasName"] for a in kms.list_aliases().get("Aliases", [])}
        if resources.kms_key_alias not in aliases:
            key = kms.create_key(Description="streamgate local content key", KeyUsage="ENCRYPT_DECRYPT")
            kms.create_alias(AliasName=resources.kms_key_alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
            created.append(f"KMS key {resources.kms_key_alias}")
    except (BotoCoreError, ClientError) as exc:
        raise LocalPlatformError(f"creating buckets and key on moto at {endpoint} failed: {exc}") from exc
    return created


def count_objects(endpoint: str, bucket: str, prefix: str) -> int:
    """How many objects lie under `prefix` (0 when the bucket is gone)."""
    try:
        reply = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    except (BotoCoreError, ClientError):
        return 0
    return int(reply.get("KeyCount", 0))
