"""`down` stops everything it started, leaves no process or port behind, and keeps the data. It runs in
any order: the platform comes back with the data kept, as `local up` after `local down` brings it."""

from __future__ import annotations

import pytest
import testinfra

from infra.local.supervisor import pid_alive
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.local_platform


def test_down_leaves_no_process_and_keeps_data(lp: RunningPlatform) -> None:
    plat = lp.platform
    processes = plat.supervisor.processes()
    pids = [p.pid for p in processes.values()] + [plat.supervisor.pid() or 0]
    assert "profiles" in processes  # the profile receiver too
    assert len(pids) == len(plat.programs()) + 1 == 17 and all(pids)
    stopped = plat.down()
    assert set(stopped) == set(processes)
    assert not any(pid_alive(pid) for pid in pids)
    host = testinfra.get_host("local://")
    layout = lp.layout
    for port in (layout.edge, layout.prometheus, layout.moto, *(r.blue for r in layout.regions)):
        assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening, port
    assert not plat.running()
    assert (plat.paths.redis_data("local-a") / "dump.rdb").is_file()  # data kept (saved on SIGTERM)
    assert plat.paths.supervisor_conf.is_file()
    plat.up()  # for whichever test comes next
    assert plat.running()
