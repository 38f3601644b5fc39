"""Which web origins may read our responses cross-origin (CORS), as one allow-list that the gateway, the
local edge (nginx) and the stack model all read the same way.

An entry is `*` (any origin), an exact origin (`https://player.example.com`, `http://127.0.0.1:8080`), or,
for development, an origin with any port (`http://127.0.0.1:*`). Nothing here imports the gateway, so the
stack model can validate entries without loading it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

ANY = "*"
# What a cross-origin player may send and read (the gateway, the local edge and CloudFront answer the
# same): Range and the conditional headers in, Content-Range, ETag and Accept-Ranges out.
ALLOW_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
ALLOW_HEADERS = ("Range", "If-None-Match", "If-Modified-Since", "If-Range", "Authorization", "Content-Type")
# Retry-After and RateLimit-* let a browser player back off on a 429 (none is CORS-safelisted).
EXPOSE_HEADERS = (
    "Content-Range",
    "ETag",
    "Accept-Ranges",
    "Content-Length",
    "X-StreamGate-Cache",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
)
_ENTRY = re.compile(
    r"^(?P<scheme>https?)://(?P<host>\[[0-9a-fA-F:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)"
    r"(?::(?P<port>\*|[1-9][0-9]{0,4}))?$"
)
# What a browser sends: scheme://host[:port], lower-case, no path (RFC 6454 serialisation).
_ORIGIN = re.compile(r"^https?://[^/\s?#]{1,255}$")


class OriginError(ValueError):
    """An allow-list entry that is not `*`, scheme://host[:port] or scheme://host:*."""


def check_entry(entry: str) -> str:
    """`entry` if it is a valid allow-list entry; raises OriginError with the forms that are."""
    if entry == ANY:
        return entry
    match = _ENTRY.match(entry)
    if match is None or (match["port"] not in (None, "*") and int(match["port"]) > 65535):
        raise OriginError(
            f"{entry!r} is not an origin: use *, scheme://host[:port] (lower-case, no path or trailing "
            "slash, e.g. https://player.example.com) or scheme://host:* for any port"
        )
    return entry


# An allow-list field of a settings or stack model: every entry checked when the model is built.
AllowOrigins = Annotated[list[str], AfterValidator(lambda entries: [check_entry(e) for e in entries])]


def has_port_wildcard(entry: str) -> bool:
    return entry.endswith(":*")


@dataclass(frozen=True)
class OriginAllowList:
    """The allow-list, compiled once; `allows(origin)` is what every answer is based on."""

    entries: tuple[str, ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> OriginAllowList:
        return cls(tuple(check_entry(e) for e in entries))

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    @property
    def any(self) -> bool:
        return ANY in self.entries

    def regex(self) -> str:
        """One anchored regular expression matching exactly the allowed origins (Python and PCRE alike:
        nginx's `map` uses it), never matching anything when the list is empty."""
        if not self.entries:
            return "^(?!)$"
        if self.any:
            return r"^https?://[^/\s?#]+$"
        parts = []
        for entry in self.entries:
            if has_port_wildcard(entry):
                parts.append(re.escape(entry[:-2]) + r"(?::[0-9]{1,5})?")
            else:
                parts.append(re.escape(entry))
        return "^(?:" + "|".join(parts) + ")$"

    def allows(self, origin: str) -> bool:
        return _ORIGIN.match(origin) is not None and re.match(self.regex(), origin) is not None
