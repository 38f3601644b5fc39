"""One exception hierarchy for the gateway service."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the gateway's own errors."""


class ConfigError(ServiceError):
    """The settings cannot run a gateway (e.g. no token signing key)."""


class TokenError(ServiceError):
    """An API token is malformed, forged, expired or lacks the needed scope."""


class ContentError(ServiceError):
    """Content could not be stored or read."""
