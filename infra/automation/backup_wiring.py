"""Where a stack's backups come from and go to, per region: the local platform's Redis nodes, moto buckets
and KMS key; or, for cloud stacks, the buckets and keys named in the Pulumi stack outputs."""

from __future__ import annotations

from infra.automation.backup import RedisSnapshot, RegionBackup
from infra.automation.errors import InvalidInputError
from infra.automation.failover_wiring import load_outputs
from infra.config import StackConfig
from runtime.security.envelope import Envelope
from runtime.security.settings import EncryptionSettings
from runtime.storage import ObjectStore

ELASTICACHE_NOTE = (
    "Redis not included: ElastiCache forbids BGSAVE; its own snapshots (redis.snapshotRetentionDays) cover it"
)


def regions_of(cfg: StackConfig, regions: list[str] | None) -> list[str]:
    names = [r.name for r in cfg.regions]
    unknown = sorted(set(regions or []) - set(names))
    if unknown:
        raise InvalidInputError(
            f"--region {', '.join(unknown)}: not a region of {cfg.stack} ({', '.join(names)})"
        )
    return list(regions) if regions else names


def targets(
    cfg: StackConfig, regions: list[str] | None = None, *, outputs_path: str | None = None, redis: bool = True
) -> list[RegionBackup]:
    chosen = regions_of(cfg, regions)
    if cfg.target == "local":
        return [_local(cfg, r, redis) for r in chosen]
    outputs = load_outputs(cfg, outputs_path)
    return [_aws(cfg, r, outputs["regions"][r]) for r in chosen]


def pushgateway(cfg: StackConfig) -> str | None:
    if cfg.backup.pushgateway_url or cfg.target != "local":
        return cfg.backup.pushgateway_url
    from infra.local.platform import LocalPlatform

    return LocalPlatform(cfg).layout.pushgateway_url


def _local(cfg: StackConfig, region: str, redis: bool) -> RegionBackup:
    from infra.local.aws import AWS_REGION, kms_client, s3_client
    from infra.local.layout import LOOPBACK
    from infra.local.platform import LocalPlatform

    platform = LocalPlatform(cfg)
    endpoint, res = platform.layout.moto_url, platform.resources
    s3 = s3_client(endpoint)
    settings = EncryptionSettings(kms_key_id=res.kms_key_alias, kms_endpoint_url=endpoint, region=AWS_REGION)
    return RegionBackup(
        stack=cfg.stack,
        region=region,
        backup=ObjectStore(res.backup_buckets[region], client=s3),
        envelope=Envelope(settings, kms=kms_client(endpoint)),
        content=ObjectStore(res.content_buckets[region], client=s3),
        redis=RedisSnapshot(LOOPBACK, platform.layout.region(region).redis) if redis else None,
    )


def _aws(cfg: StackConfig, region: str, out: dict[str, str]) -> RegionBackup:  # pragma: no cover - AWS
    settings = EncryptionSettings(kms_key_id=out["kmsKeyArn"], region=region)
    return RegionBackup(
        stack=cfg.stack,
        region=region,
        backup=ObjectStore(out["backupBucket"], region=region),
        envelope=Envelope(settings),
        content=ObjectStore(out["contentBucket"], region=region),
        redis=None,
        notes=[ELASTICACHE_NOTE],
    )


def bucket(cfg: StackConfig, name: str, region: str) -> ObjectStore:
    """Any bucket of the stack's object store (a restore target)."""
    if cfg.target == "local":
        from infra.local.aws import s3_client
        from infra.local.platform import LocalPlatform

        return ObjectStore(name, client=s3_client(LocalPlatform(cfg).layout.moto_url))
    return ObjectStore(name, region=region)  # pragma: no cover - AWS
