"""MFA on a real redis-server: TOTP enrolment, drift, replay, throttling, recovery and one-time codes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
import redis.asyncio as aioredis

from runtime.connections import redis_client
from runtime.security.envelope import Envelope
from runtime.security.errors import (
    DeliveryError,
    InvalidCodeError,
    MfaUnavailableError,
    NotEnrolledError,
    ReplayedCodeError,
    ThrottledError,
    UnknownChannelError,
)
from runtime.security.mfa import MfaManager, MfaPolicy
from runtime.security.senders import Channel, LocalOutbox, OneTimeCodeMessage
from runtime.security.settings import Factor, MfaSettings
from tests.servers import RedisServer

NOW = 1_800_000_015.0  # mid-step, pinned so codes never straddle a step boundary


class Clock:
    def __init__(self, at: float = NOW) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def settings(**overrides: Any) -> MfaSettings:
    return MfaSettings(pepper="test-pepper", **overrides)


async def enrolled(mfa: MfaManager, user: str, clock: Clock) -> pyotp.TOTP:
    enrollment = await mfa.begin_totp_enrollment(user)
    otp = pyotp.TOTP(enrollment.secret)
    clock.at -= 60  # confirm two steps earlier, so the test's own steps are all later
    await mfa.confirm_totp_enrollment(user, otp.at(clock.at))
    clock.at += 60
    return otp


async def test_enrolment_gives_a_provisioning_uri_and_needs_a_valid_code(client: aioredis.Redis) -> None:
    mfa = MfaManager(client, settings(), clock=Clock())
    enrollment = await mfa.begin_totp_enrollment("u1", account_name="ann@example.com")
    assert enrollment.provisioning_uri.startswith("otpauth://totp/StreamGate:ann%40example.com?")
    assert f"secret={enrollment.secret}" in enrollment.provisioning_uri
    with pytest.raises(NotEnrolledError):
        await mfa.verify_totp("u1", "000000")  # pending only
    with pytest.raises(InvalidCodeError):
        await mfa.confirm_totp_enrollment(
            "u1", "000000" if pyotp.TOTP(enrollment.secret).at(NOW) != "000000" else "111111"
        )
    await mfa.confirm_totp_enrollment("u1", pyotp.TOTP(enrollment.secret).at(NOW))
    assert Factor.TOTP in await mfa.enrolled_factors("u1")
    with pytest.raises(NotEnrolledError):
        await mfa.confirm_totp_enrollment("u1", "123456")  # nothing pending any more


async def test_drift_of_one_step_is_accepted_two_is_not(client: aioredis.Redis) -> None:
    clock = Clock()
    mfa = MfaManager(client, settings(), clock=clock)
    otp = await enrolled(mfa, "u2", clock)
    step = int(NOW // 30)
    assert await mfa.verify_totp("u2", otp.at(NOW - 30)) == step - 1
    assert await mfa.verify_totp("u2", otp.at(NOW)) == step
    assert await mfa.verify_totp("u2", otp.at(NOW + 30)) == step + 1
    with pytest.raises(InvalidCodeError) as caught:
        await mfa.verify_totp("u2", otp.at(NOW + 60))
    assert not isinstance(caught.value, ReplayedCodeError)


async def test_a_code_is_accepted_once(client: aioredis.Redis) -> None:
    clock = Clock()
    mfa = MfaManager(client, settings(), clock=clock)
    otp = await enrolled(mfa, "u3", clock)
    code = otp.at(NOW)
    await mfa.verify_totp("u3", code)
    with pytest.raises(ReplayedCodeError):
        await mfa.verify_totp("u3", code)
    with pytest.raises(ReplayedCodeError):  # an earlier step is no good after a later one either
        await mfa.verify_totp("u3", otp.at(NOW - 30))


async def test_concurrent_replays_admit_one(redis: RedisServer) -> None:
    clock = Clock()
    clients = [redis_client(redis.url) for _ in range(4)]
    managers = [MfaManager(c, settings(user_free_attempts=100), clock=clock) for c in clients]
    otp = await enrolled(managers[0], "u4", clock)
    code = otp.at(NOW)
    results = await asyncio.gather(
        *(managers[i % 4].verify_totp("u4", code) for i in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, int) for r in results) == 1
    assert all(isinstance(r, ReplayedCodeError) for r in results if not isinstance(r, int))
    for c in clients:
        await c.aclose()


async def test_user_throttling_backs_off_exponentially(client: aioredis.Redis) -> None:
    clock = Clock()
    mfa = MfaManager(client, settings(user_free_attempts=3, backoff_base_seconds=0.5), clock=clock)
    otp = await enrolled(mfa, "u5", clock)
    wrong = "000000" if otp.at(NOW) != "000000" else "111111"
    for _ in range(3):
        with pytest.raises(InvalidCodeError) as caught:
            await mfa.verify_totp("u5", wrong)
        assert caught.value.locked_for == 0
    with pytest.raises(InvalidCodeError) as caught:
        await mfa.verify_totp("u5", wrong)
    assert caught.value.locked_for == pytest.approx(0.5)
    with pytest.raises(ThrottledError) as throttled:
        await mfa.verify_totp("u5", otp.at(NOW))  # even the right code waits out the lockout
    assert 0 < throttled.value.retry_after <= 0.5
    await asyncio.sleep(throttled.value.retry_after + 0.02)
    with pytest.raises(InvalidCodeError) as caught:
        await mfa.verify_totp("u5", wrong)
    assert caught.value.locked_for == pytest.approx(1.0)  # doubled
    await asyncio.sleep(1.02)
    await mfa.verify_totp("u5", otp.at(NOW))  # success clears the user's record
    with pytest.raises(InvalidCodeError) as caught:
        await mfa.verify_totp("u5", wrong)
    assert caught.value.locked_for == 0


async def test_ip_throttling_spans_users(client: aioredis.Redis) -> None:
    clock = Clock()
    mfa = MfaManager(
        client, settings(user_free_attempts=50, ip_free_attempts=4, backoff_base_seconds=30), clock=clock
    )
    otps = {u: await enrolled(mfa, u, clock) for u in ("a", "b", "c")}
    for user in ("a", "b", "a", "b"):
        wrong = "000000" if otps[user].at(NOW) != "000000" else "111111"
        with pytest.raises(InvalidCodeError):
            await mfa.verify_totp(user, wrong, ip="203.0.113.9")
    with pytest.raises(InvalidCodeError) as caught:
        await mfa.verify_totp("c", "000000" if otps["c"].at(NOW) != "000000" else "111111", ip="203.0.113.9")
    assert caught.value.locked_for == 30
    with pytest.raises(ThrottledError):
        await mfa.verify_totp("c", otps["c"].at(NOW), ip="203.0.113.9")
    assert await mfa.verify_totp("c", otps["c"].at(NOW), ip="198.51.100.7")  # another IP is not blocked


async def test_recovery_codes_are_single_use_hashed_and_regenerated_as_a_set(client: aioredis.Redis) -> None:
    mfa = MfaManager(client, settings(recovery_code_count=8))
    codes = await mfa.regenerate_recovery_codes("u6")
    assert len(set(codes)) == 8 and await mfa.recovery_codes_left("u6") == 8
    stored = {m.decode() for m in await client.smembers("{sg:mfa}:recovery:u6")}
    assert not any(c.replace("-", "") in s or c in s for c in codes for s in stored)
    await mfa.use_recovery_code("u6", codes[0].lower().replace("-", " "))  # forgiving about format
    with pytest.raises(InvalidCodeError):
        await mfa.use_recovery_code("u6", codes[0])
    assert await mfa.recovery_codes_left("u6") == 7
    fresh = await mfa.regenerate_recovery_codes("u6")
    with pytest.raises(InvalidCodeError):
        await mfa.use_recovery_code("u6", codes[1])  # the old set is gone
    await mfa.use_recovery_code("u6", fresh[1])
    assert Factor.RECOVERY in await mfa.enrolled_factors("u6")


async def test_one_time_codes_by_email_and_sms(client: aioredis.Redis) -> None:
    outbox = LocalOutbox()
    mfa = MfaManager(
        client,
        settings(one_time_code_ttl_seconds=1, one_time_code_resend_seconds=0),
        senders={Channel.EMAIL: outbox, Channel.SMS: outbox},
    )
    expires = await mfa.send_one_time_code("u7", Channel.EMAIL, "ann@example.com")
    assert expires == pytest.approx(time.time() + 1, abs=0.5)
    message = outbox.latest("ann@example.com")
    assert message is not None and len(message.code) == 6 and message.channel is Channel.EMAIL
    stored = await client.get("{sg:mfa}:otc:email:u7")
    assert stored is not None and message.code.encode() not in stored
    with pytest.raises(InvalidCodeError):
        await mfa.verify_one_time_code("u7", Channel.SMS, message.code)  # bound to its channel
    await mfa.verify_one_time_code("u7", Channel.EMAIL, message.code)
    with pytest.raises(InvalidCodeError):
        await mfa.verify_one_time_code("u7", Channel.EMAIL, message.code)  # single use

    await mfa.send_one_time_code("u7", Channel.SMS, "+15550100")
    sms = outbox.latest("+15550100")
    assert sms is not None
    await asyncio.sleep(1.1)
    with pytest.raises(InvalidCodeError):
        await mfa.verify_one_time_code("u7", Channel.SMS, sms.code)  # expired


async def test_one_time_code_resend_guard_and_delivery_errors(client: aioredis.Redis) -> None:
    class Broken:
        async def send(self, message: OneTimeCodeMessage) -> None:
            raise ConnectionError("provider down")

    outbox = LocalOutbox()
    mfa = MfaManager(
        client,
        settings(one_time_code_resend_seconds=30),
        senders={Channel.EMAIL: outbox, Channel.SMS: Broken()},
    )
    await mfa.send_one_time_code("u8", Channel.EMAIL, "b@example.com")
    with pytest.raises(ThrottledError) as caught:
        await mfa.send_one_time_code("u8", Channel.EMAIL, "b@example.com")
    assert 29 < caught.value.retry_after <= 30
    assert len(outbox.messages("b@example.com")) == 1
    with pytest.raises(DeliveryError):
        await mfa.send_one_time_code("u8", Channel.SMS, "+15550101")
    assert await client.exists("{sg:mfa}:otc:sms:u8") == 0  # the undelivered code was withdrawn
    no_sms = MfaManager(client, settings())
    with pytest.raises(UnknownChannelError):
        await no_sms.send_one_time_code("u8", Channel.SMS, "+15550101")


async def test_policy_per_user(client: aioredis.Redis) -> None:
    mfa = MfaManager(client, settings())
    assert (await mfa.get_policy("u9")).required == {Factor.TOTP}
    strict = MfaPolicy(frozenset({Factor.TOTP, Factor.EMAIL}))
    await mfa.set_policy("u9", strict)
    policy = await mfa.get_policy("u9")
    assert policy == strict
    assert policy.missing([Factor.EMAIL]) == {Factor.TOTP}
    assert policy.satisfied_by([Factor.RECOVERY, Factor.EMAIL])  # a recovery code stands in for TOTP
    assert not policy.satisfied_by([Factor.TOTP])


async def test_secrets_are_sealed_with_the_envelope(
    client: aioredis.Redis, make_envelope: Callable[..., Envelope]
) -> None:
    clock = Clock()
    mfa = MfaManager(client, settings(), cipher=make_envelope(), clock=clock)
    enrollment = await mfa.begin_totp_enrollment("u10")
    otp = pyotp.TOTP(enrollment.secret)
    await mfa.confirm_totp_enrollment("u10", otp.at(NOW - 30))
    stored = await client.get("{sg:mfa}:totp:u10")
    assert stored is not None and stored.startswith(b"e:") and enrollment.secret.encode() not in stored
    assert await mfa.verify_totp("u10", otp.at(NOW)) == int(NOW // 30)
    plain = MfaManager(client, settings(), clock=clock)  # no cipher: refuses rather than misreads
    with pytest.raises(MfaUnavailableError):
        await plain.verify_totp("u10", otp.at(NOW + 30))


async def test_store_down_fails_closed_promptly(own_redis: RedisServer) -> None:
    client = redis_client(own_redis.url)
    mfa = MfaManager(client, settings(), redis_timeout_seconds=0.2)
    own_redis.kill()
    started = time.perf_counter()
    with pytest.raises(MfaUnavailableError):
        await mfa.verify_totp("u11", "123456")
    assert time.perf_counter() - started < 1.0
    await client.aclose()
