"""The pack as the Pulumi engine runs it: a process that builds the PolicyPack, prints the analyzer's gRPC port
on stdout and serves. We start it both ways (the language host's `python -u -m pulumi.policy <engine> <dir>`
and the file directly), ask for the pack's metadata, and run a broken prod plan through its gRPC Analyze /
AnalyzeStack: the verdicts must equal the offline runner's."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto.analyzer_pb2_grpc import AnalyzerStub

from infra.plan import Plan, PlanResource
from policies.offline import CONFIG_DIR, PackConfig, run_policies
from policies.pack import PACK_NAME, POLICIES
from tests.policies.test_offline import fresh, set_input

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
LEVELS = {
    "advisory": pb.ADVISORY,
    "mandatory": pb.MANDATORY,
    "disabled": pb.DISABLED,
    "remediate": pb.REMEDIATE,
}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}


@contextmanager
def served(command: list[str], cwd: Path) -> Iterator[AnalyzerStub]:
    """Start the pack, read the port it prints, connect; kill the process afterwards (it never exits)."""
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            proc.kill()
            raise AssertionError(
                f"no port on stdout: {line!r}; stderr: {proc.stderr.read().decode()[-2000:]}"
            )
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        grpc.channel_ready_future(channel).result(timeout=10)
        yield AnalyzerStub(channel)
        channel.close()
        assert proc.poll() is None, "the pack must keep serving"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


LAUNCHES = {
    # What the Python language host runs for a policy pack (the SDK's pulumi/policy/__main__.py takes the
    # engine's address and the pack's folder, and runs its __main__.py with runpy); the pack's own folder is
    # the working directory and first on sys.path.
    "engine": ([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."], ROOT / "policies"),
    "direct": ([sys.executable, "-u", "policies/__main__.py"], ROOT),
}


@pytest.mark.parametrize("launch", list(LAUNCHES))
def test_pack_builds_and_serves_its_policies(launch: str) -> None:
    command, cwd = LAUNCHES[launch]
    with served(command, cwd) as analyzer:
        info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == PACK_NAME and info.supportsConfig
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    for served_policy, policy in zip(info.policies, POLICIES, strict=True):
        assert served_policy.description == policy.description and len(policy.description) > 40
        assert served_policy.enforcementLevel == pb.MANDATORY
    by_name = {p.name: p for p in info.policies}
    assert by_name["s3-bucket-protected"].policy_type == pb.POLICY_TYPE_STACK
    assert by_name["kms-key-rotation"].policy_type == pb.POLICY_TYPE_RESOURCE
    assert "minRetentionDays" in by_name["backup-bucket-retention"].configSchema.properties
    assert "environment" in by_name["eks-public-endpoint-restricted"].configSchema.properties


def broken(plan: Plan) -> Plan:
    plan = fresh(plan)
    set_input("aws:eks/cluster:Cluster", "vpcConfig", {"endpointPublicAccess": True})(plan)
    set_input("aws:kms/key:Key", "enableKeyRotation", False, "eu-west-1")(plan)
    set_input("aws:s3/bucketVersioning:BucketVersioning", "versioningConfiguration.status", "Suspended")(plan)
    plan.resources = [r for r in plan.resources if "Replication" not in r.type]
    if plan.of_type("kubernetes:apps/v1:Deployment"):
        set_input("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "spec.minReplicas", 1.0)(plan)
        spec = "spec.template.spec.containers.0.securityContext.runAsUser"
        set_input("kubernetes:apps/v1:Deployment", spec, 0.0)(plan)
    return plan


def analyze_over_grpc(
    analyzer: AnalyzerStub, plan: Plan, config: PackConfig
) -> set[tuple[str, str, str, str]]:
    """What the engine would do with a preview of `plan`: configure, Analyze each resource, AnalyzeStack."""
    analyzer.Configure(
        pb.ConfigureAnalyzerRequest(
            policyConfig={
                p.name: pb.PolicyConfig(
                    enforcementLevel=LEVELS[config.level_of(p).value],
                    properties=struct(config.properties_of(p)),
                )
                for p in POLICIES
            }
        ),
        timeout=10,
    )
    by_urn = {r.urn: r for r in plan.resources}

    def provider(r: PlanResource) -> pb.AnalyzerProviderResource | None:
        p = by_urn.get(r.provider or "")
        return (
            pb.AnalyzerProviderResource(type=p.type, properties=struct(p.inputs), urn=p.urn, name=p.name)
            if p
            else None
        )

    found: set[tuple[str, str, str, str]] = set()
    for r in plan.resources:
        request = pb.AnalyzeRequest(
            type=r.type,
            properties=struct(r.inputs),
            urn=r.urn,
            name=r.name,
            options=pb.AnalyzerResourceOptions(parent=r.parent or ""),
            provider=provider(r),
        )
        for d in analyzer.Analyze(request, timeout=10).diagnostics:
            found.add((d.policyName, d.urn or r.urn, d.message, LEVEL_NAMES[d.enforcementLevel]))
    stack = pb.AnalyzeStackRequest(
        resources=[
            pb.AnalyzerResource(
                type=r.type,
                properties=struct({**r.inputs, **{k: v for k, v in (("id", r.id), ("arn", r.arn)) if v}}),
                urn=r.urn,
                name=r.name,
                options=pb.AnalyzerResourceOptions(parent=r.parent or ""),
                provider=provider(r),
                parent=r.parent or "",
            )
            for r in plan.resources
        ]
    )
    for d in analyzer.AnalyzeStack(stack, timeout=30).diagnostics:
        found.add((d.policyName, d.urn, d.message, LEVEL_NAMES[d.enforcementLevel]))
    return found


def test_served_pack_and_offline_runner_agree(plan_of: Callable[[str], Plan]) -> None:
    plan = broken(plan_of("prod"))
    document = json.loads((CONFIG_DIR / "prod.json").read_text())
    config = PackConfig.parse({**document, "s3-versioning-enabled": "advisory"}, "prod.json + override")
    offline = {
        (v.policy, v.urn or "", f"{v.description}\n{v.message}", v.level)
        for v in run_policies(plan, config).violations
    }
    with served(*LAUNCHES["direct"]) as analyzer:
        engine = analyze_over_grpc(analyzer, plan, config)
    assert engine == offline
    policies = {policy for policy, _, _, _ in offline}
    assert {"eks-public-endpoint-restricted", "kms-key-rotation", "prod-backup-replication"} <= policies
    assert {level for policy, _, _, level in offline if policy == "s3-versioning-enabled"} == {"advisory"}
    if plan.of_type("kubernetes:apps/v1:Deployment"):
        assert {"gateway-autoscaled", "k8s-non-root"} <= policies


def test_pack_entry_point_keeps_its_folder_off_sys_path() -> None:
    """Run under runpy from its own folder (as the engine does), the pack must import modules as the
    `policies` package, never as top-level modules that could shadow installed ones (e.g. `keys`, `cache`)."""
    probe = (
        "import os, runpy, sys, pulumi_policy\n"
        "here = os.path.realpath('.')\n"
        "def pack(**kw):\n"
        "    print('PACK', kw['name'], len(kw['policies']))\n"
        "    print('ON_PATH', any(os.path.realpath(p or '.') == here for p in sys.path))\n"
        "    print('SHADOW', sorted(m for m in ('keys', 'cache', 'storage', 'cluster', 'cdn') if m in sys.modules))\n"
        "pulumi_policy.PolicyPack = pack\n"
        "runpy.run_path('.', run_name='__main__')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT / "policies",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"PACK {PACK_NAME} {len(POLICIES)}" in out.stdout
    assert "ON_PATH False" in out.stdout and "SHADOW []" in out.stdout
