"""The profile pipeline from the real agent to the diff: `pyroscope-io` in a process pushes to the profile
receiver (a real HTTP server), which keeps pprof in moto's S3; the store reads it back; flame graphs and
diffs find what was planted."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.cli import add_groups, app
from infra.local.aws import s3_client
from infra.profiles import flamegraph, pprof, push
from infra.profiles.errors import NoProfilesError, ProfileFormatError
from infra.profiles.sink import ProfileSink
from infra.profiles.store import ProfileStore, Selection
from tests.servers import LOOPBACK, MotoServer

AGENT = """
import sys, time, pyroscope
pyroscope.configure(application_name="streamgate-gateway", server_address=sys.argv[1], upload_interval=1,
                    tags={"region": "local-a", "version": sys.argv[2], "color": sys.argv[3]})

def planted_hot_spot(until):
    x = 0
    while time.monotonic() < until:
        x += sum(range(500))

def ordinary_work(until):
    x = 0
    while time.monotonic() < until:
        x += len(str(x))

end = time.monotonic() + float(sys.argv[4])
if sys.argv[3] == "green":
    planted_hot_spot(end)
else:
    ordinary_work(end)
pyroscope.shutdown()
"""


@pytest.fixture
def store(moto: MotoServer) -> ProfileStore:
    bucket = f"profiles-{uuid.uuid4().hex[:12]}"
    s3 = s3_client(moto.url)
    s3.create_bucket(Bucket=bucket)
    return ProfileStore(s3, bucket)


@pytest.fixture
def sink(store: ProfileStore) -> Iterator[ProfileSink]:
    server = ProfileSink((LOOPBACK, 0), store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(sink: ProfileSink) -> str:
    return f"http://{LOOPBACK}:{sink.server_address[1]}"


def _run_agent(sink: ProfileSink, version: str, color: str, seconds: float) -> None:
    subprocess.run(
        [sys.executable, "-c", AGENT, _url(sink), version, color, str(seconds)], check=True, timeout=60
    )


def test_the_agent_pushes_tagged_profiles_that_the_store_keeps(
    store: ProfileStore, sink: ProfileSink
) -> None:
    _run_agent(sink, "1.5.0", "green", 2.5)
    found = store.list(Selection(region="local-a"))
    assert found and sink.stored == len(found)
    assert {(p.service, p.region, p.version, p.color) for p in found} == {
        ("streamgate-gateway", "local-a", "1.5.0", "green")
    }
    profile, used = store.load(Selection(version="1.5.0"))
    assert (profile.sample_type, profile.unit) == ("cpu", "nanoseconds")
    assert len(used) == len(found)
    # ~2.5 s of CPU sampled at 100 Hz, almost all of it in the planted function
    assert 1.0e9 < profile.total < 4.0e9
    hottest = max(flamegraph.functions(profile).values(), key=lambda f: f.self_share)
    assert hottest.name.startswith("planted_hot_spot (") and hottest.self_share > 0.8
    with pytest.raises(NoProfilesError, match="color=blue"):
        store.load(Selection(color="blue"))


def test_a_diff_of_two_colors_names_the_planted_hot_spot(store: ProfileStore, sink: ProfileSink) -> None:
    _run_agent(sink, "1.4.0", "blue", 2.0)
    _run_agent(sink, "1.5.0", "green", 2.0)
    base, _ = store.load(Selection(color="blue"))
    target, _ = store.load(Selection(color="green"))
    changes = flamegraph.changes(base, target)
    assert changes[0].name.startswith("planted_hot_spot (") and changes[0].delta_self > 0.5
    assert changes[0].base_total == 0
    removed = next(c for c in changes if c.name.startswith("ordinary_work ("))
    assert removed.delta_total < -0.5 and removed.target_total == 0
    graph = flamegraph.svg(flamegraph.tree(target, base), "diff", diff=True)
    # the grown frame is drawn red, the vanished one blue, both with their names in the tooltip
    hot = next(g for g in graph.split("<g>") if "planted_hot_spot" in g)
    gone = next(g for g in graph.split("<g>") if "ordinary_work" in g)
    assert 'fill="rgb(240,' in hot and 'fill="rgb(40,40,240)"' in gone


def test_pprof_written_and_read_back_is_the_same_profile() -> None:
    profile = pprof.Profile(
        stacks=Counter({("main (app.py)", "work (app.py)"): 30_000_000, ("main (app.py)",): 10_000_000}),
        time_nanos=1_700_000_000_000_000_000,
        duration_nanos=10_000_000_000,
        period=10_000_000,
    )
    for compress in (True, False):
        data = pprof.encode(profile, comments=["merged by streamgate"], compress=compress)
        assert (data[:2] == b"\x1f\x8b") is compress
        back = pprof.decode(data)
        assert back.stacks == profile.stacks
        assert (back.time_nanos, back.duration_nanos, back.period) == (
            profile.time_nanos,
            profile.duration_nanos,
            profile.period,
        )


def test_bytes_that_are_no_profile_are_refused() -> None:
    with pytest.raises(ProfileFormatError):
        pprof.decode(b"\x0a\xff")  # a field announcing more bytes than there are
    with pytest.raises(ProfileFormatError, match="no sample type"):
        pprof.decode(b"")
    with pytest.raises(ProfileFormatError, match="gzip"):
        pprof.decode(b"\x1f\x8bnot really gzip")


def test_the_receiver_refuses_what_is_not_a_push_and_stores_what_is(
    store: ProfileStore, sink: ProfileSink
) -> None:
    def post(body: bytes, path: str = push.PATH, encoding: str | None = None) -> int:
        headers = {
            "content-type": "application/proto",
            **({"content-encoding": encoding} if encoding else {}),
        }
        req = urllib.request.Request(_url(sink) + path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post(b"\x0a\xff\xff") == 400
    assert post(b"x", path="/ingest") == 404
    profile = pprof.encode(pprof.Profile(stacks=Counter({("f (a.py)",): 10}), period=1), compress=False)
    labels = {"service_name": "streamgate-gateway", "region": "local-b", "version": "2.0.0", "color": "blue"}
    assert post(gzip.compress(push.encode([push.PushedProfile(labels, profile)])), encoding="gzip") == 200
    [stored] = store.list(Selection(region="local-b"))
    assert (stored.version, stored.color) == ("2.0.0", "blue")
    assert store.read(stored.key).stacks == Counter({("f (a.py)",): 10})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile", "list", "--since", "5x"], "--since '5x'"),
        (["profile", "diff", "--base", "colour=blue", "--target", "color=green"], "--base 'colour=blue'"),
        (["profile", "diff", "--base", "", "--target", "color=green"], "--base: name what to compare"),
        (["profile", "show", "--stack", "prod"], "Pyroscope"),
        (["profile", "show", "--out", "graph.png", "--stack", "nosuch"], "nosuch"),
    ],
)
def test_bad_input_is_refused_with_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    add_groups(["profile"])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_time_windows_select_profiles(store: ProfileStore) -> None:
    profile = pprof.encode(pprof.Profile(stacks=Counter({("f (a.py)",): 1})))
    labels = {"service_name": "streamgate-gateway", "region": "local-a", "version": "1", "color": "blue"}
    now = time.time()
    store.put(labels, profile, at=now - 3600)
    store.put(labels, profile, at=now - 10)
    assert len(store.list(Selection(since=now - 60))) == 1
    assert len(store.list(Selection(until=now - 60))) == 1
    assert len(store.list(Selection())) == 2
