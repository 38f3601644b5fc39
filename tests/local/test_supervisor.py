"""The supervisord adapter on a real supervisord: a start that exits once is retried as configured, one that
never runs is reported with the end of its log."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.config import load_stack
from infra.local.errors import LocalPlatformError
from infra.local.layout import Paths
from infra.local.preflight import locate_all
from infra.local.programs import Program
from infra.local.render import render_supervisor
from infra.local.supervisor import Supervisor

pytestmark = pytest.mark.local_platform


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    paths = Paths(tmp_path)
    paths.logs.mkdir(parents=True)
    marker = tmp_path / "crashed-once"

    def program(name: str, script: str) -> Program:
        argv = ("sh", "-c", script)
        return Program(name, "gateway", argv, paths.log(name), (), autostart=False, startsecs=1)

    programs = [
        # Exits at once on its first start (a port still held, a backend not up yet), then runs.
        program("flaky", f"if [ -e {marker} ]; then exec sleep 60; fi; touch {marker}; exit 1"),
        program("broken", "echo 'bind: address already in use'; exit 1"),
    ]
    paths.supervisor_conf.write_text(render_supervisor(load_stack("local"), paths, programs))
    sup = Supervisor(paths.supervisor_conf, paths.supervisor_socket, paths.supervisor_pid)
    sup.start(locate_all()["supervisord"], dict(os.environ))
    try:
        yield sup
    finally:
        sup.shutdown()


def test_a_start_that_exits_once_is_retried_until_it_runs(supervisor: Supervisor) -> None:
    supervisor.start_process("flaky", wait=True, timeout=30)
    assert supervisor.info("flaky").running


def test_a_program_that_never_runs_is_reported_with_its_log(supervisor: Supervisor) -> None:
    started = time.monotonic()
    with pytest.raises(LocalPlatformError, match="broken did not start") as err:
        supervisor.start_process("broken", wait=True, timeout=3)
    assert "bind: address already in use" in str(err.value)
    assert time.monotonic() - started < 10
