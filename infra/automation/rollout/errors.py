"""A rollout's own failures (the adapters' are in infra/automation/errors.py)."""

from __future__ import annotations

from infra.automation.errors import InvalidInputError, RouterError


class TemplateError(InvalidInputError):
    """A PromQL template names a variable that does not exist."""


class WeightMismatchError(RouterError):
    """The weights read back differ from the weights just written."""
