"""Second factors for a user: TOTP with replay protection, recovery codes, one-time codes sent by email or
SMS, attempt throttling per user and per client IP, and the per-user policy of required factors.

State lives in Redis under the hash tag `{<key_prefix>}`: an attempt touches the user's and the IP's
records in one script, which on a cluster requires one slot (MFA traffic is small). Redis trouble fails
closed (`MfaUnavailableError`): a second factor is never waved through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from runtime.security import metrics
from runtime.security.errors import (
    DeliveryError,
    InvalidCodeError,
    MfaUnavailableError,
    NotEnrolledError,
    ReplayedCodeError,
    ThrottledError,
    UnknownChannelError,
)
from runtime.security.lua import LuaScript
from runtime.security.mfa import codes
from runtime.security.mfa.policy import MfaPolicy
from runtime.security.senders import Channel, OneTimeCodeMessage, OneTimeCodeSender
from runtime.security.settings import Factor, MfaSettings

ATTEMPT_SCRIPT = LuaScript.from_package("runtime.security.mfa", "attempt.lua")
_OK, _INVALID, _REPLAYED, _LOCKED = 0, 1, 2, 3
_PLAIN, _SEALED = b"p:", b"e:"
T = TypeVar("T")


class SecretCipher(Protocol):
    """What MFA needs to keep TOTP secrets encrypted at rest; `runtime.security.envelope.Envelope` fits."""

    def encrypt(self, plaintext: bytes, context: Mapping[str, str]) -> bytes: ...

    def decrypt(self, blob: bytes, context: Mapping[str, str]) -> bytes: ...


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    secret: str  # base32, for manual entry
    provisioning_uri: str  # otpauth://totp/..., for a QR code


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.p = "{" + prefix + "}"

    def totp(self, user: str) -> str:
        return f"{self.p}:totp:{user}"

    def pending(self, user: str) -> str:
        return f"{self.p}:totp-pending:{user}"

    def step(self, user: str) -> str:
        return f"{self.p}:step:{user}"

    def recovery(self, user: str) -> str:
        return f"{self.p}:recovery:{user}"

    def otc(self, user: str, channel: Channel) -> str:
        return f"{self.p}:otc:{channel.value}:{user}"

    def otc_sent(self, user: str, channel: Channel) -> str:
        return f"{self.p}:otc-sent:{channel.value}:{user}"

    def fail_user(self, user: str) -> str:
        return f"{self.p}:fail:u:{user}"

    def fail_ip(self, ip: str) -> str:
        return f"{self.p}:fail:ip:{ip}"

    def policy(self, user: str) -> str:
        return f"{self.p}:policy:{user}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class MfaManager:
    def __init__(
        self,
        redis: aioredis.Redis,
        settings: MfaSettings | None = None,
        *,
        senders: Mapping[Channel, OneTimeCodeSender] | None = None,
        cipher: SecretCipher | None = None,
        clock: Callable[[], float] = time.time,
        redis_timeout_seconds: float = 1.0,
    ) -> None:
        """`clock` gives the time TOTP codes are checked at (tests pin it to avoid step boundaries)."""
        self._redis = redis
        self.settings = settings or MfaSettings()
        self._senders = dict(senders or {})
        self._cipher = cipher
        self._clock = clock
        self._timeout = redis_timeout_seconds
        self._keys = _Keys(self.settings.key_prefix)
        self._pepper = self.settings.pepper.get_secret_value().encode()

    # --- TOTP ------------------------------------------------------------------------------------

    async def begin_totp_enrollment(self, user: str, account_name: str | None = None) -> TotpEnrollment:
        """A new secret, pending until `confirm_totp_enrollment` sees a code from it (the old one, if any,
        stays active until then)."""
        secret = codes.new_totp_secret()
        sealed = await self._seal(user, secret)
        await self._call(
            self._redis.set(self._keys.pending(user), sealed, ex=self.settings.enrollment_ttl_seconds)
        )
        otp = self._totp(secret)
        uri = otp.provisioning_uri(name=account_name or user, issuer_name=self.settings.issuer)
        return TotpEnrollment(secret=secret, provisioning_uri=uri)

    async def confirm_totp_enrollment(self, user: str, code: str, *, ip: str | None = None) -> None:
        stored = await self._call(self._redis.get(self._keys.pending(user)))
        if stored is None:
            raise NotEnrolledError("no TOTP enrolment pending (or it expired)")
        await self._check_totp(user, await self._open(user, stored), code, ip)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.totp(user), stored)
            pipe.delete(self._keys.pending(user))
            await self._call(pipe.execute())
        metrics.MFA_ENROLLMENTS.labels(Factor.TOTP.value).inc()

    async def verify_totp(self, user: str, code: str, *, ip: str | None = None) -> int:
        """Accept `code` once; returns the accepted time step. Raises `InvalidCodeError`,
        `ReplayedCodeError`, `ThrottledError`, `NotEnrolledError` or `MfaUnavailableError`."""
        stored = await self._call(self._redis.get(self._keys.totp(user)))
        if stored is None:
            raise NotEnrolledError("TOTP is not enrolled")
        return await self._check_totp(user, await self._open(user, stored), code, ip)

    async def disable_totp(self, user: str) -> None:
        await self._call(self._redis.delete(self._keys.totp(user), self._keys.pending(user)))

    async def _check_totp(self, user: str, secret: str, code: str, ip: str | None) -> int:
        otp = self._totp(secret)
        step = codes.matching_step(otp, code, at=self._clock(), window=self.settings.totp_valid_window)
        await self._attempt(
            Factor.TOTP, self._keys.step(user), "step", "" if step is None else str(step), user, ip
        )
        assert step is not None  # _attempt raised otherwise
        return step

    def _totp(self, secret: str) -> Any:
        return codes.totp(secret, digits=self.settings.totp_digits, period=self.settings.totp_period_seconds)

    # --- recovery codes --------------------------------------------------------------------------

    async def regenerate_recovery_codes(self, user: str) -> list[str]:
        """A fresh set replaces the old one atomically; the codes are shown once and stored only hashed."""
        fresh = codes.new_recovery_codes(self.settings.recovery_code_count)
        hashes = [self._hash("recovery", user, codes.normalize_recovery_code(c)) for c in fresh]
        key = self._keys.recovery(user)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.sadd(key, *hashes)
            await self._call(pipe.execute())
        metrics.MFA_ENROLLMENTS.labels(Factor.RECOVERY.value).inc()
        return fresh

    async def recovery_codes_left(self, user: str) -> int:
        return int(await self._call(self._redis.scard(self._keys.recovery(user))))

    async def use_recovery_code(self, user: str, code: str, *, ip: str | None = None) -> None:
        normalized = codes.normalize_recovery_code(code)
        proof = self._hash("recovery", user, normalized) if normalized else ""
        await self._attempt(Factor.RECOVERY, self._keys.recovery(user), "member", proof, user, ip)

    # --- one-time codes (email, SMS) -------------------------------------------------------------

    async def send_one_time_code(
        self, user: str, channel: Channel, destination: str, *, purpose: str = "sign-in"
    ) -> float:
        """Generate, store hashed with a TTL, and send a code; returns when it expires (Unix time).
        At most one send per `one_time_code_resend_seconds`; a locked-out user gets `ThrottledError`."""
        sender = self._senders.get(channel)
        if sender is None:
            raise UnknownChannelError(f"no sender configured for {channel.value}")
        s = self.settings
        locked_until = await self._call(self._redis.hget(self._keys.fail_user(user), "until"))
        now = time.time()  # compared with Redis-side lock times, so wall time (not the TOTP clock)
        if locked_until is not None and int(locked_until) / 1000 > now:
            raise ThrottledError(int(locked_until) / 1000 - now)
        if s.one_time_code_resend_seconds > 0:
            fresh = await self._call(
                self._redis.set(
                    self._keys.otc_sent(user, channel), b"1", nx=True, ex=s.one_time_code_resend_seconds
                )
            )
            if not fresh:
                ttl = await self._call(self._redis.pttl(self._keys.otc_sent(user, channel)))
                raise ThrottledError(max(int(ttl), 0) / 1000)
        code = codes.new_one_time_code(s.one_time_code_digits)
        key = self._keys.otc(user, channel)
        await self._call(
            self._redis.set(key, self._hash(channel.value, user, code), ex=s.one_time_code_ttl_seconds)
        )
        expires_at = now + s.one_time_code_ttl_seconds
        try:
            await sender.send(OneTimeCodeMessage(channel, destination, code, purpose, expires_at))
        except Exception as exc:
            await self._call(self._redis.delete(key))
            raise DeliveryError(f"{channel.value} delivery failed: {type(exc).__name__}") from exc
        metrics.MFA_CODES_SENT.labels(channel.value).inc()
        return expires_at

    async def verify_one_time_code(
        self, user: str, channel: Channel, code: str, *, ip: str | None = None
    ) -> None:
        code = code.strip()
        proof = self._hash(channel.value, user, code) if code.isdigit() else ""
        await self._attempt(Factor(channel.value), self._keys.otc(user, channel), "equal", proof, user, ip)

    # --- policy ----------------------------------------------------------------------------------

    async def set_policy(self, user: str, policy: MfaPolicy) -> None:
        await self._call(self._redis.set(self._keys.policy(user), policy.encode()))

    async def get_policy(self, user: str) -> MfaPolicy:
        raw = await self._call(self._redis.get(self._keys.policy(user)))
        if raw is None:
            return MfaPolicy(self.settings.default_required_factors)
        return MfaPolicy.decode(_text(raw))

    async def enrolled_factors(self, user: str) -> frozenset[Factor]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(self._keys.totp(user))
            pipe.scard(self._keys.recovery(user))
            has_totp, recovery = await self._call(pipe.execute())
        found = {Factor(c.value) for c in self._senders}
        if has_totp:
            found.add(Factor.TOTP)
        if recovery:
            found.add(Factor.RECOVERY)
        return frozenset(found)

    # --- plumbing --------------------------------------------------------------------------------

    async def _attempt(
        self, factor: Factor, target: str, mode: str, proof: str, user: str, ip: str | None
    ) -> None:
        s = self.settings
        keys = [target, self._keys.fail_user(user)]
        if ip is not None:
            keys.append(self._keys.fail_ip(ip))
        args = [
            mode,
            proof,
            s.user_free_attempts,
            s.ip_free_attempts,
            int(s.backoff_base_seconds * 1000),
            int(s.backoff_max_seconds * 1000),
            int(s.failure_window_seconds * 1000),
        ]
        status, ms = await self._call(ATTEMPT_SCRIPT.run(self._redis, keys, args))
        result = {_OK: "ok", _INVALID: "invalid", _REPLAYED: "replay", _LOCKED: "throttled"}[int(status)]
        metrics.MFA_VERIFICATIONS.labels(factor.value, result).inc()
        if status == _OK:
            return
        if status == _LOCKED:
            raise ThrottledError(int(ms) / 1000)
        if status == _REPLAYED:
            raise ReplayedCodeError("code already used", locked_for=int(ms) / 1000)
        raise InvalidCodeError("invalid code", locked_for=int(ms) / 1000)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            raise MfaUnavailableError(f"MFA store unavailable: {type(exc).__name__}") from exc

    def _hash(self, purpose: str, user: str, code: str) -> str:
        return codes.code_hash(self._pepper, purpose, user, code)

    def _context(self, user: str) -> dict[str, str]:
        return {"tenant": self.settings.tenant, "object_id": f"mfa/totp/{user}", "purpose": "mfa-totp"}

    async def _seal(self, user: str, secret: str) -> bytes:
        if self._cipher is None:
            return _PLAIN + secret.encode()
        blob = await asyncio.to_thread(self._cipher.encrypt, secret.encode(), self._context(user))
        return _SEALED + blob

    async def _open(self, user: str, stored: bytes | str) -> str:
        raw = stored if isinstance(stored, bytes) else stored.encode()
        if raw.startswith(_PLAIN):
            return raw[len(_PLAIN) :].decode()
        if raw.startswith(_SEALED) and self._cipher is not None:
            plain = await asyncio.to_thread(self._cipher.decrypt, raw[len(_SEALED) :], self._context(user))
            return plain.decode()
        raise MfaUnavailableError("stored TOTP secret is sealed but no cipher is configured")
