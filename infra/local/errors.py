"""Errors of the local platform; each maps to one CLI line and exit code (see infra.errors)."""

from __future__ import annotations

from infra.errors import AbortedError, ConfigError, StreamgateError


class LocalPlatformError(StreamgateError):
    """A part failed to start, became unhealthy or did not answer (exit 1)."""


class PreflightError(ConfigError):
    """A missing binary/module or a busy port: the message names the package or the port (exit 2)."""


class RouterError(LocalPlatformError):
    """nginx rejected a generated weights file or did not apply it; the previous file is restored."""


class InvalidWeightsError(ConfigError):
    """Weights that cannot be routed: unknown names, negative, or nothing left to serve (exit 2)."""


class LocalAbortedError(AbortedError):
    """Interrupted while bringing the platform up (exit 3)."""
