"""The database's own health, for ``focushub db-stats``: the seed's monitoring queries, corrected.

Read as the schema owner (the migration URL): statistics views show other sessions'
queries only to privileged roles. ``pg_stat_statements`` is used where the extension
is installed; where it is not, the report says so instead of failing.
"""

from __future__ import annotations

from typing import Any

import asyncpg

QUERIES: dict[str, str] = {
    "tables": """
        SELECT relname AS table, pg_size_pretty(pg_total_relation_size(relid)) AS total,
               pg_size_pretty(pg_relation_size(relid)) AS heap, n_live_tup AS rows,
               n_dead_tup AS dead_rows
        FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC LIMIT 15""",
    "unused_indexes": """
        SELECT s.relname AS table, s.indexrelname AS index,
               pg_size_pretty(pg_relation_size(s.indexrelid)) AS size
        FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
        ORDER BY pg_relation_size(s.indexrelid) DESC LIMIT 15""",
    "cache": """
        SELECT round(100.0 * sum(heap_blks_hit) / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0), 2)
                   AS table_hit_percent,
               round(100.0 * sum(idx_blks_hit) / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0), 2)
                   AS index_hit_percent
        FROM pg_statio_user_tables""",
    "connections": """
        SELECT coalesce(application_name, '') AS application, state, count(*) AS connections
        FROM pg_stat_activity WHERE datname = current_database()
        GROUP BY 1, 2 ORDER BY 3 DESC""",
    "long_transactions": """
        SELECT pid, coalesce(application_name, '') AS application, state,
               round(extract(epoch FROM now() - xact_start)::numeric, 1) AS seconds,
               left(query, 80) AS query
        FROM pg_stat_activity
        WHERE datname = current_database() AND xact_start < now() - interval '1 minute'
        ORDER BY xact_start LIMIT 10""",
    "bloat": """
        SELECT relname AS table, n_dead_tup AS dead_rows, n_live_tup AS live_rows,
               round(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0), 1) AS dead_percent,
               last_autovacuum
        FROM pg_stat_user_tables WHERE n_dead_tup > 0
        ORDER BY n_dead_tup DESC LIMIT 10""",
}

SLOWEST = """
    SELECT left(query, 80) AS query, calls, round(mean_exec_time::numeric, 2) AS mean_ms,
           round(total_exec_time::numeric, 0) AS total_ms
    FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10"""


async def collect(owner_url: str) -> dict[str, Any]:
    """Each report as a list of rows; ``slowest_statements`` is a note when the extension
    is not installed."""
    conn = await asyncpg.connect(owner_url)
    try:
        report: dict[str, Any] = {}
        for name, sql in QUERIES.items():
            report[name] = [dict(r) for r in await conn.fetch(sql)]
        has_extension = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')")
        if has_extension:
            try:
                report["slowest_statements"] = [dict(r) for r in await conn.fetch(SLOWEST)]
            except asyncpg.PostgresError as exc:  # installed but not preloaded
                report["slowest_statements"] = f"pg_stat_statements is not readable: {exc}"
        else:
            report["slowest_statements"] = (
                "pg_stat_statements is not installed: add it to shared_preload_libraries "
                "and CREATE EXTENSION pg_stat_statements to see the slowest statements")
        return report
    finally:
        await conn.close()
