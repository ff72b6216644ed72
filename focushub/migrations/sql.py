"""Run a multi-statement SQL script inside the current Alembic migration.

asyncpg prepares every statement it is given through SQLAlchemy, which rejects
scripts; its own ``execute`` without arguments uses the simple query protocol,
which accepts them. Migrations run inside SQLAlchemy's greenlet bridge, so the
coroutine is awaited with ``await_only``. Migrations import nothing else from
the application.
"""

from alembic import op
from sqlalchemy.util import await_only


def run_sql(script: str) -> None:
    raw = op.get_bind().connection.driver_connection
    await_only(raw.execute(script))
