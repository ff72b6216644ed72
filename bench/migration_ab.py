"""What a migration costs an endpoint's statements, measured in PostgreSQL, old and new in turn.

    .venv/bin/python bench/migration_ab.py --endpoint question \\
        --revisions 0045_notifications_subjects,0046_answers_follow_question \\
        [--rounds 3] [-n 3000] [--busiest 8] [--data-dir bench/results/pgdata]

Replays the statements the last ``bench/run`` captured for ``--endpoint``
(``bench/results/captured-sql.json``: each variant's transaction, role and claims included)
on one connection of the server's login role, ``-n`` transactions per figure, after moving
the database to each revision in turn (downgrade or upgrade, A B B A … for ``--rounds``
pairs), and reports the backend's CPU time per transaction (``/proc/<pid>/stat``) and the
wall time. One connection and no HTTP: what the migration changed (a policy, a trigger, a
function) is what differs. ``--busiest N`` puts the N questions with the most answers in
place of the captured ones (the question page only): a policy's cost per answer read shows
there. The database is left at the head revision.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from workload import decode_param  # noqa: E402

from focushub.core import bootstrap  # noqa: E402
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402
from focushub.migrations import runner  # noqa: E402


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


async def _busiest(owner: str, variants: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(owner)
    try:
        ids = [r[0] for r in await conn.fetch(
            "SELECT id FROM questions WHERE hidden_at IS NULL"
            " ORDER BY answers_count DESC LIMIT $1", n)]
    finally:
        await conn.close()
    out = []
    for variant, busy in zip(variants, ids, strict=False):
        old = variant["path"].rsplit("/", 1)[1]
        out.append(json.loads(json.dumps(variant).replace(old, str(busy))))
    return out


async def _measure(app_url: str, variants: list[dict[str, Any]], n: int) -> tuple[float, float]:
    """(backend CPU ms, wall ms) per transaction over ``n`` transactions, after a warm-up."""
    conn = await asyncpg.connect(app_url)
    statements = [[(sql, [decode_param(p) for p in params]) for sql, params in v["statements"]]
                  for v in variants]

    async def one(i: int) -> None:
        async with conn.transaction():
            for sql, params in statements[i % len(statements)]:
                await conn.fetch(sql, *params)

    try:
        for i in range(50):
            await one(i)
        pid = conn.get_server_pid()
        cpu0, t0 = _backend_cpu(pid), time.perf_counter()
        for i in range(n):
            await one(i)
        return ((_backend_cpu(pid) - cpu0) / n * 1000, (time.perf_counter() - t0) / n * 1000)
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default="question")
    ap.add_argument("--revisions", required=True, help="old,new")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("--busiest", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=BENCH / "results" / "pgdata")
    args = ap.parse_args()
    old, new = args.revisions.split(",")
    variants = json.loads((BENCH / "results" / "captured-sql.json").read_text())[args.endpoint]
    server = EmbeddedPostgres(args.data_dir.resolve())
    server.start()
    try:
        owner = server.url(database="focushub")
        app_url = bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE)
        if args.busiest:
            variants = asyncio.run(_busiest(owner, variants, args.busiest))
        order = [old, new, new, old] * ((args.rounds + 1) // 2)
        results: dict[str, list[tuple[float, float]]] = {old: [], new: []}
        for revision in order[:2 * args.rounds]:
            current = runner.current_revision_sync(owner)
            if current != revision:
                known = runner.revisions()
                later = known.index(revision) > known.index(current)
                (runner.upgrade if later else runner.downgrade)(owner, revision)
            cpu, wall = asyncio.run(_measure(app_url, variants, args.n))
            results[revision].append((cpu, wall))
            print(f"{revision}: backend CPU {cpu:.3f} ms, wall {wall:.3f} ms per transaction",
                  flush=True)
        for revision, figures in results.items():
            cpus = ", ".join(f"{c:.3f}" for c, _ in figures)
            print(f"{revision}: backend CPU per transaction (ms): {cpus}")
        runner.upgrade(owner, "head")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
