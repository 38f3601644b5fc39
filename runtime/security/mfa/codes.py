"""Pure helpers for second-factor material: TOTP secrets and matching, recovery and one-time codes, and the
keyed hashes stored instead of codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp

# Crockford's base32 alphabet: no I, L, O, U, so codes read back unambiguously.
_RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RECOVERY_LENGTH = 10  # 50 bits each: a fast keyed hash is enough, no password hashing needed


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends


def totp(secret: str, *, digits: int, period: int) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=digits, interval=period)


def matching_step(otp: pyotp.TOTP, code: str, *, at: float, window: int) -> int | None:
    """The time step (counter) within ±`window` of `at` whose code equals `code`, compared in constant time."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != otp.digits:
        return None
    try:
        return int(otp.verify_and_get_timecode(code, for_time=at, valid_window=window))
    except pyotp.exceptions.OTPVerificationError:
        return None


def new_recovery_codes(count: int) -> list[str]:
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def new_one_time_code(digits: int) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_hash(pepper: bytes, purpose: str, user: str, code: str) -> str:
    """HMAC-SHA256 over purpose, user and code: a leaked store reveals no codes, and one user's hash is
    useless for another user or purpose."""
    message = b"\0".join((purpose.encode(), user.encode(), code.encode()))
    return hmac.new(pepper, message, hashlib.sha256).hexdigest()
