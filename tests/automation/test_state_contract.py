"""The contract every StateStore passes (infra/automation/adapters/state.py): documents round-trip by key and
go away when deleted; one exclusive lock per key that names its holder and is free again once released;
another key's lock is independent. Run on files (the local platform's) and on S3 (moto's server); what only
one of them does (flock surviving SIGKILL, S3's conditional writes and leases) is tested beside it in
test_rollout_state.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from infra.automation.adapters.state import LocalStateStore, S3StateStore, StateStore
from infra.automation.errors import LockHeldError
from tests.servers import MotoServer


def _local(request: pytest.FixtureRequest) -> StateStore:
    root: Path = request.getfixturevalue("tmp_path")
    return LocalStateStore(root / "state")


def _s3(request: pytest.FixtureRequest) -> StateStore:
    moto: MotoServer = request.getfixturevalue("moto")
    moto.reset()
    client = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    client.create_bucket(Bucket="state")
    return S3StateStore(client, "state", "contract")


STORES: dict[str, Callable[[pytest.FixtureRequest], StateStore]] = {"files": _local, "s3": _s3}


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    yield STORES[request.param](request)


KEY = "rollouts/region-1"


def test_documents_round_trip_by_key_and_are_deleted(store: StateStore) -> None:
    assert store.load(KEY) is None
    store.save(KEY, {"step": 1, "weights": {"blue": 90, "green": 10}, "note": "ünïcode"})
    assert store.load(KEY) == {"step": 1, "weights": {"blue": 90, "green": 10}, "note": "ünïcode"}
    store.save(KEY, {"step": 2})  # after reading it: the whole document is replaced
    assert store.load(KEY) == {"step": 2}
    assert store.load(KEY + ".control") is None  # keys are distinct documents
    store.delete(KEY)
    assert store.load(KEY) is None
    store.delete(KEY)  # deleting what is gone is not an error
    assert KEY in store.describe(KEY)


def test_one_lock_per_key_names_its_holder_until_released(store: StateStore) -> None:
    assert store.holder(KEY) is None
    lock = store.lock(KEY, "first run")
    holder = store.holder(KEY)
    assert holder is not None and holder.owner == "first run"
    with pytest.raises(LockHeldError, match="first run"):
        store.lock(KEY, "second run")
    other = store.lock("rollouts/region-2", "another region")  # another key's lock is independent
    lock.refresh()  # the holder proves it still holds it
    lock.release()
    other.release()
    assert store.holder(KEY) is None
    again = store.lock(KEY, "second run")
    assert (holder := store.holder(KEY)) is not None and holder.owner == "second run"
    again.release()
