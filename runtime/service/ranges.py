"""HTTP conditional and range request rules (RFC 9110 §13, §14), as pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.service.http import parse_count


@dataclass(frozen=True, slots=True)
class ByteRange:
    first: int
    last: int  # inclusive

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.first}-{self.last}/{size}"


class Unsatisfiable(Exception):
    """The range lies outside the representation: answer 416 with `Content-Range: bytes */size`."""


def parse_range(value: str, size: int) -> ByteRange | None:
    """The single byte range requested, or None to send the whole representation (no, invalid, or
    multi-range header: RFC 9110 lets a server ignore a Range it does not support). Raises
    Unsatisfiable when a valid range does not overlap the representation."""
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        return None
    first_text, dash, last_text = spec.partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    # Positions are ASCII digits of any length (RFC 9110 §14.1.1); absurdly long ones parse as "beyond
    # the representation" (parse_count), so a 5000-digit position is a 416, not an int() error.
    first, last = parse_count(first_text), parse_count(last_text)
    if not dash or (first is None and first_text) or (last is None and last_text):
        return None
    if first is None:
        if last is None:
            return None
        if last == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - last), size - 1)
    if last is not None and last < first:
        return None  # syntactically invalid: ignore
    last = size - 1 if last is None else last
    if first >= size:
        raise Unsatisfiable
    return ByteRange(first, min(last, size - 1))


def _tags(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def none_match(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"."""
    bare = etag.removeprefix("W/")
    return any(t == "*" or t.removeprefix("W/") == bare for t in _tags(if_none_match))


def if_range_allows(if_range: str | None, etag: str) -> bool:
    """If-Range needs a strong match of the entity tag (dates are not used: our validators are tags)."""
    return if_range is None or if_range.strip() == etag
