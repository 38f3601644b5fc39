"""The audit trail (infra/automation/audit) on both state stores (files and S3 on moto's server): entries
round-trip, an entry's end replaces its start, the newest come first across months, commands recording
at once all land (the journal's lock), and `audited()` records the outcome of however a command ends."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import typer

from infra.automation.adapters.state import StateStore
from infra.automation.audit.journal import INDEX, Journal, month_key
from infra.automation.audit.model import ACTOR_ENV, AuditEntry, actor_of
from infra.automation.audit.record import arguments, audited
from infra.automation.errors import AutomationError, InvalidInputError
from tests.automation.test_state_contract import STORES


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    yield STORES[request.param](request)


def entry(command: str = "rollout pause", actor: str = "alice", at: float | None = None) -> AuditEntry:
    e = AuditEntry.begin("prod", command, actor, "why", {"region": "us-east-1"})
    if at is not None:
        e.started_at = at
    return e


def test_an_entry_is_recorded_at_its_start_and_replaced_by_its_end(store: StateStore) -> None:
    journal = Journal(store)
    e = entry()
    journal.record(e)
    [running] = journal.entries()
    assert running.outcome == "running" and running.ended_at is None and running.actor == "alice"
    e.end(3, "rolled back")
    journal.record(e)
    [ended] = journal.entries()
    assert (ended.id, ended.outcome, ended.exit_code, ended.detail) == (e.id, "aborted", 3, "rolled back")
    assert ended.seconds is not None and ended.seconds >= 0


def test_newest_first_across_months_with_a_limit_and_a_command_filter(store: StateStore) -> None:
    journal = Journal(store)
    old = entry("backup prune", "bob", at=time.mktime((2026, 1, 15, 12, 0, 0, 0, 0, -1)))
    mid = entry("rollout canary", "carol", at=time.mktime((2026, 2, 1, 12, 0, 0, 0, 0, -1)))
    new = entry("rollout pause", "dave")
    for e in (new, old, mid):  # in any order
        journal.record(e)
    assert [e.actor for e in journal.entries()] == ["dave", "carol", "bob"]
    assert [e.actor for e in journal.entries(limit=2)] == ["dave", "carol"]
    assert [e.actor for e in journal.entries(command="rollout")] == ["dave", "carol"]
    assert [e.actor for e in journal.entries(command="backup prune")] == ["bob"]
    assert journal.entries(command="roll") == []  # whole words only
    months = (store.load(INDEX) or {})["months"]
    assert months == sorted({month_key(e.started_at) for e in (old, mid, new)})


def test_commands_recording_at_once_all_land(store: StateStore, request: pytest.FixtureRequest) -> None:
    # Each writer with a store of its own, as separate processes have (for S3: its own ETags).
    stores = [store] + [STORES[request.node.callspec.params["store"]](request) for _ in range(3)]
    errors: list[BaseException] = []

    def write(s: StateStore, n: int) -> None:
        try:
            for i in range(5):
                Journal(s).record(entry(actor=f"w{n}-{i}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(Journal(store).entries()) == 20


@pytest.mark.parametrize(
    ("raise_", "code", "outcome"),
    [
        (None, 0, "ok"),
        (typer.Exit(3), 3, "aborted"),
        (InvalidInputError("--region nope"), 2, "bad-input"),
        (AutomationError("router down"), 1, "failed"),
        (RuntimeError("bug"), 1, "failed"),
        (KeyboardInterrupt(), 3, "aborted"),
    ],
)
def test_audited_records_how_the_command_ended(
    store: StateStore, raise_: BaseException | None, code: int, outcome: str
) -> None:
    expected = pytest.raises(type(raise_)) if raise_ is not None else contextlib.nullcontext()
    with (
        expected,
        audited(store, "prod", "erin", "drill", command="failover run", args={"to": "eu-west-1"}) as e,
    ):
        assert Journal(store).entries()[0].outcome == "running"  # recorded before the work
        if raise_ is not None:
            raise raise_
    [recorded] = Journal(store).entries()
    assert (recorded.id, recorded.outcome, recorded.exit_code) == (e.id, outcome, code)
    assert recorded.command == "failover run" and recorded.args == {"to": "eu-west-1"}
    assert recorded.actor == "erin" and recorded.reason == "drill"
    if isinstance(raise_, AutomationError):
        assert recorded.detail == str(raise_)


def test_the_actor_comes_from_the_option_then_the_environment_then_the_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ACTOR_ENV, "ci-bot")
    assert actor_of("alice") == "alice"
    assert actor_of(None) == "ci-bot"
    monkeypatch.delenv(ACTOR_ENV)
    assert "@" in actor_of(None) and actor_of("  ") == actor_of(None)


def test_arguments_keep_what_the_command_does_not_how_it_talks() -> None:
    params = {"stack": "prod", "version": "1.2", "yes": True, "as_json": True, "actor": "a", "region": None}
    assert arguments({**params, "steps": [5, 100], "dry_run": False}) == {
        "stack": "prod",
        "version": "1.2",
        "steps": [5, 100],
    }
