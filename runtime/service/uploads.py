"""Admin uploads in the HLS scheme: one object, or a whole rendition set (a tar of `master.m3u8`,
`<rendition>/index.m3u8` and their segments) in one request.

Nothing a player would choke on is stored: segments must be the container their extension says, playlists
must parse (a variant needs BANDWIDTH and CODECS), and every object a playlist names must be stored already
or come in the same set. A set is written segments first, then media playlists, then the master, so a
viewer never gets a playlist naming an object that is not there yet."""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from runtime.service import containers, hls
from runtime.service.content import (
    INDEX,
    MEDIA_TYPES,
    ContentPath,
    ContentService,
    Role,
    Stored,
    parse_path,
)
from runtime.service.errors import ContentError

MAX_SET_MEMBERS = 20_000
_CONCURRENCY = 8  # origin writes (and their purges) in flight per set
_ORDER = {Role.TS: 0, Role.M4S: 0, Role.INIT: 0, Role.PLAYLIST: 1, Role.MASTER: 2}


class UploadError(ContentError):
    """An upload refused as it is (answer 422 with the message)."""


class MissingReferenceError(ContentError):
    """A playlist names objects that are neither stored nor uploaded with it (answer 409)."""


@dataclass(frozen=True)
class Upload:
    path: ContentPath
    body: bytes

    @property
    def content_type(self) -> str:
        return MEDIA_TYPES[self.path.role]


def check(upload: Upload) -> list[ContentPath]:
    """Raise if `upload` is not what its name says; return the objects it names (playlists)."""
    path, body = upload.path, upload.body
    what = path.key.removeprefix("v1/content/")
    role = path.role
    if role is Role.TS:
        containers.check_ts(body, what)
    elif role is Role.M4S:
        containers.check_m4s(body, what)
    elif role is Role.INIT:
        containers.check_init(body, what)
    elif role is Role.PLAYLIST:
        media = hls.parse_media(body, what)
        base = f"/v1/content/{path.content_id}/{path.rendition}/"
        return [_named(base + name) for name in media.names]
    elif role is Role.MASTER:
        master = hls.parse_master(body, what)
        base = f"/v1/content/{path.content_id}/"
        return [_named(f"{base}{r}/{INDEX}") for r in master.renditions]
    else:
        raise UploadError(f"{what}: the first scheme's objects are uploaded one by one, not in a set")
    return []


def _named(path: str) -> ContentPath:
    found = parse_path(path)
    if found is None:  # the playlist parsers only return names of the scheme
        raise UploadError(f"{path} is not a content path")
    return found


async def _missing(
    wanted: Iterable[ContentPath], exists: Callable[[ContentPath], Awaitable[bool]]
) -> list[str]:
    paths = list({p.key: p for p in wanted}.values())
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def probe(path: ContentPath) -> bool:
        async with limit:
            return await exists(path)

    found = await asyncio.gather(*(probe(p) for p in paths))
    return [p.key.removeprefix("v1/content/") for p, ok in zip(paths, found, strict=True) if not ok]


def _refuse_missing(missing: list[str], named_by: str) -> None:
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise MissingReferenceError(
            f"{named_by} names {shown}, which {'is' if len(missing) == 1 else 'are'} not stored: "
            "upload segments before the playlists that name them (or send them together as a set)"
        )


async def store_one(content: ContentService, upload: Upload) -> Stored:
    """Check and store one object of the HLS scheme."""
    named = check(upload)
    _refuse_missing(await _missing(named, content.exists), upload.path.key.removeprefix("v1/content/"))
    return await content.put(upload.path, upload.body, upload.content_type)


def read_set(content_id: str, archive: bytes) -> list[Upload]:
    """The members of a tar archive as uploads of title `content_id` (names relative to the title)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            return _members(content_id, tar)
    except (tarfile.TarError, EOFError, ValueError) as exc:
        raise UploadError(f"not a tar archive (send an uncompressed tar, application/x-tar): {exc}") from None


def _members(content_id: str, tar: tarfile.TarFile) -> list[Upload]:
    members = tar.getmembers()
    if len(members) > MAX_SET_MEMBERS:
        raise UploadError(f"the set has {len(members)} members; at most {MAX_SET_MEMBERS}")
    uploads: dict[str, Upload] = {}
    for member in members:
        name = member.name.removeprefix("./")
        if member.isdir() or name in ("", "."):
            continue
        if not member.isreg():
            raise UploadError(f"{name}: only regular files belong in a rendition set")
        path = parse_path(f"/v1/content/{content_id}/{name}")
        if path is None or path.role not in _ORDER:
            raise UploadError(
                f"{name}: not part of a rendition set (master.m3u8, <rendition>/index.m3u8, "
                "<rendition>/<n>.ts, <rendition>/<n>.m4s, <rendition>/init.mp4)"
            )
        if path.key in uploads:
            raise UploadError(f"{name}: appears twice in the archive")
        extracted = tar.extractfile(member)
        body = extracted.read() if extracted is not None else None
        if body is None or len(body) != member.size:
            raise UploadError(f"{name}: truncated in the archive")
        uploads[path.key] = Upload(path, body)
    if not uploads:
        raise UploadError("the archive holds no file of a rendition set")
    return list(uploads.values())


async def store_set(content: ContentService, uploads: Sequence[Upload]) -> list[Stored]:
    """Check every member and every reference, then store in dependency order."""
    inside = {u.path.key for u in uploads}
    named: list[tuple[str, ContentPath]] = []
    for upload in uploads:
        named += [(upload.path.key, p) for p in check(upload) if p.key not in inside]
    for parent in dict.fromkeys(parent for parent, _ in named):
        missing = await _missing([p for k, p in named if k == parent], content.exists)
        _refuse_missing(missing, parent.removeprefix("v1/content/"))
    stored: list[Stored] = []
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def put(upload: Upload) -> Stored:
        async with limit:
            return await content.put(upload.path, upload.body, upload.content_type)

    for stage in sorted(set(_ORDER.values())):
        batch = [u for u in uploads if _ORDER[u.path.role] == stage]
        stored += await asyncio.gather(*(put(u) for u in batch))
    return stored
