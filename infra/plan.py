"""The offline plan: run the Pulumi program under Pulumi's own mocks and record every resource it declares.

No cloud, no credentials and no Pulumi CLI are needed. The mocks echo inputs back as outputs and add the
computed outputs the program reads (ARNs, endpoints, OIDC issuers...), so every resource is registered
with the inputs a real `pulumi preview` would send to the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import source_pb2

from infra.config import SECRET_KEYS, StackConfig, secret_versions
from infra.platform import GLOBAL_PROVIDER
from infra.preview.paths import property_path

PROJECT = "streamgate"
ACCOUNT = "123456789012"
PLACEHOLDER_SECRET = "offline-plan-placeholder-secret"


@dataclass
class PlanResource:
    type: str
    name: str
    urn: str
    custom: bool
    parent: str | None
    provider: str | None
    region: str | None
    inputs: dict[str, Any]
    id: str | None = None
    arn: str | None = None
    # Property path (as `property_path` writes it) → a digest of what that secret input holds. The plan only
    # ever holds placeholders that carry the stack file's secret versions, so the digest reveals nothing;
    # it changes when a secret is rotated, which `[secret]` alone cannot show.
    secrets: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    stack: str
    resources: list[PlanResource]
    outputs: dict[str, Any] = field(default_factory=dict)  # as the program returned them (Outputs)
    # The outputs resolved under the mocks, secrets in clear: what `pulumi stack output --json
    # --show-secrets` would print after an `up` (infra/outputs.py is their shape).
    resolved_outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[PlanResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, region: str | None = None) -> PlanResource:
        found = [r for r in self.of_type(type_token) if region is None or r.region == region]
        if len(found) != 1:
            raise LookupError(f"expected one {type_token} in {region or 'the plan'}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> PlanResource:
        return next(r for r in self.resources if r.urn == urn)

    def referenced(self, ref: str) -> PlanResource:
        """The resource whose id or ARN an input holds (inputs carry references as resolved strings)."""
        return next(r for r in self.resources if ref in (r.id, r.arn))

    def children(self, parent: PlanResource) -> list[PlanResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    @property
    def regions(self) -> list[str]:
        return sorted({r.region for r in self.resources if r.region is not None})


def _short(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:7]


def _uuid(name: str) -> str:
    """A stable UUID-shaped id (KMS key ids, health check ids), as AWS formats them."""
    h = hashlib.sha1(name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _physical(typ: str, name: str) -> str:
    return f"{name}-{_short(typ + name)}"  # names are unique per type only


def mock_tokens(typ: str, name: str) -> set[str]:
    """What the mocks invent for a resource (physical name, short hashes in endpoints, zone ids and OIDC
    issuers): a value that contains one is computed by the cloud and unknown offline."""
    short = _short(name)
    return {_physical(typ, name), short, short.upper()}


class PlanMocks(pulumi.runtime.Mocks):
    """Answers the engine's calls the way AWS would, closely enough for the program to finish."""

    def __init__(self) -> None:
        self.provider_regions: dict[str, str | None] = {}

    def region_of(self, provider_ref: str | None) -> str | None:
        if not provider_ref:
            return None
        return self.provider_regions.get(provider_ref.rsplit("::", 1)[0])

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        region = self.region_of(args.provider) or "us-east-1"
        physical = _physical(typ, name)
        state: dict[str, Any] = {
            "arn": f"arn:aws:{typ.split(':')[1].split('/')[0]}:{region}:{ACCOUNT}:{physical}"
        }
        state.setdefault("name", physical)
        state.update(inputs)
        computed = computed_outputs(typ, name, physical, region, inputs)
        resource_id = str(computed.pop("id", f"{physical}-id"))  # where AWS's ids have a format of their own
        state.update(computed)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        region = self.region_of(args.provider) or "us-east-1"
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {
                "names": [f"{region}{z}" for z in "abc"],
                "zoneIds": [f"{region}-az{i}" for i in (1, 2, 3)],
            }
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/plan", "userId": "plan"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region}
        return {}


def computed_outputs(
    typ: str, name: str, physical: str, region: str, inputs: dict[str, Any]
) -> dict[str, Any]:
    """Outputs AWS computes that the program reads back."""
    if typ == "aws:eks/cluster:Cluster":
        return {
            "endpoint": f"https://{_short(name).upper()}.gr7.{region}.eks.amazonaws.com",
            "certificateAuthority": {"data": "TU9DSy1DQQ=="},
            "identities": [
                {"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{_short(name)}"}]}
            ],
        }
    if typ == "aws:eks/nodeGroup:NodeGroup":
        cluster = inputs.get("clusterName", "cluster")
        return {"arn": f"arn:aws:eks:{region}:{ACCOUNT}:nodegroup/{cluster}/{physical}/{_uuid(name)}"}
    if typ == "aws:elasticache/replicationGroup:ReplicationGroup":
        return {
            # The ARN ends with the replication group's id (what the automation's calls name).
            "arn": f"arn:aws:elasticache:{region}:{ACCOUNT}:replicationgroup:{physical}-id",
            "primaryEndpointAddress": f"master.{physical}.cache.amazonaws.com",
            "readerEndpointAddress": f"replica.{physical}.cache.amazonaws.com",
        }
    if typ == "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup":
        global_id = f"ldgnf-{inputs.get('globalReplicationGroupIdSuffix', name)}"
        return {
            "globalReplicationGroupId": global_id,
            "arn": f"arn:aws:elasticache::{ACCOUNT}:globalreplicationgroup:{global_id}",
        }
    if typ == "aws:rds/globalCluster:GlobalCluster":
        global_id = inputs.get("globalClusterIdentifier", physical)
        return {"id": global_id, "arn": f"arn:aws:rds::{ACCOUNT}:global-cluster:{global_id}"}
    if typ == "aws:rds/cluster:Cluster":
        cluster_id = inputs.get("clusterIdentifier", physical)
        out: dict[str, Any] = {
            "id": cluster_id,
            "arn": f"arn:aws:rds:{region}:{ACCOUNT}:cluster:{cluster_id}",
            "clusterResourceId": f"cluster-{_uuid(name).replace('-', '').upper()[:26]}",
            "endpoint": f"{cluster_id}.cluster-{_short(name)}.{region}.rds.amazonaws.com",
            "readerEndpoint": f"{cluster_id}.cluster-ro-{_short(name)}.{region}.rds.amazonaws.com",
        }
        if inputs.get("manageMasterUserPassword"):
            secret = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:rds!cluster-{_uuid(name)}-AbCdEf"
            out["masterUserSecrets"] = [{"secretArn": secret, "secretStatus": "active"}]
        return out
    if typ == "aws:rds/proxy:Proxy":
        proxy = inputs.get("name", physical)
        return {
            "arn": f"arn:aws:rds:{region}:{ACCOUNT}:db-proxy:prx-{_uuid(name).replace('-', '')[:17]}",
            "endpoint": f"{proxy}.proxy-{_short(name)}.{region}.rds.amazonaws.com",
        }
    if typ == "aws:rds/proxyEndpoint:ProxyEndpoint":
        endpoint = inputs.get("dbProxyEndpointName", physical)
        return {"endpoint": f"{endpoint}.endpoint.proxy-{_short(name)}.{region}.rds.amazonaws.com"}
    if typ == "aws:s3/bucket:Bucket":
        # S3 and IAM ARNs carry no region (IRSA policies and the policy pack read them).
        return {
            "bucket": physical,
            "arn": f"arn:aws:s3:::{physical}",
            "bucketDomainName": f"{physical}.s3.amazonaws.com",
        }
    if typ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::{ACCOUNT}:role/{physical}"}
    if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        issuer = str(inputs.get("url", physical)).removeprefix("https://")
        return {"arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}"}
    if typ == "kubernetes:networking.k8s.io/v1:Ingress":
        # ingress-nginx publishes its load balancer (an NLB) in the Ingress status; DNS points at it.
        hostname = f"{_short(name)}-{_short(region)}.elb.{region}.amazonaws.com"
        return {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}
    if typ == "aws:kms/key:Key":
        key_id = _uuid(name)
        return {"keyId": key_id, "arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"}
    if typ == "aws:acm/certificate:Certificate":
        # ACM's validation record depends on the name (and account) only: the same in every region.
        domains = [inputs.get("domainName", ""), *inputs.get("subjectAlternativeNames", [])]
        return {
            "arn": f"arn:aws:acm:{region}:{ACCOUNT}:certificate/{_uuid(name)}",
            "domainValidationOptions": [
                {
                    "domainName": domain,
                    "resourceRecordType": "CNAME",
                    "resourceRecordName": f"_{_short(domain)}.{domain}.",
                    "resourceRecordValue": f"_{_short('value' + domain)}.acm-validations.aws.",
                }
                for domain in domains
            ],
        }
    if typ == "aws:cloudfront/distribution:Distribution":
        distribution_id = f"E{_short(name).upper()}{_short(physical).upper()}"
        return {
            "id": distribution_id,
            "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{distribution_id}",
            "domainName": f"d{_short(name)}.cloudfront.net",
            "hostedZoneId": "Z2FDTNDATAQYW2",
        }
    if typ == "aws:route53/zone:Zone":
        zone_id = f"Z{_short(name).upper()}"
        return {"zoneId": zone_id, "arn": f"arn:aws:route53:::hostedzone/{zone_id}"}
    if typ == "aws:route53/healthCheck:HealthCheck":
        check_id = _uuid(name)
        return {"id": check_id, "arn": f"arn:aws:route53:::healthcheck/{check_id}"}
    if typ == "aws:route53/record:Record":
        return {"fqdn": inputs.get("name", physical)}
    return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping each registration's parent and provider (mocks alone don't see them)."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.plan_mocks = mocks
        self.order: list[tuple[str, str, str, str, bool, str, dict[str, Any]]] = []
        self.ids: dict[str, tuple[str | None, str | None]] = {}
        self.parents: dict[str, str] = {}
        self.component_providers: dict[str, list[str]] = {}

    def inherited_region(self, urn: str | None) -> str | None:
        """The region of the nearest ancestor component whose providers carry one: a provider with no region
        input (a Kubernetes cluster's) belongs to the region component it is parented under."""
        while urn:
            for ref in self.component_providers.get(urn, []):
                region = self.plan_mocks.region_of(ref)
                if region:
                    return region
            urn = self.parents.get(urn)
        return None

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        registered = self.resources.get(response.urn)
        if registered is not None:
            self.ids[response.urn] = (registered.id or None, registered.state.get("arn"))
        self.parents[response.urn] = request.parent
        if not request.custom:
            self.component_providers[response.urn] = list(request.providers.values())
        if request.type.startswith("pulumi:providers:"):
            region = (
                request.object.fields["region"].string_value
                if "region" in request.object.fields
                else self.inherited_region(request.parent)
            )
            # The provider for global services (CloudFront, Route 53, WAF) is pinned to us-east-1 but
            # what it manages has no region.
            self.plan_mocks.provider_regions[response.urn] = (
                None if request.name == GLOBAL_PROVIDER else region
            )
        raw = pulumi.runtime.rpc.deserialize_properties(request.object) if request.object else {}
        self.order.append(
            (
                response.urn,
                request.type,
                request.name,
                request.parent,
                bool(request.custom),
                request.provider,
                dict(raw),
            )
        )
        return response


def run_plan(
    cfg: StackConfig,
    program: Callable[[StackConfig], dict[str, Any]] | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
) -> Plan:
    """Run `program` (default: the real Pulumi program) for `cfg` under mocks and return what it declared.

    `secrets`: secret key → version marker (default: the stack file's, `config.secret_versions`). Each
    secret's placeholder carries its version, so a rotation changes what the plan records for it."""
    if program is None:
        from infra.platform import build_platform

        def program(c: StackConfig) -> dict[str, Any]:
            return build_platform(c).outputs

    # Pulumi's runtime drives its coroutines on the thread's current loop; a caller (an asyncio test run,
    # a CLI that closed its loop) may have left none, so each plan gets a fresh one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    pulumi_settings.reset_options(project=PROJECT, stack=cfg.stack, preview=True)
    versions = secret_versions(cfg.stack) if secrets is None else secrets
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{key}": f"{PLACEHOLDER_SECRET}:{versions.get(key, 'unset')}" for key in SECRET_KEYS},
        secret_keys=[f"{PROJECT}:{key}" for key in SECRET_KEYS],
    )
    pulumi_mocks.set_mocks(mocks, project=PROJECT, stack=cfg.stack, preview=True, monitor=monitor)
    outputs: dict[str, Any] = {}
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[None]:
        outputs.update(program(cfg))
        return pulumi.Output.from_input(outputs).apply(lambda values: resolved.update(values))

    # A plan builds about a million long-lived objects (SDK classes, resources, outputs) and frees none
    # until it ends, so the cyclic collector's rescans of the growing heap are pure cost: 2 s of 7.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with _no_source_positions():
            run()
    finally:
        if collecting:
            _age_heap()
            gc.enable()
    return Plan(stack=cfg.stack, resources=_resolve(monitor), outputs=outputs, resolved_outputs=resolved)


def _age_heap() -> None:
    """Move every object the collector tracks into its oldest generation, without a scan.

    With the collector off, the plan's million objects pile up in the youngest generation, and the first
    collections after it is back on would walk all of them (0.5 s of CPU, a fifth of a plan) only to
    promote them. Freezing then unfreezing promotes them for free; a full collection still reclaims
    them later. Skipped when the process holds frozen objects of its own, which unfreezing would release.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


@contextlib.contextmanager
def _no_source_positions() -> Iterator[None]:
    """Register resources without the caller's stack trace attached.

    Pulumi walks and serializes the Python stack of every resource it registers (a tenth of a plan's CPU)
    so that the engine can point its diagnostics at the program's source; a plan never shows them."""
    original = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = original


def _resolve(monitor: RecordingMonitor) -> list[PlanResource]:
    rows = {
        urn: (typ, name, parent, custom, provider, inputs)
        for urn, typ, name, parent, custom, provider, inputs in monitor.order
    }
    regions = monitor.plan_mocks.provider_regions

    def provider_region(ref: str | None) -> str | None:
        if not ref:
            return None
        urn = ref.rsplit("::", 1)[0]
        if regions.get(urn):
            return regions[urn]
        return region_via_parents(rows[urn][2]) if urn in rows else None

    def region_via_parents(urn: str | None) -> str | None:
        # A provider with no region of its own (a Kubernetes cluster's) belongs to the region it sits in.
        while urn and urn in rows:
            if regions.get(urn):
                return regions[urn]
            region = provider_region(rows[urn][4])
            if region:
                return region
            urn = rows[urn][2]
        return None

    resources = []
    for urn, (typ, name, parent, custom, provider, inputs) in rows.items():
        secrets: dict[str, str] = {}
        if typ.startswith("pulumi:providers:"):
            region = regions.get(urn) or region_via_parents(parent)
        else:
            region = provider_region(provider)
        resources.append(
            PlanResource(
                type=typ,
                name=name,
                urn=urn,
                custom=custom,
                parent=parent or None,
                provider=provider.rsplit("::", 1)[0] if provider else None,
                region=region,
                inputs=_plain(inputs, "", secrets),
                id=monitor.ids.get(urn, (None, None))[0] if custom else None,
                arn=monitor.ids.get(urn, (None, None))[1] if custom else None,
                secrets=secrets,
            )
        )
    _assign_component_regions(resources)
    # Registration order depends on async scheduling; sort so that two plans of one stack diff cleanly.
    return sorted(resources, key=lambda r: r.urn)


def _assign_component_regions(resources: list[PlanResource]) -> None:
    """A component is in a region when everything under it is; otherwise (or if empty) it is global."""
    by_parent: dict[str, list[PlanResource]] = {}
    for r in resources:
        if r.parent:
            by_parent.setdefault(r.parent, []).append(r)

    # Memoized: each component's answer is its children's, so every subtree is walked once.
    known: dict[str, frozenset[str | None]] = {}

    def leaf_regions(r: PlanResource) -> frozenset[str | None]:
        found = known.get(r.urn)
        if found is None:
            kids = by_parent.get(r.urn, [])
            if r.custom or not kids:
                found = frozenset({r.region})
            else:
                found = frozenset().union(*(leaf_regions(k) for k in kids))
            known[r.urn] = found
        return found

    for r in resources:
        if not r.custom:
            found = leaf_regions(r)
            r.region = next(iter(found)) if len(found) == 1 else None


def _plain(value: Any, path: str = "", secrets: dict[str, str] | None = None) -> Any:
    """Inputs as JSON-able values (resource references become their URNs; unknowns become None). Secrets
    show as `[secret]`; `secrets` collects a digest of each one's content by property path."""
    if isinstance(value, dict):
        if pulumi.runtime.rpc._special_sig_key in value:  # a secret: never shown, not even the placeholder
            if secrets is not None:
                content = json.dumps(_plain(value.get("value")), sort_keys=True, default=str)
                secrets[path] = hashlib.sha256(content.encode()).hexdigest()[:12]
            return "[secret]"
        return {k: _plain(v, property_path(path, k), secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, property_path(path, i), secrets) for i, v in enumerate(value)]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def summarize(plan: Plan) -> list[tuple[str, str, str, int]]:
    """(region, component, type, count) rows, for the human-readable plan."""
    by_urn = {r.urn: r for r in plan.resources}
    counts: dict[tuple[str, str, str], int] = {}
    for r in plan.resources:
        if not r.custom:
            continue
        component = by_urn[r.parent].type if r.parent in by_urn else "-"
        key = (r.region or "global", component, r.type)
        counts[key] = counts.get(key, 0) + 1
    return [(*k, n) for k, n in sorted(counts.items(), key=_region_order(plan))]


def _region_order(plan: Plan) -> Callable[[tuple[tuple[str, str, str], int]], tuple[int, str, str, str]]:
    order = {name: i for i, name in enumerate(_first_seen_regions(plan.resources))}

    def key(item: tuple[tuple[str, str, str], int]) -> tuple[int, str, str, str]:
        (region, component, typ), _ = item
        return (order.get(region, len(order)), region, component, typ)

    return key


def _first_seen_regions(resources: Iterable[PlanResource]) -> list[str]:
    seen: list[str] = []
    for r in resources:
        if r.region and r.region not in seen:
            seen.append(r.region)
    return seen
