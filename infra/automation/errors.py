"""Automation's exceptions. Each maps to one CLI line and an exit code (1 failed, 2 bad input, 3 rolled back)."""

from __future__ import annotations

from infra.errors import AbortedError, ConfigError, StreamgateError


class AutomationError(StreamgateError):
    """Base of every automation failure (exit code 1)."""


class InvalidInputError(AutomationError, ConfigError):
    """A command-line value or rollout setting is wrong (exit code 2)."""


class TemplateError(InvalidInputError):
    """A PromQL template names a variable that does not exist."""


class LockHeldError(AutomationError):
    """Another process runs an operation on the same target."""


class StateConflictError(AutomationError):
    """The persisted state changed under us (lost lock or concurrent writer)."""


class RouterError(AutomationError):
    """A router could not read or write traffic weights."""


class WeightMismatchError(RouterError):
    """The weights read back differ from the weights just written."""


class MetricsError(AutomationError):
    """The metrics backend could not answer (unreachable, bad query): never a pass."""


class DeployError(AutomationError):
    """A color could not be brought up, checked or retired."""


class GateError(AutomationError):
    """A webhook or gate command failed or timed out."""


class RolledBackError(AutomationError, AbortedError):
    """The rollout ended with traffic back on the stable version (exit code 3)."""

    exit_code = 3
