"""What every automation area and adapter shares: the base error, bad input, state and lock conflicts, and the
adapters' failures. Each area adds its own in `<area>/errors.py`; every one maps to one CLI line and an exit
code (1 failed, 2 bad input, 3 aborted)."""

from __future__ import annotations

from infra.errors import ConfigError, StreamgateError


class AutomationError(StreamgateError):
    """Base of every automation failure (exit code 1)."""


class InvalidInputError(AutomationError, ConfigError):
    """A command-line value or automation setting is wrong (exit code 2)."""


class LockHeldError(AutomationError):
    """Another process runs an operation on the same target."""


class StateConflictError(AutomationError):
    """The persisted state changed under us (lost lock or concurrent writer)."""


class RouterError(AutomationError):
    """A router could not read or write traffic weights."""


class MetricsError(AutomationError):
    """The metrics backend could not answer (unreachable, bad query): never a pass."""


class DeployError(AutomationError):
    """A color could not be brought up, checked or retired."""
