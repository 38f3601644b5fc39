"""The content catalog's database: migrations (alembic), the seed generator, the PostgreSQL servers of the
local platform and the tests, and the `streamgate catalog` commands."""
