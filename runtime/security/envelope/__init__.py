"""Envelope encryption: AES-256-GCM content under per-object keys, data keys wrapped by KMS."""

from runtime.security.envelope.cipher import Envelope, kms_client
from runtime.security.envelope.format import Header, parse_header

__all__ = ["Envelope", "Header", "kms_client", "parse_header"]
