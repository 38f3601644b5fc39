"""Errors of the profile store and its commands (the CLI maps them to exit codes)."""

from __future__ import annotations

from infra.errors import StreamgateError


class ProfileError(StreamgateError):
    """Profiles could not be read or written."""


class ProfileFormatError(ProfileError):
    """Bytes that are not a pprof profile or a Pyroscope push request."""


class NoProfilesError(ProfileError):
    """No stored profile matches the selection."""
