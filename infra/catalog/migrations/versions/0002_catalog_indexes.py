"""The hot paths' secondary indexes, built CONCURRENTLY (no write lock on a populated catalog; outside a
transaction, so each runs in alembic's autocommit block). IF NOT EXISTS: a build interrupted by a timeout
leaves an INVALID index, which the re-run drops first (`DROP INDEX CONCURRENTLY IF EXISTS` of an invalid
one only) — see `infra.catalog.migrate.drop_invalid_indexes`.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    # keyset pagination of the title list: ORDER BY name, slug; WHERE (name, slug) > cursor
    "titles_name_slug": "titles (name, slug)",
    # the other words of a multi-word search, probed per candidate title
    "title_words_title": "title_words (title_id, term)",
    # a series' episodes in order
    "titles_parent_episode": "titles (parent_id, season, episode)",
    # titles available in a region (the reverse of availability's primary key)
    "availability_region": "availability (region, title_id)",
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, definition in INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
