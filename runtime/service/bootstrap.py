"""Create what a fresh local platform or test lacks: the buckets and the KMS key alias. Clouds declare
these in the Pulumi program; the gateway only does this when `storage.create_bucket` is set."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from runtime.storage import ObjectStore, StorageError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


def ensure_kms_alias(kms: KMSClient, alias: str) -> str:
    """The key id behind `alias`, creating a symmetric key and the alias if missing."""
    if not alias.startswith("alias/"):
        return alias  # a key id or ARN: nothing to create
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
    key_id = kms.create_key(Description="StreamGate content envelope key")["KeyMetadata"]["KeyId"]
    try:
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    except ClientError as exc:  # another worker won the race: use its key
        if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
            raise
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    return key_id


async def bootstrap(stores: list[ObjectStore], kms: KMSClient, alias: str) -> None:
    """Idempotent, and safe when several workers of one process group run it at once."""
    for store in stores:
        try:
            await store.ensure_bucket()
        except StorageError:
            await asyncio.sleep(0.2)  # a concurrent creator: the bucket must exist now
            await store.ensure_bucket()
    await asyncio.to_thread(ensure_kms_alias, kms, alias)
