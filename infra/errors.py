"""The infra package's exceptions; the CLI maps each to one clear line and an exit code."""

from __future__ import annotations


class StreamgateError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1


class ConfigError(StreamgateError):
    """A stack file or argument is wrong: the message names the file, the key and the fix."""

    exit_code = 2


class AbortedError(StreamgateError):
    """The operation stopped on purpose (declined, rolled back, unsafe to proceed)."""

    exit_code = 3
