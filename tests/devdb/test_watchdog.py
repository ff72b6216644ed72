"""The watchdog that restarts a crashed embedded PostgreSQL: real servers, real kill -9."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from focushub.devdb.supervisor import EmbeddedPostgres, EmbeddedStartError
from tests.devdb.conftest import (
    ask,
    assert_fully_stopped,
    exited,
    postmasters_under,
    query,
    read_pid,
    spawn_child,
    wait_until,
)

# Bounds only for a test that would otherwise hang: a restart is waited for as an event.
RESTART_BOUND = 60.0


@pytest.fixture(autouse=True)
def _embedded_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="focushub.embedded")


def restarted(server: EmbeddedPostgres, old_pid: int, caplog: pytest.LogCaptureFixture
              ) -> Callable[[], bool]:
    """True once this process's watchdog reported restarting the server that now answers."""
    def check() -> bool:
        pid = server.pid
        return (pid is not None and pid != old_pid and server.watching
                and any("restarted after a crash" in m and f"(pid {pid}," in m
                        for m in caplog.messages)
                and _answers(server))
    return check


def _answers(server: EmbeddedPostgres) -> bool:
    try:
        return query(server, "SELECT 1") == "1"
    except subprocess.CalledProcessError:
        return False


def test_a_killed_postmaster_is_restarted_and_keeps_what_was_committed(
    servers: Callable[..., EmbeddedPostgres], caplog: pytest.LogCaptureFixture
) -> None:
    server = servers()
    with pytest.raises(EmbeddedStartError, match="needs a started server"):
        server.watch()
    server.start()
    server.watch()
    server.watch()  # idempotent: one thread
    query(server, "CREATE TABLE acked AS SELECT g AS n FROM generate_series(1, 1000) g")
    old_pid = server.pid
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)
    assert wait_until(restarted(server, old_pid, caplog), RESTART_BOUND)

    assert query(server, "SELECT count(*), sum(n) FROM acked") == "1000|500500"
    assert postmasters_under(server.data_dir) == [server.pid]
    assert f"PostgreSQL (pid {old_pid}) in {server.pgdata} died unexpectedly" in caplog.text
    assert "restarted after a crash" in caplog.text
    # PostgreSQL's own crash recovery replayed the WAL.
    assert "automatic recovery in progress" in server.log_path.read_text()

    new_pid = server.pid
    assert new_pid is not None
    server.stop()
    assert not server.watching
    assert_fully_stopped(server, new_pid)


def test_a_server_that_died_before_the_watch_began_is_restarted(
    servers: Callable[..., EmbeddedPostgres], caplog: pytest.LogCaptureFixture
) -> None:
    server = servers()
    server.start()
    old_pid = server.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    assert wait_until(lambda: exited(old_pid))
    server.watch()  # finds postmaster.pid without its postmaster: a crash
    assert wait_until(restarted(server, old_pid, caplog), RESTART_BOUND)
    assert "died unexpectedly" in caplog.text


def test_crashes_again_soon_after_are_restarted_with_backoff(
    servers: Callable[..., EmbeddedPostgres], caplog: pytest.LogCaptureFixture
) -> None:
    server = servers()
    server.start()
    server.watch()
    first = server.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert wait_until(restarted(server, first, caplog), RESTART_BOUND)
    second = server.pid
    assert second is not None
    os.kill(second, signal.SIGKILL)
    assert wait_until(restarted(server, second, caplog), RESTART_BOUND)
    assert "restarting it in 0 s (attempt 1)" in caplog.text
    assert "restarting it in 1 s (attempt 1)" in caplog.text  # the second crash waits


def test_a_failing_restart_is_retried_until_the_server_can_start(
    servers: Callable[..., EmbeddedPostgres], caplog: pytest.LogCaptureFixture
) -> None:
    server = servers()
    server.start()
    server.watch()
    old_pid = server.pid
    assert old_pid is not None
    auto_conf = server.pgdata / "postgresql.auto.conf"
    good = auto_conf.read_text()
    auto_conf.write_text(good + "shared_buffers = 'plenty'\n")  # postgres refuses to start

    os.kill(old_pid, signal.SIGKILL)
    assert wait_until(lambda: "(attempt 3)" in caplog.text, RESTART_BOUND)
    assert server.pid is None
    assert "Restarting PostgreSQL" in caplog.text and "shared_buffers" in caplog.text
    assert "restarting it in 1 s (attempt 2)" in caplog.text
    assert "restarting it in 2 s (attempt 3)" in caplog.text

    auto_conf.write_text(good)
    assert wait_until(restarted(server, old_pid, caplog), RESTART_BOUND)
    assert postmasters_under(server.data_dir) == [server.pid]


def test_an_orderly_shutdown_is_not_undone_and_the_next_server_is_watched(
    servers: Callable[..., EmbeddedPostgres], caplog: pytest.LogCaptureFixture
) -> None:
    server = servers()
    server.start()
    server.watch()
    old_pid = server.pid
    assert old_pid is not None

    os.kill(old_pid, signal.SIGINT)  # what `pg_ctl stop -m fast` sends
    assert wait_until(lambda: "was shut down by someone else; not restarting it" in caplog.text,
                      RESTART_BOUND)
    assert exited(old_pid)
    assert server.pid is None and server.watching

    other = servers()
    other.start()  # someone starts it again: the watchdog follows that server
    started = other.pid
    assert started is not None
    assert wait_until(lambda: f"Watching PostgreSQL (pid {started})" in caplog.text, RESTART_BOUND)
    os.kill(started, signal.SIGKILL)
    assert wait_until(restarted(server, started, caplog), RESTART_BOUND)

    other.stop()  # the watching handle still uses it
    assert query(server, "SELECT 1") == "1"


def test_stop_ends_the_watch_before_stopping_the_server(
    servers: Callable[..., EmbeddedPostgres], caplog: pytest.LogCaptureFixture
) -> None:
    server = servers()
    server.start()
    server.watch()
    pid = server.pid
    assert pid is not None and server.watching
    server.stop()
    assert not server.watching
    assert_fully_stopped(server, pid)
    assert "died unexpectedly" not in caplog.text
    assert "shut down by someone else" not in caplog.text


def test_two_watching_processes_restart_one_server(
    servers: Callable[..., EmbeddedPostgres],
    children: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    """Both users see the crash; exactly one launches the new postmaster, the other joins it."""
    server = servers()  # locates the data dir; never started here
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = spawn_child(server.data_dir, "watch", logs[0])
    children.append(first)
    old_pid = read_pid(first)
    second = spawn_child(server.data_dir, "watch", logs[1])
    children.append(second)
    assert read_pid(second) == old_pid

    os.kill(old_pid, signal.SIGKILL)

    def both_settled() -> bool:
        texts = [log.read_text() for log in logs]
        return all("restarted after a crash" in t or "by another user" in t for t in texts)

    assert wait_until(both_settled, RESTART_BOUND)
    texts = [log.read_text() for log in logs]
    assert sum(t.count("restarted after a crash") for t in texts) == 1
    new_pid = server.pid
    assert new_pid is not None and new_pid != old_pid
    assert postmasters_under(server.data_dir) == [new_pid]
    assert ask(first, "pid") == ask(second, "pid") == str(new_pid)

    # One user leaves: the server stays for the other, whose watchdog still restarts it.
    assert ask(first, "stop") == "stopped"
    assert server.pid == new_pid
    before = logs[1].read_text().count("restarted after a crash")
    os.kill(new_pid, signal.SIGKILL)
    assert wait_until(lambda: logs[1].read_text().count("restarted after a crash") == before + 1
                      and server.pid is not None, RESTART_BOUND)
    assert ask(second, "pid") == str(server.pid)
    assert postmasters_under(server.data_dir) == [server.pid]
