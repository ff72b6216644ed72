"""Count the SQL statements an engine executes, to pin hot endpoints to a fixed number."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.core.db import observe_statements


class QueryLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_queries(engine: AsyncEngine) -> Iterator[QueryLog]:
    """Record every statement sent through ``engine`` inside the block, and every statement
    of a direct transaction (``focushub.core.db.direct_transaction``, the hot paths).

    The role/claims ``set_config`` statement of each transaction is counted too, so a
    request with one transaction and two queries counts 3.
    """
    log = QueryLog()

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        log.statements.append(statement)

    def direct(statement: str, args: list[object]) -> None:
        log.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        with observe_statements(direct):
            yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
