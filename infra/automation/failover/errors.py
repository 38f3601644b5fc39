"""A failover's own failures."""

from __future__ import annotations

from infra.automation.errors import AutomationError
from infra.errors import AbortedError


class FailoverError(AutomationError):
    """A failover step failed; the record says which, and a re-run resumes (exit 1)."""


class UnsafeFailoverError(FailoverError):
    """Readiness checks failed: nothing was changed (exit 1)."""


class DeclinedError(AutomationError, AbortedError):
    """The operator did not confirm (exit 3)."""

    exit_code = 3
