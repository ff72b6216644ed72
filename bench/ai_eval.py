"""Evaluate AI answers on a small set: retrieval hit@1/hit@3, abstention, latency.

    .venv/bin/python bench/ai_eval.py [--set bench/ai_eval_set.json] [--json OUT]

Starts an embedded PostgreSQL in a temporary directory, migrates it, and through the
real app (in process) puts the set's material on the platform: solved questions
(an accepted answer each), posts, and text resources (their text extracted by the
``resources.process`` job, as in production). Then, for every question of the set,
it creates the question, asks for an AI answer and runs the worker, exactly as a
user's request would, with the configured provider (offline unless
``FOCUSHUB_AI_BASE_URL`` is set).

* hit@k: the material that answers the question is among the first k sources
  retrieval returns (answerable questions only), and, separately, is cited;
* abstention precision: of the answers that abstained, the share that should have;
  recall: of the unanswerable questions, the share that abstained; wrongful
  abstentions: answerable questions that abstained;
* latency: the job's ``processing_time_ms`` per answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from focushub.ai import grounding  # noqa: E402
from focushub.app import create_app  # noqa: E402
from focushub.core import bootstrap  # noqa: E402
from focushub.core.db import ANONYMOUS  # noqa: E402
from focushub.core.settings import Settings  # noqa: E402
from focushub.devdb.supervisor import EmbeddedPostgres  # noqa: E402
from focushub.migrations import runner  # noqa: E402


async def signup(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/signup", json={
        "email": f"{name}@example.org", "password": "correct horse battery",
        "full_name": name.title(), "username": name})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def put_material(client: httpx.AsyncClient, rt: Any, material: list[dict]) -> dict[str, str]:
    """Create the material; returns key -> the id a citation of it carries."""
    asker, expert = await signup(client, "asker"), await signup(client, "expert")
    ids: dict[str, str] = {}
    for item in material:
        if item["kind"] == "answer":
            q = (await client.post("/api/v1/questions", headers=asker, json={
                "title": item["question"], "content": item["question"]})).json()
            a = (await client.post(f"/api/v1/questions/{q['id']}/answers", headers=expert,
                                   json={"content": item["text"]})).json()
            (await client.post(f"/api/v1/answers/{a['id']}/accept", headers=asker)).raise_for_status()
            ids[item["key"]] = a["id"]
        elif item["kind"] == "post":
            p = (await client.post("/api/v1/posts", headers=expert, json={
                "title": item["title"], "content": item["text"]})).json()
            ids[item["key"]] = p["id"]
        else:
            r = await client.post("/api/v1/resources", headers=expert,
                                  data={"title": item["title"]},
                                  files={"file": ("notes.txt", item["text"].encode(), "text/plain")})
            r.raise_for_status()
            ids[item["key"]] = r.json()["id"]
    await rt.jobs.run_worker(rt, wait=False)  # resources' text
    return ids


async def evaluate(set_path: Path) -> dict[str, Any]:
    data = json.loads(set_path.read_text())
    with tempfile.TemporaryDirectory(prefix="focushub-ai-eval-") as folder:
        server = EmbeddedPostgres(Path(folder) / "pg")
        server.start()
        try:
            await bootstrap.ensure_database(server.url(), "focushub")
            owner = server.url(database="focushub")
            await asyncio.to_thread(runner.upgrade, owner)
            await bootstrap.ensure_login_role(owner)
            settings = Settings(env="development", data_dir=Path(folder),
                                database_url=bootstrap.with_parts(owner, user=bootstrap.APP_LOGIN_ROLE),
                                ai_daily_limit=10_000, log_level="WARNING")
            app = create_app(settings)
            rt = app.state.runtime
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://eval") as client:
                    ids = await put_material(client, rt, data["material"])
                    student = await signup(client, "student")
                    rows = []
                    for case in data["questions"]:
                        q = (await client.post("/api/v1/questions", headers=student, json={
                            "title": case["text"], "content": case["detail"]})).json()
                        async with rt.transaction(ANONYMOUS) as tx:
                            found = await grounding.retrieve(tx, q["id"],
                                                             f"{case['text']}\n\n{case['detail']}")
                        ranked = [str(s.id) for s in found.sources]
                        started = time.perf_counter()
                        (await client.post(f"/api/v1/questions/{q['id']}/ai-answers",
                                           headers=student)).raise_for_status()
                        await rt.jobs.run_worker(rt, wait=False)
                        wall_ms = (time.perf_counter() - started) * 1000
                        (answer,) = (await client.get(f"/api/v1/questions/{q['id']}/ai-answers")).json()
                        expected = ids.get(case["expect"]) if case["expect"] else None
                        rows.append({
                            "question": case["text"], "expect": case["expect"],
                            "status": answer["status"],
                            "rank": ranked.index(expected) + 1 if expected in ranked else None,
                            "cited": expected in [c["id"] for c in answer["citations"]],
                            "relevance": answer["relevance_score"],
                            "confidence": answer["confidence_score"],
                            "ms": answer["processing_time_ms"], "wall_ms": round(wall_ms, 1),
                        })
            finally:
                await rt.stop()
        finally:
            server.stop()
    answerable = [r for r in rows if r["expect"]]
    unanswerable = [r for r in rows if not r["expect"]]
    abstained = [r for r in rows if r["status"] == "abstained"]
    hit = lambda k: sum(1 for r in answerable if r["rank"] and r["rank"] <= k) / len(answerable)  # noqa: E731
    return {
        "provider": settings.ai_base_url or "offline",
        "questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "hit_at_1": round(hit(1), 3), "hit_at_3": round(hit(3), 3),
        "cited_rate": round(sum(r["cited"] for r in answerable) / len(answerable), 3),
        "abstention_precision": round(sum(1 for r in abstained if not r["expect"])
                                      / len(abstained), 3) if abstained else None,
        "abstention_recall": round(sum(1 for r in unanswerable if r["status"] == "abstained")
                                   / len(unanswerable), 3),
        "wrongful_abstentions": round(sum(1 for r in answerable if r["status"] == "abstained")
                                      / len(answerable), 3),
        "latency_ms_p50": statistics.median(r["ms"] for r in rows),
        "latency_ms_max": max(r["ms"] for r in rows),
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, default=ROOT / "bench" / "ai_eval_set.json")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    report = asyncio.run(evaluate(args.set))
    for row in report["rows"]:
        print(f"{row['status']:10} rank={row['rank']!s:4} cited={row['cited']!s:5} "
              f"rel={row['relevance']} conf={row['confidence']} {row['ms']} ms  "
              f"{row['expect'] or '-':18} {row['question']}")
    summary = {k: v for k, v in report.items() if k != "rows"}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
