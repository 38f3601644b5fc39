"""A backup's own failures."""

from __future__ import annotations

from infra.automation.errors import AutomationError


class BackupError(AutomationError):
    """A backup, restore or prune could not be done (exit 1)."""


class BackupNotFoundError(BackupError):
    """No (complete) backup with that id."""
