"""moto keeps S3 and KMS in memory: after it restarts, `up` recreates buckets and key, enrolls the admin
again (the old TOTP secret was sealed under the lost key) and re-seeds, and the edge serves again."""

from __future__ import annotations

import time

import pytest

from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.local_platform


def test_up_recovers_from_a_moto_restart(lp: RunningPlatform) -> None:
    plat = lp.platform
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
    smoke = plat.smoke()
    assert smoke.ok, smoke
    assert plat.up().changes == []  # and idempotent again
