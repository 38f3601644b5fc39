"""The alerts package's exceptions (all `StreamgateError`s, so the CLI prints one line and an exit code)."""

from __future__ import annotations

from infra.errors import StreamgateError


class AlertsError(StreamgateError):
    """A rule or Alertmanager config cannot be built from this stack or these arguments."""

    exit_code = 2


class UnknownRegionError(AlertsError):
    """A region was asked for that the stack does not have."""
