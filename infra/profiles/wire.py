"""The protobuf wire format, just enough to read and write pprof profiles and the Pyroscope push request
(no generated code: both messages are small and stable, and their field numbers are written down here)."""

from __future__ import annotations

from collections.abc import Iterator

from infra.profiles.errors import ProfileFormatError

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProfileFormatError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProfileFormatError("varint longer than 64 bits")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of one message: ints for varints and fixed
    widths, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire == BYTES:
            size, pos = read_varint(data, pos)
            if pos + size > len(data):
                raise ProfileFormatError(f"field {number}: truncated ({size} bytes announced)")
            value, pos = data[pos : pos + size], pos + size
        elif wire == FIXED64:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == FIXED32:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise ProfileFormatError(f"field {number}: unsupported wire type {wire}")
        yield number, wire, value


def packed(wire: int, value: int | bytes) -> list[int]:
    """A repeated integer field: packed (length-delimited varints) or one unpacked element."""
    if wire == VARINT:
        assert isinstance(value, int)
        return [value]
    assert isinstance(value, bytes)
    out, pos = [], 0
    while pos < len(value):
        item, pos = read_varint(value, pos)
        out.append(item)
    return out


def signed(value: int) -> int:
    """An int64 read as an unsigned varint (negative values are 10-byte two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def text(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    return value.decode("utf-8", "replace")


def message(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProfileFormatError("expected a length-delimited field")
    return value


# -- writing ---------------------------------------------------------------------------------------------
def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def put_varint(number: int, value: int) -> bytes:
    return varint(number << 3 | VARINT) + varint(value)


def put_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | BYTES) + varint(len(value)) + value


def put_packed(number: int, values: list[int]) -> bytes:
    return put_bytes(number, b"".join(varint(v) for v in values))
