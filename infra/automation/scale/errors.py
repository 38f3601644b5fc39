"""Predictive scaling's errors: no (or too little) history is bad input for this command (exit 2); a
capacity knob that cannot be read or moved is a failure (exit 1)."""

from __future__ import annotations

from infra.automation.errors import AutomationError, InvalidInputError


class HistoryError(InvalidInputError):
    """A region has no request history, or less than `scale.minHistoryDays`: nothing is forecast or changed."""


class KnobError(AutomationError):
    """A capacity floor (an HPA's minReplicas, the local platform's processes) could not be read or set."""
