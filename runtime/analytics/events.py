"""Playback events and per-event validation of a batch: good events are kept, each bad one is reported
with its index and reasons (messages and locations only, never echoing the input)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class EventType(StrEnum):
    START = "start"
    HEARTBEAT = "heartbeat"
    STOP = "stop"
    ERROR = "error"


class PlaybackEvent(BaseModel):
    """One player report. Durations cover the interval since the session's previous event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EventType
    session_id: Identifier
    content_id: Identifier
    ts: float = Field(description="event time, Unix seconds", allow_inf_nan=False)
    bitrate_kbps: int | None = Field(None, ge=0, le=1_000_000)
    played_seconds: float = Field(0.0, ge=0, le=3600, allow_inf_nan=False)
    buffering_seconds: float = Field(0.0, ge=0, le=3600, allow_inf_nan=False)
    error_code: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _error_has_code(self) -> PlaybackEvent:
        if self.type is EventType.ERROR and self.error_code is None:
            raise ValueError("error events need an error_code")
        return self


@dataclass(frozen=True, slots=True)
class EventError:
    index: int
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "errors": self.errors}


def _reasons(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"loc": ".".join(str(p) for p in err["loc"]) or "(event)", "msg": str(err["msg"])}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def validate_batch(
    raw: list[Any], *, max_skew: float, max_age: float, now: float | None = None
) -> tuple[list[PlaybackEvent], list[EventError]]:
    """Validate each item on its own. Event times must lie in [now - max_age, now + max_skew]."""
    now = time.time() if now is None else now
    good: list[PlaybackEvent] = []
    bad: list[EventError] = []
    for index, item in enumerate(raw):
        try:
            event = PlaybackEvent.model_validate(item)
        except ValidationError as exc:
            bad.append(EventError(index, _reasons(exc)))
            continue
        if event.ts > now + max_skew:
            bad.append(EventError(index, [{"loc": "ts", "msg": "event time is in the future"}]))
        elif event.ts < now - max_age:
            bad.append(EventError(index, [{"loc": "ts", "msg": "event is too old"}]))
        else:
            good.append(event)
    return good, bad
