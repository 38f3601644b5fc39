"""A Redis Lua script run by EVALSHA: the SHA is computed locally once; the source is sent (SCRIPT LOAD) only
when the server answers NOSCRIPT (first use, restart, failover, SCRIPT FLUSH)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    @classmethod
    def from_package(cls, package: str, name: str) -> LuaScript:
        """Load `name` shipped next to the modules of `package` (pyproject packages `*.lua`)."""
        return cls(resources.files(package).joinpath(name).read_text(encoding="utf-8"))

    async def run(self, client: aioredis.Redis, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)
