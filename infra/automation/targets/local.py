"""The local platform as a target: nginx routes, supervisord runs the gateways, Prometheus and the
Pushgateway are the platform's, Redis nodes and moto's buckets hold the data."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from infra.automation.adapters.prometheus import PrometheusMetrics
from infra.automation.adapters.pushgateway import Pushgateway
from infra.automation.adapters.state import LocalStateStore
from infra.config import StackConfig

if TYPE_CHECKING:
    from infra.automation.adapters import Deployer, Router
    from infra.automation.adapters.alertmanager import AlertmanagerAlerts
    from infra.automation.adapters.backup_source import RegionBackup
    from infra.automation.adapters.catalog_dump import CatalogDump
    from infra.automation.adapters.failover_ports import DataStore, FailoverPorts
    from infra.automation.adapters.local_processes import LocalProcesses
    from infra.automation.adapters.step_up import GatewayStepUp
    from infra.local.platform import LocalPlatform
    from runtime.storage import ObjectStore


class LocalTarget:
    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg

    @cached_property
    def platform(self) -> LocalPlatform:
        from infra.local.platform import LocalPlatform

        return LocalPlatform(self.cfg)

    def metrics(self, region: str) -> PrometheusMetrics:
        return PrometheusMetrics(self.cfg.rollout.prometheus_url or self.platform.layout.prometheus_url)

    def pushgateway(self, region: str, override: str | None = None) -> Pushgateway | None:
        return Pushgateway(override or self.platform.layout.pushgateway_url)

    def state_store(self) -> LocalStateStore:
        return LocalStateStore(self.platform.paths.root)

    def router(self, region: str) -> Router:
        from infra.automation.adapters.nginx_local import NginxColorRouter

        return NginxColorRouter(self.platform.router, region)

    def deployer(self, region: str) -> Deployer:
        from infra.automation.adapters.local_deployer import LocalDeployer

        return LocalDeployer(self.platform, region)

    def failover_ports(self) -> FailoverPorts:
        from infra.automation.adapters.failover_ports import FailoverPorts
        from infra.automation.adapters.local_region import (
            LocalRegions,
            NginxRedisEndpoint,
            NginxRegionRouter,
        )
        from infra.automation.adapters.redis_store import RedisDataStore, RedisNode
        from infra.local.layout import LOOPBACK

        platform = self.platform
        nodes = {r.name: RedisNode(LOOPBACK, r.redis) for r in platform.layout.regions}
        regions = LocalRegions(platform, self.cfg.failover.smoke_path)
        return FailoverPorts(
            datastore=self._with_catalog(RedisDataStore(nodes, NginxRedisEndpoint(platform.router))),
            traffic=[NginxRegionRouter(platform.router)],
            health=regions,
            capacity=regions,
            smoke=regions,
        )

    def _with_catalog(self, store: DataStore) -> DataStore:
        """The catalog's PostgreSQL nodes fail over with Redis, as one data store."""
        if not self.cfg.catalog.enabled:
            return store
        from infra.automation.adapters.combined_store import CombinedDataStore
        from infra.automation.adapters.postgres_store import PgNode, PostgresDataStore
        from infra.automation.adapters.supervised_nodes import SupervisedNodes
        from infra.local import catalog

        platform = self.platform
        nodes = {
            r.name: PgNode(
                r.postgres,
                catalog.socket_dir(platform.paths, r.name),
                catalog.datadir(platform.paths, r.name),
            )
            for r in platform.layout.regions
        }
        password = catalog.LocalCredentials.load_or_create(platform.paths).replication
        return CombinedDataStore([store, PostgresDataStore(nodes, SupervisedNodes(platform), password)])

    def backup(self, region: str, *, redis: bool = True) -> RegionBackup:
        from infra.automation.adapters.backup_source import RedisSnapshot, RegionBackup
        from infra.local.aws import AWS_REGION, kms_client, s3_client
        from infra.local.layout import LOOPBACK
        from runtime.security.envelope import Envelope
        from runtime.security.settings import EncryptionSettings
        from runtime.storage import ObjectStore

        endpoint, res = self.platform.layout.moto_url, self.platform.resources
        s3 = s3_client(endpoint)
        settings = EncryptionSettings(
            kms_key_id=res.kms_key_alias, kms_endpoint_url=endpoint, region=AWS_REGION
        )
        return RegionBackup(
            stack=self.cfg.stack,
            region=region,
            backup=ObjectStore(res.backup_buckets[region], client=s3),
            envelope=Envelope(settings, kms=kms_client(endpoint)),
            content=ObjectStore(res.content_buckets[region], client=s3),
            redis=RedisSnapshot(LOOPBACK, self.platform.layout.region(region).redis) if redis else None,
            catalog=self._catalog_dump(region),
        )

    def capacity_knob(self, region: str) -> LocalProcesses:
        from infra.automation.adapters.local_processes import LocalProcesses

        self.platform.layout.region(region)  # KeyError names the platform's regions
        return LocalProcesses(self.platform, region)

    def _catalog_dump(self, region: str) -> CatalogDump | None:
        """The region's catalog node (primary or replica: the dump is of one snapshot either way)."""
        if not self.cfg.catalog.enabled:
            return None
        from infra.automation.adapters.catalog_dump import CatalogDump
        from infra.local import catalog

        paths = self.platform.paths
        if not catalog.initialised(paths, region):
            return None
        return CatalogDump(self.platform.layout.region(region).postgres, catalog.socket_dir(paths, region))

    def bucket(self, name: str, region: str) -> ObjectStore:
        from infra.local.aws import s3_client
        from runtime.storage import ObjectStore

        return ObjectStore(name, client=s3_client(self.platform.layout.moto_url))

    def alerts(self, region: str) -> AlertmanagerAlerts:
        from infra.automation.adapters.alertmanager import AlertmanagerAlerts

        return AlertmanagerAlerts(self.platform.layout.alertmanager_url)  # one for every region

    def notification_urls(self) -> dict[str, str]:
        """From the environment: the local platform has no Pulumi secrets."""
        import os

        from infra.automation.notify.wiring import secret_env

        found = {c: os.environ.get(secret_env(k), "") for c, k in self.cfg.notifications.secrets.items()}
        return {c: url for c, url in found.items() if url}

    def step_up(self) -> GatewayStepUp:
        """Through the edge, verified with the signing key the platform gave its gateways."""
        from infra.automation.adapters.step_up import GatewayStepUp
        from infra.local.state import Secrets
        from runtime.service.tokens import TokenSigner

        key = Secrets.load_or_create(self.platform.paths).signing_key.encode()
        return GatewayStepUp(self.platform.layout.edge_url, TokenSigner(key))
