"""Named debug probes on the gateway's hot paths (Lightrun / Cloud Debugger snapshots, without a restart).

A probe point is a module-level object; its call site reads one attribute while it is disarmed:

    if CACHE_MISS.armed:
        CACHE_MISS.fire(key=key, tier=tier, kind=kind)

Armed (by runtime/observability/debugging.py, from the admin API), `fire` evaluates the probe's condition
(runtime/observability/conditions.py) over the named values, and while the probe is within its hit limit,
its TTL and its rate, captures a snapshot: the values and the caller's locals (redacted), the stack, the
request id and the trace id. Snapshots go to `on_snapshot` (Redis, for every instance to read back).
Anything that goes wrong inside a probe is swallowed: a probe must never fail a request."""

from __future__ import annotations

import contextvars
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from opentelemetry import trace

from runtime.observability.conditions import Compiled, compile_condition

# The current request (its ASGI scope), set by the edge only while some probe is armed.
REQUEST: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "streamgate_request", default=None
)
STACK_LIMIT = 16
REPR_LIMIT = 240
LOCALS_LIMIT = 40
_SENSITIVE_NAME = re.compile(
    r"(^|_)(token|secret|password|passwd|pepper|signature|cookie|authorization|credentials?|otp|mfa|code|"
    r"signing_key|api_key|private_key|data_key|plaintext)s?($|_)",
    re.I,
)
# Credentials inside any text: our tokens, bearer values, TOTP headers.
_SENSITIVE_TEXT = re.compile(
    r"sg1\.[\w-]+\.[\w-]+|(?i:bearer)\s+[\w.~+/=-]+|(?i:x-streamgate-mfa)['\"]?[:,]\s*\S+"
)
REDACTED = "[redacted]"


class ProbeError(ValueError):
    """An unknown probe, or bad arming parameters."""


@dataclass
class Arming:
    """One armed probe: what to capture and how much. `id` changes with every arming."""

    condition: str
    max_hits: int
    expires_at: float
    max_per_second: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    by: str = ""
    compiled: Compiled | None = field(default=None, repr=False)
    hits: int = 0
    errors: int = 0  # condition evaluations that raised (comparing a str with an int, ...)
    _second: int = 0
    _in_second: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "condition": self.condition,
            "max_hits": self.max_hits,
            "expires_at": round(self.expires_at, 3),
            "max_per_second": self.max_per_second,
            "by": self.by,
        }

    def admit(self, now: float) -> bool:
        """Within TTL, hit limit and rate (per second, in this process)."""
        if now >= self.expires_at or self.hits >= self.max_hits:
            return False
        second = int(now)
        if second != self._second:
            self._second, self._in_second = second, 0
        if self._in_second >= self.max_per_second:
            return False
        self._in_second += 1
        return True


SnapshotSink = Callable[["ProbePoint", Arming, dict[str, Any]], None]


class ProbePoint:
    __slots__ = ("armed", "arming", "description", "name", "on_snapshot", "variables")

    def __init__(self, name: str, variables: tuple[str, ...], description: str) -> None:
        self.name = name
        self.variables = frozenset(variables)
        self.description = description
        self.armed = False  # the one attribute a call site reads
        self.arming: Arming | None = None
        self.on_snapshot: SnapshotSink | None = None

    def arm(self, arming: Arming) -> Arming:
        """Compile the condition (ConditionError if it is outside the language) and arm."""
        arming.compiled = compile_condition(arming.condition, self.variables)
        self.arming = arming
        self.armed = True
        _refresh_any()
        return arming

    def disarm(self) -> None:
        self.armed = False
        self.arming = None
        _refresh_any()

    def fire(self, **values: Any) -> None:
        try:  # noqa: SIM105 (contextlib.suppress costs more than the condition; this runs per hit)
            self._fire(values)
        except Exception:  # a probe never fails the request it watches
            pass

    def _fire(self, values: dict[str, Any]) -> None:
        arming = self.arming
        if arming is None or arming.compiled is None:
            return
        now = time.time()
        if now >= arming.expires_at or arming.hits >= arming.max_hits:
            self.disarm()
            return
        try:
            matched = bool(arming.compiled(values))
        except Exception:
            arming.errors += 1
            return
        if not matched or not arming.admit(now):
            return
        arming.hits += 1
        snapshot = capture(self.name, values, sys._getframe(2), now)  # the frame that called `fire`
        if self.on_snapshot is not None:
            self.on_snapshot(self, arming, snapshot)


def capture(probe: str, values: Mapping[str, Any], caller: FrameType, now: float) -> dict[str, Any]:
    """A snapshot: values, the caller's locals (redacted), the stack, request id and trace id."""
    scope = REQUEST.get()
    request_id = method = path = None
    if scope is not None:
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:64]
                break
        method, path = scope.get("method"), scope.get("path")
    context = trace.get_current_span().get_span_context()
    stack = [
        f"{frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_stack(caller, limit=STACK_LIMIT)
    ]
    local_items = list(caller.f_locals.items())[:LOCALS_LIMIT]
    return {
        "probe": probe,
        "at": round(now, 6),
        "request_id": request_id,
        "method": method,
        "path": path,
        "trace_id": f"{context.trace_id:032x}" if context.is_valid else None,
        "values": {k: redact(k, v) for k, v in values.items()},
        "locals": {k: redact(k, v) for k, v in local_items if not k.startswith("__")},
        "stack": stack,
    }


def redact(name: str, value: Any, depth: int = 0) -> Any:
    """A JSON-safe, bounded rendering of `value` with credentials removed: by the name they are held under
    (here, or as a header name in a pair) and by what they look like (tokens, bearer values)."""
    if _SENSITIVE_NAME.search(name):
        return REDACTED
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        size = len(value)
        if size <= 64:
            return _scrub(bytes(value).decode("latin-1"))
        return f"<{size} bytes>"
    if isinstance(value, str):
        return _scrub(value[:REPR_LIMIT])
    if depth < 2 and isinstance(value, Mapping):
        return {str(k): redact(str(k), v, depth + 1) for k, v in list(value.items())[:LOCALS_LIMIT]}
    if depth < 2 and isinstance(value, (list, tuple)):
        if len(value) == 2 and isinstance(value[0], (str, bytes)):  # a header pair: its name decides
            key = value[0].decode("latin-1") if isinstance(value[0], bytes) else value[0]
            return [redact("", key, depth + 1), redact(key.replace("-", "_"), value[1], depth + 1)]
        return [redact("", v, depth + 1) for v in value[:LOCALS_LIMIT]]
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return _scrub(text[:REPR_LIMIT])


def _scrub(text: str) -> str:
    return _SENSITIVE_TEXT.sub(REDACTED, text)


# -- the probe points ------------------------------------------------------------------------------------
CACHE_MISS = ProbePoint(
    "cache_miss", ("key", "tier", "kind"), "a content lookup L1 could not answer (tier: l2, l3, origin, none)"
)
ORIGIN_FETCH = ProbePoint(
    "origin_fetch", ("key", "found", "size", "seconds"), "a fetch from the origin (object store)"
)
RATELIMIT_DECISION = ProbePoint(
    "ratelimit_decision",
    ("service", "user", "ip", "allowed", "scope", "remaining"),
    "a rate-limit decision for a /v1/ request",
)
AUTH_FAILURE = ProbePoint(
    "auth_failure", ("reason", "status", "path", "sub"), "a request refused by authentication (401/403)"
)
POINTS: dict[str, ProbePoint] = {
    p.name: p for p in (CACHE_MISS, ORIGIN_FETCH, RATELIMIT_DECISION, AUTH_FAILURE)
}


class _Switch:
    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False


# On while any probe is armed: the edge then records the request (REQUEST) for snapshots.
ANY_ARMED = _Switch()


def _refresh_any() -> None:
    ANY_ARMED.on = any(p.armed for p in POINTS.values())


def point(name: str) -> ProbePoint:
    found = POINTS.get(name)
    if found is None:
        raise ProbeError(f"no probe named {name!r}; probes: {', '.join(POINTS)}")
    return found
