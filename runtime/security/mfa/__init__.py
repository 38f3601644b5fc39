"""Second factors: TOTP (RFC 6238) with replay protection, recovery codes, one-time codes, throttling."""

from runtime.security.mfa.manager import MfaManager, SecretCipher, TotpEnrollment
from runtime.security.mfa.policy import MfaPolicy

__all__ = ["MfaManager", "MfaPolicy", "SecretCipher", "TotpEnrollment"]
