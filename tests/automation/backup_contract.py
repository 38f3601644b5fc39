"""The contract every target's backups pass (`Target.backup`, `Target.bucket`): what is in the region's
content bucket is stored encrypted, listed as complete, verified clean, and restored byte-identical into
another bucket of the target.

Shared by the targets' own tests, which bring the platform (tests/automation/test_backup_local.py: the
local platform; test_cloud_outputs.py: a cloud stack deployed into moto and found through its outputs)."""

from __future__ import annotations

import os
import uuid

from infra.automation.backup.backups import CONTENT, Backups
from infra.automation.backup.model import data_key
from infra.automation.targets import Target


async def check_backup_target(target: Target, region: str) -> None:
    source = target.backup(region, redis=False)
    assert source.content is not None, "a target backs up its content bucket"
    prefix = f"contract-{uuid.uuid4().hex[:8]}/"
    objects = {f"{prefix}manifest": b"#EXTM3U\n", f"{prefix}segments/0": os.urandom(70_000)}
    for key, body in objects.items():
        await source.content.put(key, body)
    try:
        backups = Backups(source)
        manifest = await backups.create()
        stored = {e.key.removeprefix(CONTENT): e for e in manifest.entries}
        assert set(objects) <= set(stored)
        for key, body in objects.items():
            sealed = await source.backup.get(data_key(manifest.backup_id, CONTENT + key))
            assert body not in sealed and stored[key].size == len(body)  # encrypted at rest
        listed = {b.backup_id: b for b in await backups.list()}
        assert listed[manifest.backup_id].complete
        assert (await backups.verify(manifest.backup_id)).problems == []

        restored = target.bucket(f"restored-{uuid.uuid4().hex[:8]}", region)
        await restored.ensure_bucket()
        result = await backups.restore(manifest.backup_id, to=restored)
        assert result.problems == []
        for key, body in objects.items():
            assert await restored.get(key) == body
    finally:  # the platform is left as it was found
        await source.content.delete_many(list(objects))
