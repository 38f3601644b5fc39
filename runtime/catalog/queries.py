"""The catalog's SQL, in one place: the repository runs these, and the plan tests and the benchmark
EXPLAIN exactly these texts (a query changed here is re-checked there).

Hot reads are one statement each, whatever the answer's size: a title's renditions and regions come back
aggregated as JSON beside it, never as one query per rendition (no N+1). Lists page by keyset on
`(name, slug)` (the index `titles_name_slug`), never by OFFSET: page 1000 costs what page 1 costs.
Search pages the same way, per word (`title_words`). `$region` checks are against `availability`, whose primary key `(title_id, region)` answers them."""

from __future__ import annotations

# A title is available in a region while now() is inside its window.
_AVAILABLE = """EXISTS (SELECT 1 FROM availability a WHERE a.title_id = t.id AND a.region = {region}
        AND a.starts_at <= now() AND (a.ends_at IS NULL OR a.ends_at > now()))"""

# $1 region, $2/$3 the last (name, slug) seen ('' and '' for the first page), $4 limit (page size + 1).
LIST_TITLES = f"""
SELECT t.slug, t.name, t.kind, t.release_year, t.version
FROM titles t
WHERE (t.name, t.slug) > ($2::text, $3::text) AND {_AVAILABLE.format(region="$1")}
ORDER BY t.name, t.slug
LIMIT $4"""

# $1 region, $2 the search text, $3/$4 cursor, $5 limit. Every word must be in the name (words as
# to_tsvector('simple') splits them). The longest word drives (the rarest, as a rule): its range of
# `title_words_pkey` in name order; the others are probed per candidate (`title_words_title`).
SEARCH_TITLES = f"""
WITH q AS MATERIALIZED (
  SELECT array_agg(w.lexeme ORDER BY length(w.lexeme) DESC, w.lexeme) AS words
  FROM unnest(to_tsvector('simple', $2)) AS w
)
SELECT t.slug, t.name, t.kind, t.release_year, t.version
FROM title_words w JOIN titles t ON t.id = w.title_id
WHERE w.term = (SELECT q.words[1] FROM q) AND (w.name, w.slug) > ($3::text, $4::text)
  AND ((SELECT cardinality(q.words) FROM q) = 1
       OR NOT EXISTS (SELECT 1 FROM unnest((SELECT q.words[2:] FROM q)) AS o(term)
                      WHERE NOT EXISTS (SELECT 1 FROM title_words x WHERE x.title_id = w.title_id
                                        AND x.term = o.term)))
  AND {_AVAILABLE.format(region="$1")}
ORDER BY w.name, w.slug
LIMIT $5"""

# $1 slug, $2 region: the title, its renditions and its regions in one row.
TITLE_DETAIL = f"""
SELECT t.slug, t.name, t.kind, t.release_year, t.description, t.version, p.slug AS parent, t.season,
  t.episode,
  COALESCE((SELECT json_agg(json_build_object(
      'name', r.name, 'container', r.container, 'bandwidth', r.bandwidth, 'resolution', r.resolution,
      'codecs', r.codecs, 'target_duration', r.target_duration, 'segment_count', r.segment_count)
    ORDER BY r.bandwidth, r.name) FROM renditions r WHERE r.title_id = t.id), '[]')::text AS renditions,
  COALESCE((SELECT json_agg(a.region ORDER BY a.region) FROM availability a WHERE a.title_id = t.id
    AND a.starts_at <= now() AND (a.ends_at IS NULL OR a.ends_at > now())), '[]')::text AS regions,
  {_AVAILABLE.format(region="$2")} AS available
FROM titles t LEFT JOIN titles p ON p.id = t.parent_id
WHERE t.slug = $1"""

# $1 slug, $2 rendition, $3 segment number, $4 region: what the content path needs of one segment.
SEGMENT = f"""
SELECT s.seq, s.duration_ms, s.size_bytes, encode(s.sha256, 'hex') AS sha256, r.container,
  {_AVAILABLE.format(region="$4")} AS available
FROM titles t
JOIN renditions r ON r.title_id = t.id AND r.name = $2
JOIN segments s ON s.rendition_id = r.id AND s.seq = $3
WHERE t.slug = $1"""

# $1 parent slug, $2/$3 the last (season, episode) seen (-1, -1 first), $4 limit: a series' episodes.
EPISODES = """
SELECT t.slug, t.name, t.kind, t.release_year, t.version, t.season, t.episode
FROM titles p JOIN titles t ON t.parent_id = p.id
WHERE p.slug = $1 AND (t.season, t.episode) > ($2::int, $3::int)
ORDER BY t.season, t.episode
LIMIT $4"""

# The hot reads, by name, with example arguments for EXPLAIN (tests, benchmark).
HOT = {
    "list_titles": LIST_TITLES,
    "search_titles": SEARCH_TITLES,
    "title_detail": TITLE_DETAIL,
    "segment": SEGMENT,
    "episodes": EPISODES,
}

# -- writes (admin) ---------------------------------------------------------------------------------------

UPSERT_TITLE = """
INSERT INTO titles (slug, name, kind, release_year, description, parent_id, season, episode)
VALUES ($1, $2, $3, $4, $5, (SELECT id FROM titles WHERE slug = $6), $7, $8)
ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
  release_year = EXCLUDED.release_year, description = EXCLUDED.description,
  parent_id = EXCLUDED.parent_id, season = EXCLUDED.season, episode = EXCLUDED.episode,
  version = titles.version + 1, updated_at = now()
WHERE $9::bigint IS NULL OR titles.version = $9
RETURNING id, version, (xmax = 0) AS created"""

TITLE_ID = "SELECT id, version, name FROM titles WHERE slug = $1"
DELETE_AVAILABILITY = "DELETE FROM availability WHERE title_id = $1"
INSERT_AVAILABILITY = """
INSERT INTO availability (title_id, region, starts_at, ends_at) VALUES ($1, $2, COALESCE($3, now()), $4)"""
DELETE_TITLE = "DELETE FROM titles WHERE slug = $1 RETURNING id"
BUMP_TITLE = "UPDATE titles SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version"

UPSERT_RENDITION = """
INSERT INTO renditions (title_id, name, container, bandwidth, resolution, codecs, target_duration,
  segment_count)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (title_id, name) DO UPDATE SET container = EXCLUDED.container, bandwidth = EXCLUDED.bandwidth,
  resolution = EXCLUDED.resolution, codecs = EXCLUDED.codecs, target_duration = EXCLUDED.target_duration,
  segment_count = EXCLUDED.segment_count
RETURNING id"""
DELETE_SEGMENTS = "DELETE FROM segments WHERE rendition_id = $1"

# The position a write reached on the primary (read-your-writes: replicas are compared with it).
CURRENT_LSN = "SELECT pg_current_wal_lsn()::text"
# On a replica: how far it has replayed, and how old the last replayed transaction is (0 when caught up).
REPLICA_STATE = """
SELECT pg_is_in_recovery() AS recovery, COALESCE(pg_last_wal_replay_lsn(), '0/0')::text AS replayed,
  CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9) END::float8 AS lag"""


def lsn(text: str) -> int:
    """A pg_lsn (`16/B374D848`) as an integer, to compare positions."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
