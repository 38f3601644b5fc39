"""The Pyroscope push request (`push.v1.PusherService/Push`, Connect protocol, protobuf body): what the
`pyroscope-io` agent sends every upload interval.

    PushRequest      { repeated RawProfileSeries series = 1; }
    RawProfileSeries { repeated LabelPair labels = 1; repeated RawSample samples = 2; }
    LabelPair        { string name = 1; string value = 2; }
    RawSample        { bytes raw_profile = 1; string ID = 2; }   raw_profile: a pprof profile
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.profiles import wire

PATH = "/push.v1.PusherService/Push"


@dataclass(frozen=True)
class PushedProfile:
    labels: Mapping[str, str]  # service_name, region, version, color, __name__ (process_cpu), ...
    pprof: bytes


def decode(body: bytes) -> list[PushedProfile]:
    out: list[PushedProfile] = []
    for number, _, series in wire.fields(body):
        if number != 1:
            continue
        labels: dict[str, str] = {}
        raw: list[bytes] = []
        for field, _, value in wire.fields(wire.message(series)):
            if field == 1:
                pair = {n: wire.text(v) for n, _, v in wire.fields(wire.message(value))}
                labels[pair.get(1, "")] = pair.get(2, "")
            elif field == 2:
                raw += [wire.message(v) for n, _, v in wire.fields(wire.message(value)) if n == 1]
        out += [PushedProfile(labels, profile) for profile in raw]
    return out


def encode(profiles: list[PushedProfile]) -> bytes:
    """A push request of `profiles`, one series each (tests send what the agent sends)."""
    body = b""
    for p in profiles:
        series = b"".join(
            wire.put_bytes(1, wire.put_bytes(1, k.encode()) + wire.put_bytes(2, v.encode()))
            for k, v in p.labels.items()
        )
        series += wire.put_bytes(2, wire.put_bytes(1, p.pprof))
        body += wire.put_bytes(1, series)
    return body
