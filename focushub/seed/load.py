"""Load a generated data set with COPY, as the schema owner, in one transaction.

Rows are generated while they are copied: each COPY consumes the chunks of
:meth:`focushub.seed.generate.Dataset.chunks` as they are made, so the Python
process holds only the data set's plan and one chunk (its peak memory grows
by a few bytes per row of the plan, not with the rows), and generation overlaps
the server's work.

The load runs with ``session_replication_role = replica``: no trigger fires
(counters, notifications, foreign-key checks), which is safe because the
generator writes consistent rows and computes every counter itself. The
secondary indexes of the loaded tables (not those backing primary keys or
unique constraints) are dropped first and rebuilt from their own definitions
(``pg_get_indexdef``) after the COPYs, inside the same transaction, so a failed
load leaves the schema as it was. ANALYZE follows the commit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from focushub.seed.generate import COLUMNS, counts_for, generate

log = logging.getLogger("focushub.seed")

# Every seeded account logs in with this password (one argon2 hash shared by all).
SEED_PASSWORD = "focushub-seed-password"

# Parents before children (no FK is checked during the load, but this keeps it readable).
LOAD_ORDER = ("users", "focushub_auth.credentials", "followers", "posts", "comments", "questions",
              "answers", "ai_answers", "resources", "votes", "question_views")


class SeedError(RuntimeError):
    pass


@dataclass
class SeedReport:
    scale: float
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    mismatches: dict[str, int] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


_SECONDARY_INDEXES = """
SELECT format('%I.%I', n.nspname, ic.relname) AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE n.nspname || '.' || c.relname = ANY($1::text[])
  AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY 1
"""

# Rows whose stored counter differs from a recount, per counter. All zero after a seed.
RECOUNT_SQL = """
WITH v AS (
    SELECT votable_type, votable_id,
           sum(CASE vote_type WHEN 'upvote' THEN 1 ELSE -1 END)::int AS score
    FROM votes GROUP BY 1, 2
)
SELECT
  (SELECT count(*) FROM posts p LEFT JOIN v ON v.votable_type = 'post' AND v.votable_id = p.id
    WHERE p.likes_count <> coalesce(v.score, 0)) AS posts_likes_count,
  (SELECT count(*) FROM posts p LEFT JOIN (SELECT post_id, count(*) n FROM comments GROUP BY 1) c
    ON c.post_id = p.id WHERE p.comments_count <> coalesce(c.n, 0)) AS posts_comments_count,
  (SELECT count(*) FROM comments p LEFT JOIN v ON v.votable_type = 'comment' AND v.votable_id = p.id
    WHERE p.likes_count <> coalesce(v.score, 0)) AS comments_likes_count,
  (SELECT count(*) FROM comments p LEFT JOIN (SELECT parent_id, count(*) n FROM comments
    WHERE parent_id IS NOT NULL GROUP BY 1) r ON r.parent_id = p.id
    WHERE p.replies_count <> coalesce(r.n, 0)) AS comments_replies_count,
  (SELECT count(*) FROM questions p LEFT JOIN v ON v.votable_type = 'question' AND v.votable_id = p.id
    WHERE p.votes_count <> coalesce(v.score, 0)) AS questions_votes_count,
  (SELECT count(*) FROM questions p LEFT JOIN (SELECT question_id, count(*) n FROM answers GROUP BY 1) a
    ON a.question_id = p.id WHERE p.answers_count <> coalesce(a.n, 0)) AS questions_answers_count,
  (SELECT count(*) FROM questions p LEFT JOIN (SELECT question_id, count(*) n FROM question_views
    GROUP BY 1) w ON w.question_id = p.id
    WHERE p.views_count <> coalesce(w.n, 0)) AS questions_views_count,
  (SELECT count(*) FROM answers p LEFT JOIN v ON v.votable_type = 'answer' AND v.votable_id = p.id
    WHERE p.votes_count <> coalesce(v.score, 0)) AS answers_votes_count,
  (SELECT count(*) FROM questions q WHERE (q.status = 'answered') <> EXISTS
    (SELECT 1 FROM answers a WHERE a.question_id = q.id AND a.is_accepted)
    AND q.status <> 'closed') AS questions_status
"""


async def recount_mismatches(conn: asyncpg.Connection) -> dict[str, int]:
    """Per counter, how many rows disagree with a recount (the schema owner bypasses RLS)."""
    return dict(await conn.fetchrow(RECOUNT_SQL))


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema or "public", name


async def seed_database(
    owner_url: str, *, scale: float, seed: int = 42, reset: bool = False, check: bool = True,
    password_hash: str | None = None,
) -> SeedReport:
    """Fill the database at ``owner_url`` (the schema owner, migrated to head).

    Refuses a database that already has users unless ``reset``, which first
    empties every content table (``TRUNCATE users CASCADE``).
    """
    if scale <= 0:
        raise SeedError("scale must be positive")
    report = SeedReport(scale=scale, seed=seed)
    if password_hash is None:
        from focushub.core.security import hash_password

        password_hash = hash_password(SEED_PASSWORD)
    t0 = time.perf_counter()
    anchor = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    log.info("planning scale %s (seed %s)", scale, seed)
    data = generate(scale, seed, anchor, password_hash)
    report.seconds["plan"] = time.perf_counter() - t0
    log.info("planned in %.1fs", report.seconds["plan"])

    conn = await asyncpg.connect(owner_url)
    try:
        existing = await conn.fetchval("SELECT count(*) FROM public.users")
        if existing and not reset:
            raise SeedError(
                f"the database already has {existing} users; pass --reset to replace all content"
            )
        t0 = time.perf_counter()
        async with conn.transaction():
            if existing:
                await conn.execute("TRUNCATE public.users CASCADE")
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            qualified = [".".join(_split(t)) for t in LOAD_ORDER]
            indexes = await conn.fetch(_SECONDARY_INDEXES, qualified)
            for ix in indexes:
                await conn.execute(f"DROP INDEX {ix['name']}")
            for table in LOAD_ORDER:
                started = time.perf_counter()
                schema, name = _split(table)
                await conn.copy_records_to_table(
                    name, schema_name=schema, columns=list(COLUMNS[table]),
                    records=data.records(table),
                )
                report.rows[table] = data.rows[table]
                report.seconds[f"copy {table}"] = time.perf_counter() - started
                log.info("generated and copied %s rows into %s in %.1fs", data.rows[table], table,
                         report.seconds[f"copy {table}"])
            del data
            started = time.perf_counter()
            for ix in indexes:
                await conn.execute(ix["def"])
            report.seconds["indexes"] = time.perf_counter() - started
            log.info("rebuilt %d indexes in %.1fs", len(indexes), report.seconds["indexes"])
        started = time.perf_counter()
        await conn.execute("ANALYZE")
        report.seconds["analyze"] = time.perf_counter() - started
        if check:
            started = time.perf_counter()
            report.mismatches = await recount_mismatches(conn)
            report.seconds["check"] = time.perf_counter() - started
    finally:
        await conn.close()
    return report


def expected_counts(scale: float) -> dict[str, Any]:
    return counts_for(scale)
