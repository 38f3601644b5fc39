"""pprof profiles (github.com/google/pprof, proto/profile.proto) as stacks with values.

A profile is read into `Profile.stacks`: root-to-leaf frame names → the summed sample value (CPU
nanoseconds for the agent's `cpu` profiles). A frame is named `function (file)` without the line, so the
same code matches across versions when two profiles are compared. `encode` writes the same model back as a
valid pprof (a merged profile for `go tool pprof` or Pyroscope, and test data)."""

from __future__ import annotations

import gzip
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from infra.profiles import wire
from infra.profiles.errors import ProfileFormatError

Stack = tuple[str, ...]

# profile.proto field numbers
_P_SAMPLE_TYPE, _P_SAMPLE, _P_LOCATION, _P_FUNCTION, _P_STRINGS = 1, 2, 4, 5, 6
_P_TIME, _P_DURATION, _P_PERIOD_TYPE, _P_PERIOD, _P_COMMENT, _P_DEFAULT_TYPE = 9, 10, 11, 12, 13, 14
# Path parts after which a file name is shown (site-packages/…, the repository's packages).
_ROOTS = ("site-packages/", "dist-packages/", "/lib/python3")


@dataclass
class Profile:
    sample_type: str = "cpu"
    unit: str = "nanoseconds"
    stacks: Counter[Stack] = field(default_factory=Counter)
    time_nanos: int = 0
    duration_nanos: int = 0
    period: int = 0

    @property
    def total(self) -> int:
        return sum(self.stacks.values())

    def merge(self, other: Profile) -> None:
        if other.sample_type != self.sample_type or other.unit != self.unit:
            raise ProfileFormatError(
                f"cannot merge a {other.sample_type}/{other.unit} profile into {self.sample_type}/{self.unit}"
            )
        self.stacks.update(other.stacks)
        spans = [(p.time_nanos, p.time_nanos + p.duration_nanos) for p in (self, other) if p.time_nanos]
        if spans:
            start = min(a for a, _ in spans)
            self.time_nanos, self.duration_nanos = start, max(b for _, b in spans) - start
        self.period = self.period or other.period


def merged(profiles: Iterable[Profile]) -> Profile:
    out: Profile | None = None
    for p in profiles:
        if out is None:
            out = Profile(p.sample_type, p.unit, Counter(), p.time_nanos, 0, p.period)
        out.merge(p)
    return out if out is not None else Profile()


def short_file(path: str) -> str:
    """`…/site-packages/starlette/routing.py` → `starlette/routing.py`; the repository's own files keep
    their package path (`runtime/service/edge.py`)."""
    for root in _ROOTS:
        if root in path:
            rest = path.rsplit(root, 1)[1]
            return rest.split("/", 1)[1] if root == "/lib/python3" and "/" in rest else rest
    for package in ("runtime/", "infra/", "tests/"):
        if path.startswith(package):
            return path
        if f"/{package}" in path:
            return package + path.rsplit(f"/{package}", 1)[1]
    return os.path.basename(path)


def frame_name(function: str, filename: str) -> str:
    return f"{function} ({short_file(filename)})" if filename else function


def decode(data: bytes) -> Profile:
    """A pprof profile, gzipped (as files and most servers hold them) or not."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ProfileFormatError(f"not a gzip stream: {exc}") from exc
    strings: list[str] = []
    sample_types: list[tuple[int, int]] = []
    samples: list[tuple[list[int], list[int]]] = []
    locations: dict[int, list[int]] = {}  # location id → function ids, leaf first (inlined frames)
    functions: dict[int, tuple[int, int]] = {}  # function id → (name, filename) string indices
    top: dict[int, int] = {}
    for number, _, value in wire.fields(data):
        if number == _P_STRINGS:
            strings.append(wire.text(value))
        elif number == _P_SAMPLE_TYPE:
            sample_types.append(_value_type(wire.message(value)))
        elif number == _P_SAMPLE:
            samples.append(_sample(wire.message(value)))
        elif number == _P_LOCATION:
            loc_id, lines = _location(wire.message(value))
            locations[loc_id] = lines
        elif number == _P_FUNCTION:
            fn_id, names = _function(wire.message(value))
            functions[fn_id] = names
        elif number in (_P_TIME, _P_DURATION, _P_PERIOD, _P_DEFAULT_TYPE) and isinstance(value, int):
            top[number] = value
    if not sample_types:
        raise ProfileFormatError("no sample type: not a pprof profile")

    def s(i: int) -> str:
        if i >= len(strings):
            raise ProfileFormatError(f"string index {i} beyond the string table ({len(strings)})")
        return strings[i]

    index = 0
    if _P_DEFAULT_TYPE in top:
        wanted = s(top[_P_DEFAULT_TYPE])
        index = next((i for i, (t, _) in enumerate(sample_types) if s(t) == wanted), 0)
    function_names = {fid: frame_name(s(n), s(f)) for fid, (n, f) in functions.items()}
    frames: dict[int, list[str]] = {
        lid: [function_names.get(fid, f"0x{lid:x}") for fid in fids] for lid, fids in locations.items()
    }
    profile = Profile(
        s(sample_types[index][0]),
        s(sample_types[index][1]),
        Counter(),
        top.get(_P_TIME, 0),
        wire.signed(top.get(_P_DURATION, 0)),
        wire.signed(top.get(_P_PERIOD, 0)),
    )
    for location_ids, values in samples:
        if index >= len(values):
            raise ProfileFormatError("a sample has fewer values than sample types")
        leaf_first = [name for lid in location_ids for name in frames.get(lid, [f"0x{lid:x}"])]
        profile.stacks[tuple(reversed(leaf_first))] += wire.signed(values[index])
    return profile


def _value_type(data: bytes) -> tuple[int, int]:
    got = {n: v for n, _, v in wire.fields(data) if isinstance(v, int)}
    return got.get(1, 0), got.get(2, 0)


def _sample(data: bytes) -> tuple[list[int], list[int]]:
    locations: list[int] = []
    values: list[int] = []
    for number, wire_type, value in wire.fields(data):
        if number == 1:
            locations += wire.packed(wire_type, value)
        elif number == 2:
            values += wire.packed(wire_type, value)
    return locations, values


def _location(data: bytes) -> tuple[int, list[int]]:
    loc_id = 0
    function_ids: list[int] = []
    for number, _, value in wire.fields(data):
        if number == 1 and isinstance(value, int):
            loc_id = value
        elif number == 4:  # Line {function_id = 1; line = 2}; the last line is the caller
            line = {n: v for n, _, v in wire.fields(wire.message(value)) if isinstance(v, int)}
            function_ids.append(line.get(1, 0))
    return loc_id, function_ids


def _function(data: bytes) -> tuple[int, tuple[int, int]]:
    got = {n: v for n, _, v in wire.fields(data) if isinstance(v, int)}
    return got.get(1, 0), (got.get(2, 0), got.get(4, 0))


def encode(profile: Profile, *, comments: Iterable[str] = (), compress: bool = True) -> bytes:
    """`profile` as pprof: one function and one location per distinct frame name."""
    strings: dict[str, int] = {"": 0}

    def s(text: str) -> int:
        return strings.setdefault(text, len(strings))

    ids: dict[str, int] = {}
    body = bytearray()
    body += wire.put_bytes(
        _P_SAMPLE_TYPE, wire.put_varint(1, s(profile.sample_type)) + wire.put_varint(2, s(profile.unit))
    )
    for stack, value in profile.stacks.items():
        leaf_first = [ids.setdefault(name, len(ids) + 1) for name in reversed(stack)]
        sample = wire.put_packed(1, leaf_first) + wire.put_packed(2, [value])
        body += wire.put_bytes(_P_SAMPLE, sample)
    for name, ident in ids.items():
        # The frame's whole name is the function's (no file): decoding gives back exactly the same stacks.
        line = wire.put_varint(1, ident)
        body += wire.put_bytes(_P_LOCATION, wire.put_varint(1, ident) + wire.put_bytes(4, line))
        body += wire.put_bytes(_P_FUNCTION, wire.put_varint(1, ident) + wire.put_varint(2, s(name)))
    comment_ids = [s(c) for c in comments]
    for text in strings:  # insertion order is index order
        body += wire.put_bytes(_P_STRINGS, text.encode())
    body += wire.put_varint(_P_TIME, profile.time_nanos) + wire.put_varint(
        _P_DURATION, profile.duration_nanos
    )
    body += wire.put_bytes(
        _P_PERIOD_TYPE, wire.put_varint(1, s(profile.sample_type)) + wire.put_varint(2, s(profile.unit))
    )
    body += wire.put_varint(_P_PERIOD, profile.period)
    if comment_ids:
        body += wire.put_packed(_P_COMMENT, comment_ids)
    return gzip.compress(bytes(body)) if compress else bytes(body)
