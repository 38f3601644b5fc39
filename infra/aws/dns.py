"""Route 53: the stack's zone, an HTTPS health check per region on the gateway's readiness path, and
failover records for the API name.

Route 53 failover is pairwise (PRIMARY/SECONDARY), so regions are chained in order: api → region 0, else
failover-1.api → region 1, else failover-2.api → ... Every region is in the chain, primary first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import child
from infra.names import api_name, origin_name
from runtime.service import paths

# Route 53 health checkers must run from at least three of its checker regions.
HEALTH_CHECKER_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-1"]


@dataclass(frozen=True)
class DnsArgs:
    stack: str
    domain: str  # the zone


class Dns(pulumi.ComponentResource):
    """The zone comes first (certificates validate through it, the CDN's alias lives in it); the origin
    records, health checks and failover chain follow once the regions' load balancers exist (`route`)."""

    zone: aws.route53.Zone
    health_checks: dict[str, aws.route53.HealthCheck]

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("streamgate:aws:Dns", name, None, opts)
        self.name, self.args = name, args
        self.zone = aws.route53.Zone(f"{name}-zone", name=args.domain, force_destroy=False, opts=child(self))
        self.health_checks = {}

    def route(self, regions: Sequence[str], origin_targets: Mapping[str, pulumi.Input[str]]) -> None:
        """Origin names → the regions' ingress load balancers, an HTTPS health check per region on the
        gateway's readiness path (through the load balancer, as a viewer's request goes), and the chain."""
        name, domain = self.name, self.args.domain
        for region, target in origin_targets.items():
            aws.route53.Record(
                f"{name}-origin-{region}",
                zone_id=self.zone.zone_id,
                name=origin_name(domain, region),
                type="CNAME",
                ttl=60,
                records=[target],
                opts=child(self),
            )
        self.health_checks = {
            region: aws.route53.HealthCheck(
                f"{name}-health-{region}",
                type="HTTPS",
                fqdn=origin_name(domain, region),
                port=443,
                enable_sni=True,
                resource_path=paths.READY,
                request_interval=10,
                failure_threshold=3,
                measure_latency=True,
                regions=HEALTH_CHECKER_REGIONS,
                tags={"Name": f"streamgate-{self.args.stack}-{region}", "streamgate/region": region},
                opts=child(self),
            )
            for region in regions
        }
        chain = [api_name(domain)] + [f"failover-{i}.{api_name(domain)}" for i in range(1, len(regions) - 1)]
        for i, record_name in enumerate(chain):
            region = regions[i]
            # The last link's secondary is the last region itself; otherwise it is the next link.
            is_last = i == len(chain) - 1
            secondary_target = (
                origin_name(domain, regions[i + 1])
                if is_last and len(regions) > 1
                else (chain[i + 1] if not is_last else None)
            )
            self._record(
                name,
                record_name,
                "PRIMARY",
                origin_name(domain, region),
                self.health_checks[region],
                f"{region}",
            )
            if secondary_target is not None:
                secondary_region = regions[i + 1]
                # A chained SECONDARY has no health check of its own: the next link's PRIMARY has one.
                check = self.health_checks[secondary_region] if is_last else None
                self._record(name, record_name, "SECONDARY", secondary_target, check, f"{secondary_region}")
        self.register_outputs({"zoneId": self.zone.zone_id})

    def _record(
        self,
        name: str,
        record_name: str,
        role: str,
        target: str,
        check: aws.route53.HealthCheck | None,
        set_id: str,
    ) -> None:
        aws.route53.Record(
            f"{name}-{record_name.split('.')[0]}-{role.lower()}",
            zone_id=self.zone.zone_id,
            name=record_name,
            type="CNAME",
            ttl=30,
            records=[target],
            set_identifier=set_id,
            failover_routing_policies=[{"type": role}],
            health_check_id=check.id if check else None,
            opts=child(self),
        )
