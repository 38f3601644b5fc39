"""A drill's own failures."""

from __future__ import annotations

from infra.automation.errors import AutomationError


class DrillError(AutomationError):
    """The drill could not run or its platform is not in a state to drill (exit 1)."""
