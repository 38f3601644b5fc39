"""The deployment actually starts: the prod plan's gateway container, run as its spec says.

No container engine runs here, so the image is reproduced from runtime/Dockerfile: a fresh virtualenv holding
exactly what the image installs (its COPY lines and the `runtime` extra; not the repository, not the infra
extra), its ENV, and its ENTRYPOINT + CMD. The process gets exactly the spec's environment, with secret
references resolved to test values and the plan's endpoints mapped as a cluster's network would map them:

- ElastiCache (TLS + AUTH) → a local redis-server speaking TLS with a test CA (`SSL_CERT_FILE`) and AUTH;
- S3, KMS and CloudFront → moto's server (`AWS_ENDPOINT_URL`), with the plan's buckets, a KMS key and a
  distribution whose made-up ids are mapped to moto's;
- the pod's address → 127.0.0.2 (the kubelet probes the pod IP, so a gateway bound to 127.0.0.1 fails), and
  the container port → a free port (as `docker run -p` maps it).

Then the probes must pass, /version must report the spec's region, color and version, and an admin's content
PUT (with MFA step-up and CDN purge) and a GET must round-trip. Removing any required variable or secret from
the spec makes the same run fail; hadolint checks the Dockerfile itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest

from infra.gateway_env import ContractError, check_environment
from runtime.connections import redis_client
from runtime.service.settings import deploy_required
from tests.deployed import Deployed, deploy
from tests.gateway_spec import (
    MFA_HEADER,
    SECRETS,
    admin_token,
    container,
    current_code,
    enroll_admin,
    environment,
)
from tests.image import DOCKERFILE, Image, parse, runtime_environment
from tests.kubeapi import FakeKubeApi
from tests.servers import MotoServer, RedisServer, free_port, moto_server, redis_server, stop
from tests.tls import make_certificates

REGION = "eu-west-1"
POD_IP = "127.0.0.2"
_ENVIRON = threading.Lock()  # held while a test thread changes os.environ


@dataclass
class Cluster:
    """What the pod's network reaches: moto, the TLS Redis, and the plan deployed into them."""

    moto: MotoServer
    redis: RedisServer
    ca: Path
    deployed: Deployed
    image: Image
    python: Path
    workdir: Path


@pytest.fixture(scope="module")
def cluster(plan_of: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("container")
    image = parse()
    python = runtime_environment(image, workdir / "image")
    certs = make_certificates(workdir / "tls")
    token = SECRETS[("gateway", "redis-auth-token")]
    with (
        moto_server() as moto,
        redis_server(workdir / "redis", tls=(certs.cert, certs.key, certs.ca), password=token) as redis,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("AWS_ENDPOINT_URL", moto.url)
        boto3.DEFAULT_SESSION = None
        moto.reset()  # in-process moto servers share their state: start from none
        deployed = deploy(plan_of("prod"), FakeKubeApi())
        yield Cluster(moto, redis, certs.ca, deployed, image, python, workdir)
        boto3.DEFAULT_SESSION = None


def spec(cluster: Cluster, plan: Any, color: str = "blue") -> dict[str, Any]:
    return cluster.deployed.map(container(plan, REGION, color))


def process_environment(cluster: Cluster, spec: dict[str, Any], port: int) -> dict[str, str]:
    """The image's ENV, then the spec's env (secrets resolved), then the cluster's network mapped in."""
    env = {k: v for k, v in cluster.image.env.items() if k != "PATH"}
    env.update(environment(spec))
    env["PATH"] = f"{cluster.python.parent}:/usr/bin:/bin"
    env["HOME"] = str(cluster.workdir)
    for name in ("STREAMGATE_SERVER__PORT",):
        if env.get(name) == str(int(spec["ports"][0]["containerPort"])):
            env[name] = str(port)  # the container port, as published on this machine
    if "STREAMGATE_REDIS__URL" in env:
        # The ElastiCache endpoint resolves to the local TLS Redis (same scheme, port mapped).
        env["STREAMGATE_REDIS__URL"] = f"rediss://127.0.0.1:{cluster.redis.port}/0"
    env |= {
        "AWS_ENDPOINT_URL": cluster.moto.url,
        "AWS_ACCESS_KEY_ID": "testing",  # IRSA's web identity in a cluster; moto takes any key here
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SSL_CERT_FILE": str(cluster.ca),  # the cluster's CA bundle trusts ElastiCache's certificate
    }
    return env


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def request(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def run(
    cluster: Cluster, spec: dict[str, Any], complete: dict[str, str], label: str, timeout: float = 30.0
) -> list[str]:
    """Start the image's command with the spec's environment and check what a cluster would: probes,
    identity, an admin round trip (as an operator holding the `complete` spec's keys). The problems seen
    (empty: the deployment works)."""
    port = free_port()
    container_port = spec["ports"][0]
    env = process_environment(cluster, spec, port)
    base = f"http://{POD_IP}:{port}"
    log = cluster.workdir / f"{label}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cluster.image.command, cwd=cluster.workdir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    problems: list[str] = []
    try:
        probes = {p: spec[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}
        if any(spec[p]["httpGet"]["port"] != container_port["name"] for p in probes):
            problems.append("a probe does not target the container's port")
        deadline = time.monotonic() + timeout
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = get(base + probes["startupProbe"], 1)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if status != 200:
            return [f"never started (exit {proc.poll()}): {log.read_text()[-600:]}"]
        for probe in ("livenessProbe", "readinessProbe"):
            deadline = time.monotonic() + 10
            while (status := get(base + probes[probe])[0]) != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            if status != 200:
                problems.append(f"{probe} {probes[probe]} answers {status}")
        _, body = get(base + "/version")
        identity = json.loads(body)
        for key, name in (("region", "REGION"), ("color", "COLOR"), ("version", "VERSION")):
            if identity.get(key) != complete[f"STREAMGATE_{name}"]:
                problems.append(f"/version says {key} {identity.get(key)!r}")
        problems += admin_round_trip(cluster, complete, base, label)
    finally:
        stop(proc)
    return problems


def admin_round_trip(cluster: Cluster, complete: dict[str, str], base: str, label: str) -> list[str]:
    """Enroll an operator's TOTP (as `python -m runtime.service enroll-mfa` does), step up, PUT, GET."""

    async def enroll() -> str:
        client = redis_client(cluster.redis.url, password=SECRETS[("gateway", "redis-auth-token")])
        try:
            return await enroll_admin(complete, client, boto3.client("kms", region_name=REGION), label)
        finally:
            await client.aclose()

    # Trust the test CA. os.environ is the process's: the parallel runs of one test take turns, or one
    # run's restore removes the variable under another's TLS handshake (it did, once in a full suite).
    with _ENVIRON, mock.patch.dict(os.environ, {"SSL_CERT_FILE": str(cluster.ca)}):
        secret = asyncio.run(enroll())
    status, body = request(
        "POST",
        f"{base}/v1/auth/step-up",
        None,
        # Signed with the previous key: tokens issued before a key rotation must still be honoured.
        {
            "Authorization": f"Bearer {admin_token(complete, label, previous=True)}",
            MFA_HEADER: current_code(secret),
        },
    )
    if status != 200:
        return [f"MFA step-up answers {status}: {body[:200]!r}"]
    token = json.loads(body)["token"]
    payload = f"segment of {label}".encode() * 64
    path = f"/v1/content/spec-{label}/segments/0"
    status, body = request(
        "PUT", base + path, payload, {"Authorization": f"Bearer {token}", "Content-Type": "video/mp2t"}
    )
    if status != 200:
        return [f"admin PUT answers {status}: {body[:200]!r}"]
    status, body = get(base + path)
    if (status, body) != (200, payload):
        return [f"GET after PUT answers {status} ({len(body)} bytes)"]
    purged = boto3.client("cloudfront").list_invalidations(
        DistributionId=complete["STREAMGATE_CDN__CLOUDFRONT_DISTRIBUTION_ID"]
    )["InvalidationList"]
    if not any(path in p for i in purged.get("Items", []) for p in _paths(i["Id"], complete)):
        return [f"the PUT did not purge {path} at the CDN"]
    return []


def _paths(invalidation: str, complete: dict[str, str]) -> list[str]:
    found = boto3.client("cloudfront").get_invalidation(
        DistributionId=complete["STREAMGATE_CDN__CLOUDFRONT_DISTRIBUTION_ID"], Id=invalidation
    )
    return list(found["Invalidation"]["InvalidationBatch"]["Paths"].get("Items", []))


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_holds_only_the_runtime(cluster: Cluster) -> None:
    probe = "import importlib.util as u; print([m for m in ('runtime', 'infra', 'policies', 'pulumi') if u.find_spec(m)])"
    found = subprocess.run(
        [str(cluster.python), "-c", probe], cwd=cluster.workdir, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "['runtime']"
    assert cluster.image.command == ["python", "-m", "runtime.service", "serve"]
    assert cluster.image.user == "10001:10001" and cluster.image.exposed == [8080]


def test_the_prod_gateway_container_starts_and_serves(cluster: Cluster, plan_of: Any) -> None:
    the_spec = spec(cluster, plan_of("prod"))
    assert the_spec["ports"][0]["containerPort"] in cluster.image.exposed
    assert run(cluster, the_spec, environment(the_spec), "complete") == []


def required_entries(the_spec: dict[str, Any]) -> list[str]:
    """The env entries a deployment cannot do without: every deploy-required setting, every secret."""
    names = {e["name"] for e in the_spec["env"]}
    secrets = {e["name"] for e in the_spec["env"] if "valueFrom" in e}
    required = set(deploy_required()) | secrets | {"STREAMGATE_CDN__CLOUDFRONT_DISTRIBUTION_ID"}
    assert required <= names, required - names  # the spec sets them all
    return sorted(required)


def test_removing_any_required_entry_breaks_the_deployment(cluster: Cluster, plan_of: Any) -> None:
    # The idle color's container: its color and version differ from the settings' defaults.
    the_spec = spec(cluster, plan_of("prod"), "green")
    complete = environment(the_spec)
    entries = required_entries(the_spec)

    def without(name: str) -> tuple[str, bool, list[str]]:
        broken = {**the_spec, "env": [e for e in the_spec["env"] if e["name"] != name]}
        try:
            check_environment(environment(broken), "test")
            contract = False
        except ContractError:
            contract = True
        return name, contract, run(cluster, broken, complete, name.lower(), timeout=40)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(without, entries))
    # Nothing can go missing unnoticed: the contract check refuses the spec before it ships, or the run
    # breaks. The run alone catches every secret and everything the gateway reaches or reports (the Redis
    # AUTH token and the previous signing keys are this target's needs: the local platform has neither).
    undetected = [name for name, contract, problems in results if not contract and not problems]
    assert undetected == [], undetected
    broke = {name for name, _, problems in results if problems}
    # The MFA pepper keys recovery and one-time codes, which no gateway route serves: the contract guards it.
    secrets = {e["name"] for e in the_spec["env"] if "valueFrom" in e} - {"STREAMGATE_SECURITY__MFA__PEPPER"}
    reached = {
        "STREAMGATE_REDIS__URL",
        "STREAMGATE_STORAGE__BUCKET",
        "STREAMGATE_SECURITY__ENCRYPTION__KMS_KEY_ID",
        "STREAMGATE_CDN__CLOUDFRONT_DISTRIBUTION_ID",
        "STREAMGATE_VERSION",
        "STREAMGATE_COLOR",
        "STREAMGATE_REGION",
    }
    assert secrets | reached <= broke, (secrets | reached) - broke
