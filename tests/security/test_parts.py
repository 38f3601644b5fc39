"""Small parts: the Lua runner, the local outbox, settings validation, MFA code helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from runtime.security.lua import LuaScript
from runtime.security.mfa import codes
from runtime.security.senders import Channel, LocalOutbox, OneTimeCodeMessage, OneTimeCodeSender
from runtime.security.settings import EncryptionSettings, Limit


async def test_lua_script_loads_once_on_noscript(client: aioredis.Redis) -> None:
    script = LuaScript("return ARGV[1] .. KEYS[1]")
    assert await client.script_exists(script.sha) == [False]
    assert await script.run(client, ["k"], ["v"]) == b"vk"
    assert await client.script_exists(script.sha) == [True]
    assert await script.run(client, ["k2"], ["v"]) == b"vk2"


async def test_local_outbox_keeps_and_appends_messages(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    outbox = LocalOutbox(max_messages=2, path=path)
    assert isinstance(outbox, OneTimeCodeSender)
    for n in range(3):
        await outbox.send(OneTimeCodeMessage(Channel.SMS, "+1555", f"00000{n}", "sign-in", 1.0))
    assert [m.code for m in outbox.messages()] == ["000001", "000002"]  # bounded
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["code"] for line in lines] == ["000000", "000001", "000002"]
    assert outbox.latest("+1555") is not None and outbox.latest("nobody") is None


def test_settings_validation() -> None:
    with pytest.raises(ValidationError):
        EncryptionSettings(kms_context_keys=("tenant", "region"))  # KMS keys must be required keys
    with pytest.raises(ValidationError):
        Limit(requests=0, period_seconds=1)
    assert Limit(requests=10, period_seconds=1).capacity == 10
    assert Limit(requests=10, period_seconds=1, burst=3).capacity == 3


def test_code_helpers() -> None:
    recovery = codes.new_recovery_codes(20)
    assert len(set(recovery)) == 20 and all(len(c) == 11 and c[5] == "-" for c in recovery)
    assert codes.normalize_recovery_code(" abcde-fghjk ") == "ABCDEFGHJK"
    assert len(codes.new_one_time_code(8)) == 8
    a = codes.code_hash(b"pepper", "email", "u1", "123456")
    assert a != codes.code_hash(b"pepper", "email", "u2", "123456")
    assert a != codes.code_hash(b"other", "email", "u1", "123456")
    otp = codes.totp(codes.new_totp_secret(), digits=6, period=30)
    assert codes.matching_step(otp, "12345", at=1e9, window=1) is None  # wrong length never matches
    assert codes.matching_step(otp, otp.at(1e9), at=1e9, window=1) == int(1e9 // 30)
