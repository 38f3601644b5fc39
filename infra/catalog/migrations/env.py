"""alembic's environment: online (a connection from `infra.catalog.migrate`) or offline (`--sql`, the text
squawk lints). Every migration waits at most `lock_timeout` for a lock: behind a long transaction it fails
fast instead of queueing every reader behind its own ACCESS EXCLUSIVE request."""

from __future__ import annotations

from alembic import context

LOCK_TIMEOUT = "2s"
STATEMENT_TIMEOUT = "15min"  # index builds on a large table (CONCURRENTLY) take minutes, not hours


def run() -> None:
    if context.is_offline_mode():
        context.configure(url="postgresql://", literal_binds=True, transaction_per_migration=True)
        with context.begin_transaction():
            context.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            context.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
            context.run_migrations()
        return
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, transaction_per_migration=True)
    connection.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    connection.exec_driver_sql(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
    connection.commit()  # session settings stay; alembic then owns the transactions (autocommit blocks)
    with context.begin_transaction():
        context.run_migrations()


run()
