"""Alembic environment: always online, asyncpg, one transaction per run."""

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config


# Runs that start together (`focushub serve` on several hosts, the systemd unit's
# ExecStartPre) take turns on this key: the next one reads the version after the first
# committed and finds nothing left to do, where both had created the same objects and all
# but one failed. Transaction-scoped, like every lock of the server's.
_MIGRATION_LOCK = 0x466F6375734D


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


asyncio.run(_main())
