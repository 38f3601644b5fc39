"""Typed rule definitions: recording rules, alerts and their groups, independent of any output format.

Annotation texts are Python format strings whose fields name alert labels (`{region}`, `{rollout}`) or
two specials: `{value}` (the alert's value, formatted per `ValueFormat`) and `{versions}` (the gateway
versions seen in the alert's region). The renderer turns fields into Go template actions for Prometheus;
tests expand the same text with concrete values to state what promtool must produce.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from infra.alerts.errors import AlertsError

VALUE_FIELD = "value"
VERSIONS_FIELD = "versions"
SPECIAL_FIELDS = frozenset({VALUE_FIELD, VERSIONS_FIELD})
# Labels every alert gets from the renderer; annotation texts may not read them (they are not on the
# sample the template sees, only added to the alert afterwards).
STATIC_LABELS = frozenset({"severity", "team", "impact"})

ALERT_NAME = re.compile(r"^Streamgate[A-Z][A-Za-z0-9]+$")
RECORD_NAME = re.compile(r"^streamgate:[a-z0-9_]+:[a-z0-9_]+$")
LABEL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class Severity(StrEnum):
    """Who is interrupted: `page` wakes on-call, `ticket` waits for working hours, `info` is context."""

    PAGE = "page"
    TICKET = "ticket"
    INFO = "info"


class Impact(StrEnum):
    """What an alert is about (its `impact` label): Alertmanager inhibits a region's `service` alerts while
    that region's `region` alert fires."""

    REGION = "region"  # the gateway of a whole region is gone
    SERVICE = "service"  # the gateway in a region misbehaves (moot while the region is down)
    PLATFORM = "platform"  # data stores, backups: independent of the gateway's health


class ValueFormat(StrEnum):
    """How `{value}` is shown: the name is Prometheus's template function."""

    PERCENT = "humanizePercentage"
    DURATION = "humanizeDuration"
    NUMBER = "humanize"


def template_fields(text: str) -> set[str]:
    """The field names a text uses (`{region}` → region)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def expand(text: str, values: Mapping[str, str]) -> str:
    """The text with every field replaced by `values[field]`."""
    return text.format_map(values)


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str

    def __post_init__(self) -> None:
        if not RECORD_NAME.match(self.record):
            raise AlertsError(f"recording rule {self.record!r}: name must look like streamgate:<what>:<how>")


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule. `output_labels` are the labels the expression yields (its `by` clause)."""

    name: str
    expr: str
    severity: Severity
    impact: Impact
    summary: str
    description: str
    output_labels: tuple[str, ...]
    for_seconds: int = 0
    value_format: ValueFormat = ValueFormat.NUMBER
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not ALERT_NAME.match(self.name):
            raise AlertsError(f"alert {self.name!r}: names are CamelCase and start with Streamgate")
        clash = STATIC_LABELS & (set(self.labels) | set(self.output_labels))
        if clash:
            raise AlertsError(f"alert {self.name}: labels {sorted(clash)} are set by the renderer")
        if "region" not in self.output_labels:
            raise AlertsError(f"alert {self.name}: every alert must carry the region it is about")
        for name in (*self.output_labels, *self.labels):
            if not LABEL_NAME.match(name):
                raise AlertsError(f"alert {self.name}: {name!r} is not a label name")
        known = set(self.output_labels) | SPECIAL_FIELDS
        for text in (self.summary, self.description):
            unknown = template_fields(text) - known
            if unknown:
                raise AlertsError(
                    f"alert {self.name}: annotation fields {sorted(unknown)} are not labels of its "
                    f"expression ({', '.join(self.output_labels)}) nor value/versions"
                )


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[RecordingRule | AlertRule, ...]

    @property
    def alerts(self) -> tuple[AlertRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, AlertRule))

    @property
    def recordings(self) -> tuple[RecordingRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, RecordingRule))
