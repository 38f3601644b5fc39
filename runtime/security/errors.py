"""One exception hierarchy for runtime.security: callers catch `SecurityError` or a precise subclass."""

from __future__ import annotations


class SecurityError(Exception):
    """Base of every error raised by runtime.security."""


# --- rate limiting -------------------------------------------------------------------------------


class RateLimitError(SecurityError):
    """Misuse of the rate limiter (bad key or cost). Redis outages never raise: they fall back."""


# --- MFA -----------------------------------------------------------------------------------------


class MfaError(SecurityError):
    """Base of MFA failures."""


class NotEnrolledError(MfaError):
    """The user has no (confirmed) factor of that kind."""


class InvalidCodeError(MfaError):
    """The code does not match (or has expired). `locked_for` > 0 when this failure started a lockout."""

    def __init__(self, message: str = "invalid code", *, locked_for: float = 0.0) -> None:
        super().__init__(message)
        self.locked_for = locked_for


class ReplayedCodeError(InvalidCodeError):
    """The code matched a time step (or one-time code) that was already used."""


class ThrottledError(MfaError):
    """Too many failed attempts for this user or client IP; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed attempts; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class UnknownChannelError(MfaError):
    """No one-time-code sender is configured for that channel."""


class DeliveryError(MfaError):
    """A one-time-code sender failed to deliver; the code was withdrawn."""


class MfaUnavailableError(MfaError):
    """The MFA store (Redis) cannot be reached: verification fails closed."""


# --- envelope encryption -------------------------------------------------------------------------


class EnvelopeError(SecurityError):
    """Base of envelope encryption failures."""


class MalformedBlobError(EnvelopeError):
    """The blob is not an envelope (bad magic, lengths or structure)."""


class UnsupportedVersionError(MalformedBlobError):
    """The envelope was written by a format version this code does not read."""


class TruncatedError(EnvelopeError):
    """The envelope ends early: a header, a chunk or the final chunk is missing."""


class ChunkOrderError(EnvelopeError):
    """Chunks arrive out of order, duplicated or with one skipped."""


class TamperedError(EnvelopeError):
    """Authentication failed: ciphertext, tag, header or wrapped key was altered."""


class InvalidContextError(EnvelopeError):
    """The encryption context lacks a required key or holds an empty or non-string value."""


class ContextMismatchError(EnvelopeError):
    """The encryption context given to decrypt differs from the one the object was encrypted with."""


class KeyManagementError(EnvelopeError):
    """KMS refused or could not be reached (disabled key, access denied, network)."""
