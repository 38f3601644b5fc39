"""Shared fixtures: real servers on free loopback ports, fake AWS credentials for moto."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from functools import cache
from pathlib import Path

import pytest

from infra.config import load_stack
from infra.plan import Plan, run_plan
from tests.servers import MotoServer, RedisServer, moto_server, redis_server

# boto3 needs credentials and a region even against moto; never real ones.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
for _var in ("AWS_PROFILE", "AWS_CA_BUNDLE"):
    os.environ.pop(_var, None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test on a local platform reports the end of its logs (they are purged with the platform)."""
    report: pytest.TestReport = yield
    if report.failed and report.when == "call":
        from tests.local_platform import RunningPlatform, failure_logs

        for value in getattr(item, "funcargs", {}).values():
            lp = getattr(value, "lp", value)  # RolloutEnv and the like carry one as `lp`
            if isinstance(lp, RunningPlatform):
                report.sections += failure_logs(lp.platform)
                break
    return report


@cache
def _plan(stack: str) -> Plan:
    return run_plan(load_stack(stack))


@pytest.fixture(scope="session")
def plan_of() -> Callable[[str], Plan]:
    """Offline plans, built once per stack per test session (each takes a few seconds under mocks)."""
    return _plan


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """One moto server per test session (S3, KMS, Route 53, ...); reset it yourself if you need a clean slate."""
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server shared by the session; tests use `redis` below, which flushes it."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis(redis_session: RedisServer) -> RedisServer:
    """The shared redis-server, flushed before the test."""
    import redis as redis_lib

    if redis_session.proc is None:  # a test killed it: bring it back
        redis_session.start()
    client = redis_lib.Redis(host="127.0.0.1", port=redis_session.port)
    client.flushall()
    client.close()
    return redis_session


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server for tests that kill or restart it."""
    with redis_server(tmp_path / "redis") as server:
        yield server
