"""The benchmark's load generator spreads its connections evenly over a server's workers;
windows measured in turn merge into one result, and the report names a cell whose two
pairs of windows disagree; a realtime level that fell behind says why.

A real ``uvicorn --workers 2`` on loopback: left to the kernel, which worker accepts a
connection varies from run to run, and the API and the floor would be compared under
different spreads (``bench/loadgen.py``, ``balance_pid``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
import realtime  # noqa: E402
import report  # noqa: E402

pytestmark = pytest.mark.slow

APP = '''
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("hi")

app = Starlette(routes=[Route("/", hello)])
'''


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory):
    app_dir = tmp_path_factory.mktemp("tinyapp")
    (app_dir / "tiny.py").write_text(APP)
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tiny:app", "--app-dir", str(app_dir), "--workers", "2",
         "--port", str(port), "--log-level", "warning", "--no-access-log"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200 and \
                        len(loadgen._workers(proc.pid)) == 2:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.parametrize("concurrency, expected", [(8, [4, 4]), (5, [3, 2])])
async def test_connections_are_spread_evenly_over_the_workers(two_workers, concurrency, expected):
    pid, port = two_workers
    spec = {"host": "127.0.0.1", "port": port, "concurrency": concurrency, "duration": 0.5,
            "warmup": 0.0, "requests": [{"method": "GET", "path": "/", "headers": {}, "body": None}],
            "balance_pid": pid, "cpu_pids": {"server": pid}}
    result = await loadgen.run(spec)
    assert result["spread"] == expected
    assert result["count"] > 0 and result["errors"] == 0


async def test_without_balance_pid_no_spread_is_reported(two_workers):
    pid, port = two_workers
    spec = {"host": "127.0.0.1", "port": port, "concurrency": 2, "duration": 0.3, "warmup": 0.0,
            "requests": [{"method": "GET", "path": "/", "headers": {}, "body": None}]}
    result = await loadgen.run(spec)
    assert result["spread"] is None and result["count"] > 0


def test_windows_measured_in_turn_merge_into_one_result():
    def window(lat, errors, cpu, spread, rps):
        return {"latencies": lat, "error_detail": errors, "cpu_s": {"server": cpu},
                "elapsed": 1.0, "client_cpu_s": 0.1, "spread": spread, "rps": rps}

    merged = loadgen.merge([window([1.0, 2.0, 3.0], {"500": 1}, 0.3, [4, 4], 3.0),
                            window([20.0, 10.0], {}, 0.2, [5, 3], 2.0)])
    assert merged["count"] == 5 and merged["rps"] == 2.5 and merged["elapsed"] == 2.0
    assert merged["errors"] == 1 and merged["error_detail"] == {"500": 1}
    assert (merged["p50"], merged["p99"]) == (3.0, 20.0)
    # Six requests ended (one of them an error), 0.5 s of the server's CPU.
    assert merged["cpu_ms_per_request"] == {"server": 83.333}
    assert merged["spread"] == [5, 3] and merged["windows"] == [3.0, 2.0]


def test_a_realtime_level_that_fell_behind_says_why():
    assert realtime.overloaded(0.2, 12.0, 40) == []
    assert realtime.overloaded(7.5, 12.0, 40) == ["still delivering 7.5 s after the senders stopped"]
    assert realtime.overloaded(0.0, 250.0, 95) == [
        "the senders 250.0 ms behind their schedule (p99)", "the clients' process at 95 % of a core"]


def test_the_report_names_a_cell_whose_pairs_of_windows_disagree():
    cell = {"api": {"windows": [100.0, 50.0]}, "floor": {"windows": [100.0, 100.0]}}
    assert report._window_pairs(cell) == [1.0, 0.5]
    assert report._pairs_note(cell) == " (pairs of windows 100 %, 50 %)"
    assert report._window_pairs({"api": {"rps": 1.0}, "floor": {"rps": 1.0}}) is None


def test_with_more_pairs_of_windows_the_verdict_is_the_ratios_interval():
    def cell(c: int, api: list[float], floor: list[float]) -> dict:
        return {"endpoint": "question", "concurrency": c, "api": {"rps": sum(api), "windows": api},
                "floor": {"rps": sum(floor), "windows": floor}}

    # Four pairs: 110, 105, 108, 107 % of the floor. The interval is the t-interval of the
    # ratios' logarithms (t = 3.18 at three degrees of freedom).
    above = cell(1, [110.0, 105.0, 108.0, 107.0], [100.0] * 4)
    mean, low, high = report.pairs_interval(report._window_pairs(above))
    assert 1.07 < mean < 1.08 and 1.04 < low < mean < high < 1.11
    assert "95 % interval" in report._pairs_note(above)
    assert report._floor_verdict([above], 1.0).startswith("**met**")
    # One pair below the goal does not decide alone: the interval holds the goal.
    straddles = cell(8, [103.0, 97.0, 104.0, 101.0], [100.0] * 4)
    assert report._floor_verdict([above, straddles], 1.0).startswith("**at the goal**")
    assert "c=8" in report._floor_verdict([above, straddles], 1.0)
    below = cell(8, [90.0, 92.0, 91.0, 93.0], [100.0] * 4)
    assert report._floor_verdict([above, below], 1.0).startswith("**not met**")
    # Two pairs per cell: the merged ratio decides, as runs of one round always did.
    two = {"endpoint": "question", "concurrency": 1, "api": {"rps": 99.0, "windows": [103.0, 95.0]},
           "floor": {"rps": 100.0, "windows": [100.0, 100.0]}}
    assert report._floor_verdict([two], 1.0).startswith("**not met** (its two pairs")
