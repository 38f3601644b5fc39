"""State stores: atomic local JSON with an flock lock, and S3 with conditional writes (moto's server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from infra.automation.adapters.state import LocalStateStore, S3StateStore
from infra.automation.errors import LockHeldError, StateConflictError
from infra.automation.rollout.model import Analysis, CheckResult, Outcome, Phase, RolloutState
from tests.servers import MotoServer

HOLD_LOCK = """
import sys, time
from pathlib import Path
from infra.automation.adapters.state import LocalStateStore
lock = LocalStateStore(Path(sys.argv[1])).lock("rollouts/local-a", "holder")
print("locked", flush=True)
time.sleep(60)
"""


def sample_state() -> RolloutState:
    state = RolloutState(
        id="abc",
        kind="canary",
        stack="s",
        region="local-a",
        version="v2",
        stable_version="v1",
        stable_color="blue",
        canary_color="green",
        steps=[10, 100],
        interval_seconds=1,
        failure_threshold=2,
    )
    state.weight, state.step_index, state.phase = 10, 0, Phase.PROGRESSING
    state.record("analysis", "x", Analysis(1.0, (CheckResult("p99", Outcome.FAIL, float("nan")),)))
    return state


def test_state_round_trips_through_json() -> None:
    state = sample_state()
    doc = json.loads(json.dumps(state.to_dict(), allow_nan=False))  # NaN is stored as null
    back = RolloutState.from_dict(doc)
    assert back.weights == {"blue": 90, "green": 10}
    assert back.phase is Phase.PROGRESSING and back.history[0].checks[0]["value"] is None


def test_local_store_saves_atomically_and_loads(state_root: Path) -> None:
    store = LocalStateStore(state_root)
    assert store.load("rollouts/local-a") is None
    store.save("rollouts/local-a", {"a": 1})
    store.save("rollouts/local-a", {"a": 2})
    assert store.load("rollouts/local-a") == {"a": 2}
    assert [p.name for p in (state_root / "rollouts").iterdir()] == ["local-a.json"]  # no temp files left
    store.delete("rollouts/local-a")
    assert store.load("rollouts/local-a") is None


@pytest.fixture
def lock_holder(state_root: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state_root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_local_lock_is_exclusive_and_names_the_holder(
    state_root: Path, lock_holder: subprocess.Popen[str]
) -> None:
    store = LocalStateStore(state_root)
    with pytest.raises(LockHeldError, match=f"pid {lock_holder.pid}"):
        store.lock("rollouts/local-a", "second")
    holder = store.holder("rollouts/local-a")
    assert holder is not None and holder.pid == lock_holder.pid
    other = store.lock("rollouts/local-b", "other target")  # one lock per target
    other.release()


def test_local_lock_of_a_killed_process_is_free(state_root: Path, lock_holder: subprocess.Popen[str]) -> None:
    store = LocalStateStore(state_root)
    os.kill(lock_holder.pid, signal.SIGKILL)
    lock_holder.wait()
    assert store.holder("rollouts/local-a") is None  # the stale file is not a lock
    with store.lock("rollouts/local-a", "after crash") as lock:
        assert lock.holder.pid == os.getpid()
        assert store.holder("rollouts/local-a") is not None
    assert store.holder("rollouts/local-a") is None


@pytest.fixture
def s3_store(moto: MotoServer) -> Iterator[S3StateStore]:
    moto.reset()
    client = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    client.create_bucket(Bucket="state")
    yield S3StateStore(client, "state", "prod", lease_seconds=2)


def test_s3_store_round_trip_and_conditional_writes(s3_store: S3StateStore, moto: MotoServer) -> None:
    s3_store.save("rollouts/us-east-1", {"v": 1})
    assert s3_store.load("rollouts/us-east-1") == {"v": 1}
    client = s3_store.client
    assert (
        client.get_object(Bucket="state", Key="prod/rollouts/us-east-1.json")["ContentType"]
        == "application/json"
    )
    # Another writer that read the same version wins first; our stale write is refused.
    other = S3StateStore(boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1"), "state", "prod")
    other.load("rollouts/us-east-1")
    other.save("rollouts/us-east-1", {"v": 2})
    with pytest.raises(StateConflictError):
        s3_store.save("rollouts/us-east-1", {"v": 3})
    assert s3_store.load("rollouts/us-east-1") == {"v": 2}
    s3_store.save("rollouts/us-east-1", {"v": 3})  # after reading the current version it may write
    # Creating over an object we never read is refused too.
    fresh = S3StateStore(boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1"), "state", "prod")
    with pytest.raises(StateConflictError):
        fresh.save("rollouts/us-east-1", {"v": 4})
    fresh.save("rollouts/us-east-1.control", {"abort": True}, conditional=False)
    assert fresh.load("rollouts/us-east-1.control") == {"abort": True}


def test_s3_lock_lease_excludes_then_expires(s3_store: S3StateStore) -> None:
    lock = s3_store.lock("rollouts/us-east-1", "first")
    with pytest.raises(LockHeldError, match="first"):
        s3_store.lock("rollouts/us-east-1", "second")
    assert (holder := s3_store.holder("rollouts/us-east-1")) is not None and holder.owner == "first"
    lock.refresh()  # renewing keeps it
    time.sleep(2.2)  # the holder "died": its lease runs out
    assert s3_store.holder("rollouts/us-east-1") is None
    taken = s3_store.lock("rollouts/us-east-1", "second")
    with pytest.raises(StateConflictError, match="lost the lock"):
        lock.refresh()
    lock.release()  # must not delete the new holder's lock
    assert (holder := s3_store.holder("rollouts/us-east-1")) is not None and holder.owner == "second"
    taken.release()
    assert s3_store.holder("rollouts/us-east-1") is None
