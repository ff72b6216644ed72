"""Helpers for the embedded PostgreSQL tests: real servers in ``tmp_path``, real processes.

The ``servers`` fixture stops every handle it made and then SIGKILLs any postgres
process still running in the test's directory, so a failing test never leaves a
server behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from focushub.devdb.supervisor import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0

# A second process that uses the server: prints the postmaster pid once ready, then
# either obeys lines on stdin ("stop"; "pid" prints the postmaster pid it sees now),
# or ("signals" mode) sleeps until signalled. "watch" mode also runs the watchdog.
# It logs to stderr.
CHILD = textwrap.dedent(
    """
    import logging, sys, time
    from pathlib import Path
    from focushub.devdb.supervisor import EmbeddedPostgres, install_signal_handlers
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = EmbeddedPostgres(Path(sys.argv[1]))
    server.start()
    if sys.argv[2] == "signals":
        install_signal_handlers(server)
    if sys.argv[2] == "watch":
        server.watch()
    print(server.pid, flush=True)
    if sys.argv[2] == "signals":
        time.sleep(120)
    for line in sys.stdin:
        if line.strip() == "stop":
            server.stop()
            print("stopped", flush=True)
        elif line.strip() == "pid":
            print(server.pid, flush=True)
    """
)


def spawn_child(data_dir: Path, mode: str = "stdin", log: Path | None = None
                ) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stderr = log.open("w") if log is not None else None
    try:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data_dir), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
            cwd=ROOT,
        )
    finally:
        if stderr is not None:
            stderr.close()  # the child has its own copy


def read_pid(child: subprocess.Popen[str]) -> int:
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip().isdigit(), f"child failed to start (rc={child.poll()}): {line!r}"
    return int(line)


def ask(child: subprocess.Popen[str], command: str) -> str:
    """Send one command line to a CHILD and return its answer line."""
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(command + "\n")
    child.stdin.flush()
    return child.stdout.readline().strip()


def postgres_procs_under(root: Path) -> list[psutil.Process]:
    """postgres processes whose working directory (their PGDATA) lies under ``root``."""
    found = []
    prefix = str(root.resolve()) + os.sep
    for proc in psutil.process_iter(["name"]):
        if proc.info.get("name") != "postgres":
            continue
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and (proc.cwd() + os.sep).startswith(prefix):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def postmasters_under(root: Path) -> list[int]:
    """PIDs of the postmasters under ``root``: postgres processes whose parent is no postgres."""
    pids = []
    for proc in postgres_procs_under(root):
        try:
            parent = proc.parent()
            if parent is None or parent.name() != "postgres":
                pids.append(proc.pid)
        except psutil.Error:
            pass
    return pids


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds; ``timeout`` only bounds a test that would hang."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def exited(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_fully_stopped(server: EmbeddedPostgres, old_pid: int) -> None:
    assert wait_until(lambda: exited(old_pid))
    assert server.pid is None
    assert not (server.pgdata / "postmaster.pid").exists()
    assert postgres_procs_under(server.data_dir) == []


def query(server: EmbeddedPostgres, sql: str) -> str:
    """Run ``sql`` with the bundled psql through the URL the server hands out."""
    out = subprocess.run(
        [str(server.bin_dir / "psql"), server.url(), "-XAtc", sql],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return out.stdout.strip()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., EmbeddedPostgres]]:
    """Factory of handles on ``tmp_path/<name>``; tears every server down afterwards."""
    made: list[EmbeddedPostgres] = []

    def make(name: str = "data", **kwargs: float) -> EmbeddedPostgres:
        server = EmbeddedPostgres(tmp_path / name, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        try:
            server.stop()
        except Exception:
            pass
    for proc in postgres_procs_under(tmp_path):
        try:
            proc.kill()
        except psutil.Error:
            pass
    for server in made:
        if server.socket_dir != server.pgdata and server.socket_dir.is_dir():
            for leftover in server.socket_dir.iterdir():
                leftover.unlink()
            server.socket_dir.rmdir()


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
