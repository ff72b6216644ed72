"""Search latency per term, with how common each term is.

    .venv/bin/python bench/search_terms.py --data-dir bench/results/pgdata10 [--window 300,1000]

Starts the embedded PostgreSQL of ``--data-dir`` (a seeded database), then for
every term of ``focushub.seed.words.SEARCH_TERMS`` runs one search page as the
anonymous caller through ``focushub.search.service.search`` (the API's code and
SQL, without HTTP), and prints a Markdown table: matching posts and questions,
then the median of ``--repeat`` timed runs (after one warm-up) per rank window.
Sequential, one connection: this is the per-query cost, not throughput (that is
``bench/run``'s search row).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from focushub.core import bootstrap  # noqa: E402
from focushub.core.db import ANONYMOUS, create_engine  # noqa: E402
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402
from focushub.search import queries  # noqa: E402
from focushub.search.schemas import SearchParams  # noqa: E402
from focushub.search.service import search  # noqa: E402
from focushub.seed.words import SEARCH_TERMS  # noqa: E402

_COUNT = ("SELECT (SELECT count(*) FROM posts WHERE search_vector @@ websearch_to_tsquery('english', $1)),"
          " (SELECT count(*) FROM questions WHERE search_vector @@ websearch_to_tsquery('english', $1))")


async def _measure(owner_url: str, windows: list[int], repeat: int) -> list[dict]:
    import asyncpg

    engine = create_engine(owner_url.replace("postgresql://", "postgresql+asyncpg://"))
    owner = await asyncpg.connect(owner_url)
    rows = []
    try:
        for term in SEARCH_TERMS:
            posts, questions = await owner.fetchrow(_COUNT, term)
            row = {"term": term, "posts": posts, "questions": questions, "ms": {}}
            for window in windows:
                queries.RANK_WINDOW = window
                params = SearchParams(q=term)
                await search(engine, ANONYMOUS, params)  # warm-up
                times = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    await search(engine, ANONYMOUS, params)
                    times.append((time.perf_counter() - t0) * 1000)
                row["ms"][window] = statistics.median(times)
            rows.append(row)
    finally:
        await owner.close()
        await engine.dispose()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--window", default=str(queries.RANK_WINDOW),
                    help="comma-separated rank windows to compare")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    windows = [int(w) for w in args.window.split(",")]
    server = EmbeddedPostgres(args.data_dir.resolve())
    server.start()
    try:
        owner_url = bootstrap.with_parts(server.url(), database="focushub")
        rows = asyncio.run(_measure(owner_url, windows, args.repeat))
    finally:
        server.stop()
    rows.sort(key=lambda r: -(r["posts"] + r["questions"]))
    print("| term | posts matching | questions matching | "
          + " | ".join(f"ms, window {w}" for w in windows) + " |")
    print("|---|--:|--:|" + "--:|" * len(windows))
    for r in rows:
        print(f"| {r['term']} | {r['posts']:,} | {r['questions']:,} | "
              + " | ".join(f"{r['ms'][w]:.1f}" for w in windows) + " |")
    for w in windows:
        ms = sorted(r["ms"][w] for r in rows)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(f"\nwindow {w}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
              f"max {ms[-1]:.1f} ms over {len(ms)} terms")


if __name__ == "__main__":
    main()
