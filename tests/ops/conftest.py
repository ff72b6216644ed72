"""A real PgBouncer (Debian's package) in transaction pooling mode in front of the test database.

The session starts one ``pgbouncer`` on a free loopback port with its configuration and
auth file in a temporary directory, and stops it at the end. Where the binary is missing
the tests that need it are skipped with the reason (``.ci/run`` installs it where it can).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from focushub.core.bootstrap import APP_LOGIN_ROLE
from focushub.core.settings import Settings
from tests.conftest import TestDatabase
from tests.realtime.conftest import JWT_SECRET, TIMEOUT, LiveServer, free_port, serve_in_thread

# The login role's password as PgBouncer knows it (the test server itself trusts loopback).
APP_PASSWORD = "pgbouncer-test-secret"
# Server sessions per (database, user): fewer than the clients, so that consecutive
# transactions of one client land on different server sessions and clients share them.
POOL_SIZE = 2
DATABASE = "focushub"


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None)


@dataclass(frozen=True)
class PgBouncer:
    port: int
    app_url: str  # the server's login role, through PgBouncer
    admin_url: str  # PgBouncer's own console (SHOW POOLS, SHOW STATS)
    log: Path


def _server_host(test_db: TestDatabase) -> str | None:
    """The test server's host: a name or address, or (the embedded server) the directory of
    its unix socket, which the URL names in its "host" parameter."""
    server = make_url(test_db.app_url)
    host = server.host or server.query.get("host")
    return host[0] if isinstance(host, tuple) else host


def _config(test_db: TestDatabase, port: int, workdir: Path) -> str:
    server = make_url(test_db.app_url)
    host = _server_host(test_db) or "/var/run/postgresql"
    return f"""\
[databases]
{DATABASE} = host={host} port={server.port or 5432} dbname={test_db.name}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 500
auth_type = scram-sha-256
auth_file = {workdir / "userlist.txt"}
admin_users = pgbouncer_admin
ignore_startup_parameters = extra_float_digits
server_reset_query =
logfile = {workdir / "pgbouncer.log"}
"""


@pytest.fixture(scope="session")
def pgbouncer(test_db: TestDatabase) -> Iterator[PgBouncer]:
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("pgbouncer not found (Debian: apt-get install -y pgbouncer)")
    with tempfile.TemporaryDirectory(prefix="focushub-pgbouncer-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        (workdir / "pgbouncer.ini").write_text(_config(test_db, port, workdir))
        (workdir / "userlist.txt").write_text(
            f'"{APP_LOGIN_ROLE}" "{APP_PASSWORD}"\n"pgbouncer_admin" "{APP_PASSWORD}"\n')
        command = [binary]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            user = _unprivileged_user(test_db)
            for path in (workdir, *workdir.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
            command += ["-u", user.pw_name]
        command.append(str(workdir / "pgbouncer.ini"))
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_listening(proc, port, workdir / "pgbouncer.log")
            base = f"postgresql://{{user}}:{APP_PASSWORD}@127.0.0.1:{port}/{{db}}"
            yield PgBouncer(
                port=port,
                app_url=base.format(user=APP_LOGIN_ROLE, db=DATABASE),
                admin_url=base.format(user="pgbouncer_admin", db="pgbouncer"),
                log=workdir / "pgbouncer.log",
            )
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _unprivileged_user(test_db: TestDatabase) -> pwd.struct_passwd:
    """Who PgBouncer runs as when we are root: the embedded server's own system user when the
    test server listens on a unix socket in a directory only that user may enter (the
    embedded PostgreSQL's data directory), else ``nobody``."""
    host = _server_host(test_db)
    if host and host.startswith("/") and Path(host).exists():
        owner = Path(host).stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner)
    return pwd.getpwnam("nobody")


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"pgbouncer exited with {proc.returncode}: {stderr}{text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("pgbouncer did not start listening") from None
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pooled_settings(test_db: TestDatabase, pgbouncer: PgBouncer) -> Settings:
    """The production shape behind PgBouncer: requests and jobs through the pooler, LISTEN
    direct, no prepared statement outliving its transaction."""
    return Settings(env="test", database_url=pgbouncer.app_url,
                    direct_database_url=test_db.app_url, db_statement_cache=False,
                    jwt_secret=JWT_SECRET, db_pool_size=5, db_max_overflow=10,
                    # Workers run per test (tables are emptied between tests, their rows too).
                    worker_in_process=False)


@pytest.fixture(scope="module")
def pooled_server(pooled_settings: Settings) -> Iterator[LiveServer]:
    """The app under a real uvicorn (in a thread, own loop) on the pooled settings."""
    with serve_in_thread(pooled_settings) as server:
        yield server


@pytest.fixture
async def http(pooled_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pooled_server.base_url, timeout=TIMEOUT) as client:
        yield client
