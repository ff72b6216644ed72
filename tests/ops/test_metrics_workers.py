"""``focushub serve --workers 2``: whichever process answers a scrape of ``/metrics``, it
reports the requests both processes served. Before, each process reported only its own,
so consecutive scrapes jumped between two counts and Prometheus read every drop as a
counter reset."""

from __future__ import annotations

import glob
import os
import tempfile
import uuid
from collections import Counter

import httpx
import pytest

from tests.realtime.test_fanout import serve_processes

pytestmark = pytest.mark.slow

ROUTE = '{method="GET",route="/api/v1/posts/{post_id}",status="404"}'
BOUND = 200  # new connections tried before concluding the kernel never chose a process


def _process(response: httpx.Response) -> str:
    """Which server process answered: request ids start with the process's own prefix."""
    return response.headers["x-request-id"][:16]


def _metrics_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "focushub-metrics-*")))


def test_a_scrape_of_either_process_reports_the_requests_of_both(test_db) -> None:
    dirs_before = _metrics_dirs()
    with serve_processes(test_db, None, count=1, args=("--workers", "2")) as [base]:
        served_by: Counter[str] = Counter()
        for _ in range(BOUND):
            # A new connection each time: the kernel gives it to either process.
            with httpx.Client(base_url=base, timeout=30) as http:
                r = http.get(f"/api/v1/posts/{uuid.uuid4()}")
            assert r.status_code == 404, r.text
            served_by[_process(r)] += 1
            if len(served_by) == 2 and min(served_by.values()) >= 3:
                break
        assert len(served_by) == 2, f"one process served every request: {served_by}"
        total = sum(served_by.values())

        scraped_by: Counter[str] = Counter()
        for _ in range(BOUND):
            with httpx.Client(base_url=base, timeout=30) as http:
                r = http.get("/metrics")
            assert r.status_code == 200
            assert f"focushub_http_requests_total{ROUTE} {float(total)}" in r.text, (
                served_by, [line for line in r.text.splitlines() if ROUTE in line])
            scraped_by[_process(r)] += 1
            if len(scraped_by) == 2:
                break
        assert len(scraped_by) == 2, f"one process answered every scrape: {scraped_by}"
    # The processes' metrics directory goes with them.
    assert _metrics_dirs() == dirs_before
