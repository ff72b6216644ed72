"""Prepare a PostgreSQL server for Focus Hub: database, schema, login role.

The server logs in as ``focushub_app``: LOGIN, NOINHERIT, no BYPASSRLS, member of
``anon``, ``authenticated`` and ``service_role``. NOINHERIT means the login role
can do nothing until a transaction switches to one of those roles, so a code path
that forgets the switch fails closed instead of running with broad rights.
Migrations run as the schema owner (the embedded server's ``postgres``, or
``FOCUSHUB_MIGRATION_DATABASE_URL``).
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

APP_LOGIN_ROLE = "focushub_app"


def with_parts(url: str, *, user: str | None = None, database: str | None = None) -> str:
    """Return ``url`` with another user and/or database; query parameters are kept."""
    parsed = make_url(url)
    if user is not None:
        parsed = parsed.set(username=user, password=None)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def _connect(url: str) -> asyncpg.Connection:
    # No named statements: the URL may name a transaction pooler (docs/deployment.md).
    return await asyncpg.connect(with_parts(url), statement_cache_size=0)


async def ensure_database(server_url: str, name: str) -> bool:
    """Create database ``name`` on the server of ``server_url`` unless it exists. True if created."""
    conn = await _connect(with_parts(server_url, database="postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    conn = await _connect(with_parts(server_url, database="postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def ensure_login_role(owner_url: str, role: str = APP_LOGIN_ROLE) -> None:
    """Create the server's login role if missing and let it switch to the API roles.

    Precondition: migrations have run (they create ``anon``/``authenticated``/``service_role``).
    """
    conn = await _connect(owner_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            await conn.execute(f'CREATE ROLE "{role}" LOGIN NOINHERIT NOBYPASSRLS')
        await conn.execute(f'GRANT anon, authenticated, service_role TO "{role}"')
    finally:
        await conn.close()


async def role_bypasses_rls(url: str) -> bool:
    """True if the login role of ``url`` is a superuser or has BYPASSRLS (unsafe for serving)."""
    conn = await _connect(url)
    try:
        return bool(
            await conn.fetchval(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
        )
    finally:
        await conn.close()


async def ensure_api_role_membership(url: str) -> None:
    """Make the login role of ``url`` able to switch to the API roles (external databases).

    Where it lacks the right to grant, the first request fails with a clear
    permission error; the operator grants ``anon, authenticated, service_role``.
    """
    conn = await _connect(url)
    try:
        missing = await conn.fetchval(
            "SELECT count(*) FROM unnest(ARRAY['anon','authenticated','service_role']) r"
            " WHERE NOT pg_has_role(current_user, r, 'MEMBER')"
        )
        if missing:
            await conn.execute("GRANT anon, authenticated, service_role TO CURRENT_USER")
    finally:
        await conn.close()
