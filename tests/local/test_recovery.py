"""moto keeps S3 and KMS in memory: after it restarts, `up` recreates buckets and key, enrolls the admin
again (the old TOTP secret was sealed under the lost key), restarts the gateways (their cached data keys
were wrapped under it) and re-seeds, and the edge serves again."""

from __future__ import annotations

import time

import pytest

from infra.local.aws import kms_client, s3_client
from runtime.security.envelope.format import MAGIC, require_header
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.local_platform


def test_up_recovers_from_a_moto_restart(lp: RunningPlatform) -> None:
    plat = lp.platform
    gateways = {n for n, i in plat.supervisor.processes().items() if n.startswith("gateway-") and i.running}
    old_pid = plat.supervisor.info("moto").pid
    plat.supervisor.signal_process("moto", "KILL")  # a crash: supervisord restarts it, empty
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = plat.supervisor.info("moto")
        if info.running and info.pid != old_pid:
            break
        time.sleep(0.1)
    result = plat.up()
    assert any(c.startswith("created bucket") for c in result.changes), result.changes
    assert "enrolled the local admin's TOTP factor" in result.changes
    assert any(c.startswith("seeded content") for c in result.changes)
    assert gateways and {f"restarted {g}" for g in gateways} <= {c.split(" (")[0] for c in result.changes}
    # Everything sealed since (the re-seeded content, its L3 copies) names the live key: a gateway that
    # kept a data key of the lost one would have sealed objects no new process can open.
    live = kms_client(plat.layout.moto_url).describe_key(KeyId=plat.resources.kms_key_alias)["KeyMetadata"]
    s3 = s3_client(plat.layout.moto_url)
    sealed = 0
    for bucket in plat.resources.content_buckets.values():
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            blob = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if blob.startswith(MAGIC):
                sealed += 1
                assert require_header(blob)[0].key_id == live["Arn"], item["Key"]
    assert sealed
    smoke = plat.smoke()
    assert smoke.ok, smoke
    assert plat.up().changes == []  # and idempotent again
