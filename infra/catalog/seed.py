"""Synthetic catalog data, generated fast with COPY: titles (movies, series and their episodes) with
regional availability, renditions as the HLS packager writes them, and their segments. The default size
(25,000 titles x 2 renditions x 20 segments) is 1,000,000 segment rows: the size the plan tests and the
benchmark need. Deterministic for a given seed, so two runs build the same catalog."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

WORDS = [
    "amber",
    "arctic",
    "atlas",
    "autumn",
    "beacon",
    "bishop",
    "blaze",
    "canyon",
    "cedar",
    "cipher",
    "cobalt",
    "comet",
    "coral",
    "crimson",
    "crown",
    "delta",
    "desert",
    "drift",
    "echo",
    "ember",
    "falcon",
    "fjord",
    "forest",
    "frost",
    "galaxy",
    "garden",
    "ghost",
    "glacier",
    "granite",
    "harbor",
    "harvest",
    "hollow",
    "horizon",
    "island",
    "ivory",
    "jade",
    "jungle",
    "keeper",
    "lantern",
    "legend",
    "lotus",
    "lunar",
    "marble",
    "meadow",
    "mirror",
    "monsoon",
    "mosaic",
    "nebula",
    "nomad",
    "north",
    "oasis",
    "ocean",
    "onyx",
    "orbit",
    "phantom",
    "pioneer",
    "prairie",
    "quartz",
    "quest",
    "raven",
    "reef",
    "river",
    "rogue",
    "saga",
    "sapphire",
    "shadow",
    "signal",
    "silver",
    "sky",
    "solstice",
    "spire",
    "storm",
    "summit",
    "tempest",
    "thunder",
    "tide",
    "timber",
    "torch",
    "tundra",
    "valley",
    "velvet",
    "voyage",
    "willow",
    "winter",
    "wolf",
    "zenith",
]
RENDITIONS = (  # name, bandwidth, resolution, codecs: what tests/media.py's ffmpeg ladder writes
    ("360p", 800_000, "640x360", "avc1.64001e,mp4a.40.2"),
    ("720p", 2_800_000, "1280x720", "avc1.64001f,mp4a.40.2"),
    ("1080p", 5_000_000, "1920x1080", "avc1.640028,mp4a.40.2"),
)


@dataclass(frozen=True)
class SeedSize:
    titles: int = 25_000
    renditions: int = 2  # per title (1..3)
    segments: int = 20  # per rendition
    series_every: int = 50  # one title in N is a series whose episodes are further titles

    @property
    def segment_rows(self) -> int:
        return self.titles * self.renditions * self.segments


@dataclass(frozen=True)
class Seeded:
    titles: int
    renditions: int
    segments: int


def _title_rows(size: SeedSize, regions: Sequence[str], rng: random.Random) -> Iterator[tuple[str, ...]]:
    """(id, slug, name, kind, year, parent_id, season, episode) for every title; series first, then
    their episodes point at them."""
    series_id = 0
    episode = 0
    for i in range(1, size.titles + 1):
        name = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(1, 3)))
        year = str(rng.randint(1950, 2026))
        if i % size.series_every == 1:
            series_id, episode = i, 0
            yield (str(i), f"s{i:07d}", name, "series", year, r"\N", r"\N", r"\N")
        elif series_id and episode < 12 and i % size.series_every <= 13:
            episode += 1
            season = 1 + (episode - 1) // 6
            yield (str(i), f"e{i:07d}", f"{name} {episode}", "episode", year, str(series_id), str(season),
                   str(episode))  # fmt: skip
        else:
            yield (str(i), f"m{i:07d}", name, "movie", year, r"\N", r"\N", r"\N")


def _copy_lines(rows: Iterator[Sequence[str]]) -> Iterator[bytes]:
    block: list[str] = []
    for row in rows:
        block.append("\t".join(row))
        if len(block) >= 5000:
            yield ("\n".join(block) + "\n").encode()
            block = []
    if block:
        yield ("\n".join(block) + "\n").encode()


def seed(conninfo: str, regions: Sequence[str], size: SeedSize = SeedSize(), *, seed: int = 19) -> Seeded:
    """Fill an empty, migrated catalog (`conninfo`: a libpq URL or keyword string, password included)."""
    import psycopg

    if not 1 <= size.renditions <= len(RENDITIONS):
        raise ValueError(f"renditions per title must be 1..{len(RENDITIONS)}")
    rng = random.Random(seed)
    with psycopg.connect(conninfo, autocommit=False) as conn:
        cur = conn.cursor()
        with cur.copy(
            "COPY titles (id, slug, name, kind, release_year, parent_id, season, episode) FROM STDIN"
        ) as copy:
            for block in _copy_lines(_title_rows(size, regions, rng)):
                copy.write(block)

        def availability() -> Iterator[tuple[str, ...]]:
            for i in range(1, size.titles + 1):
                for j, region in enumerate(regions):
                    if j == 0 or (i + j) % 7:  # most titles everywhere, some only in the first region
                        yield (str(i), region)

        with cur.copy("COPY availability (title_id, region) FROM STDIN") as copy:
            for block in _copy_lines(availability()):
                copy.write(block)

        def renditions() -> Iterator[tuple[str, ...]]:
            for i in range(1, size.titles + 1):
                for k in range(size.renditions):
                    name, bandwidth, resolution, codecs = RENDITIONS[k]
                    rid = (i - 1) * size.renditions + k + 1
                    yield (str(rid), str(i), name, "ts", str(bandwidth), resolution, codecs, "4",
                           str(size.segments))  # fmt: skip

        with cur.copy(
            "COPY renditions (id, title_id, name, container, bandwidth, resolution, codecs, "
            "target_duration, segment_count) FROM STDIN"
        ) as copy:
            for block in _copy_lines(renditions()):
                copy.write(block)

        def segments() -> Iterator[tuple[str, ...]]:
            sha = hashlib.sha256
            for rid in range(1, size.titles * size.renditions + 1):
                base = rid * 7919
                for seq in range(size.segments):
                    digest = sha(b"%d/%d" % (rid, seq)).hexdigest()
                    yield (str(rid), str(seq), "4000", str(180_000 + (base + seq) % 90_000), "\\\\x" + digest)

        with cur.copy(
            "COPY segments (rendition_id, seq, duration_ms, size_bytes, sha256) FROM STDIN"
        ) as copy:
            for block in _copy_lines(segments()):
                copy.write(block)
        for table in ("titles", "renditions"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        conn.commit()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")  # also moves GIN entries out of the pending list
    return Seeded(size.titles, size.titles * size.renditions, size.segment_rows)
