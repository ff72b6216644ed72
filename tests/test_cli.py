"""The ``focushub`` command as an operator runs it: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ROOT
from tests.realtime.conftest import free_port

pytestmark = pytest.mark.slow


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


def _wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def _start(args: list[str], data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")}
    env["FOCUSHUB_DATA_DIR"] = str(data_dir)
    return subprocess.Popen([sys.executable, "-m", "focushub", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_sigterm_stops_the_server_its_worker_and_the_embedded_database(tmp_path):
    port = free_port()
    proc = _start(["serve", "--port", str(port)], tmp_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        # X-Forwarded-For is not believed by default, even from 127.0.0.1: a client cannot
        # pick a fresh rate-limit bucket per attempt.
        statuses = [httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login",
                               json={"email": "who@example.org", "password": "guess number"},
                               headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=10).status_code
                    for i in range(12)]
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
        postmaster = _postmaster_pid(tmp_path)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
        assert _wait_gone(postmaster), "the embedded PostgreSQL outlived SIGTERM"
        output = proc.stdout.read().decode() if proc.stdout else ""
        assert "Starting worker" in output and "Stopped worker" in output
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_worker_command_stops_on_sigterm(tmp_path):
    proc = _start(["worker"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "pg" / "postmaster.pid").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(3)  # migrated and fetching jobs
        postmaster = _postmaster_pid(tmp_path)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert _wait_gone(postmaster)
        output = proc.stdout.read().decode() if proc.stdout else ""
        assert "Worker running" in output
    finally:
        if proc.poll() is None:
            proc.kill()


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")}
    return subprocess.run([sys.executable, "-m", "focushub", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_create_admin_creates_or_promotes(test_db, tmp_path):
    import asyncio

    import asyncpg

    env = {"FOCUSHUB_DATABASE_URL": test_db.app_url, "FOCUSHUB_DATA_DIR": str(tmp_path),
           "FOCUSHUB_MIGRATION_DATABASE_URL": test_db.owner_url}
    out = _run(["create-admin", "--email", "root@example.org", "--username", "root_admin",
                "--password", "correct horse battery"], **env)
    assert out.returncode == 0, out.stderr
    assert "is an admin" in out.stderr

    async def role() -> str:
        conn = await asyncpg.connect(test_db.owner_url)
        try:
            return await conn.fetchval("SELECT role::text FROM users WHERE email = 'root@example.org'")
        finally:
            await conn.close()

    assert asyncio.run(role()) == "admin"
    out = _run(["create-admin", "--email", "root@example.org", "--username", "x",
                "--password", "short"], **env)
    assert out.returncode == 2  # a bad password is refused before anything is written


def test_create_admin_with_a_taken_username_says_so_in_one_line(test_db, tmp_path):
    """A new email with someone else's username was a traceback whose last lines printed the
    new account's password hash (SQLAlchemy's parameters)."""
    env = {"FOCUSHUB_DATABASE_URL": test_db.app_url, "FOCUSHUB_DATA_DIR": str(tmp_path),
           "FOCUSHUB_MIGRATION_DATABASE_URL": test_db.owner_url}
    out = _run(["create-admin", "--email", "first@example.org", "--username", "taken_name",
                "--password", "correct horse battery"], **env)
    assert out.returncode == 0, out.stderr
    out = _run(["create-admin", "--email", "second@example.org", "--username", "taken_name",
                "--password", "correct horse battery"], **env)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "argon2" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        "create-admin: This username is taken; nothing was changed")


def test_production_refuses_to_start_without_explicit_settings(tmp_path):
    out = _run(["serve"], FOCUSHUB_ENV="production", FOCUSHUB_DATA_DIR=str(tmp_path))
    assert out.returncode == 2
    assert "FOCUSHUB_DATABASE_URL must be set" in out.stderr
    assert "FOCUSHUB_JWT_SECRET must be set" in out.stderr


def test_db_stats_reports_the_database_s_health(test_db, tmp_path):
    out = _run(["db-stats"], FOCUSHUB_DATABASE_URL=test_db.app_url,
               FOCUSHUB_MIGRATION_DATABASE_URL=test_db.owner_url,
               FOCUSHUB_DATA_DIR=str(tmp_path), COLUMNS="200")
    assert out.returncode == 0, out.stderr
    for title in ("tables", "unused indexes", "cache", "connections", "bloat"):
        assert title in out.stdout, title
    assert "pg_stat_statements" in out.stdout or "slowest statements" in out.stdout
    assert "posts" in out.stdout  # a table of the schema is listed with its size


def test_a_wrong_setting_is_named_without_a_traceback(tmp_path):
    for command in (["jobs"], ["migrate"], ["outbox"]):
        out = _run(command, FOCUSHUB_AI_TIMEOUT_SECONDS="-1", FOCUSHUB_DATA_DIR=str(tmp_path))
        assert out.returncode == 2, out.stderr
        assert "FOCUSHUB_AI_TIMEOUT_SECONDS: Input should be greater than 0" in out.stderr
        assert "Traceback" not in out.stderr


def test_a_database_that_cannot_be_used_is_said_in_one_line(test_db, tmp_path):
    from sqlalchemy.engine import make_url

    refused = f"postgresql://focushub:s3cret@127.0.0.1:{free_port()}/focushub"
    missing = make_url(test_db.app_url).set(database="focushub_no_such_database")
    for url in (refused, missing.render_as_string(hide_password=False)):
        for command in (["jobs"], ["migrate"], ["outbox"]):
            out = _run(command, FOCUSHUB_DATABASE_URL=url, FOCUSHUB_DATA_DIR=str(tmp_path))
            assert out.returncode == 1, out.stderr
            assert "Cannot use the database at" in out.stderr
            assert "Traceback" not in out.stderr and "s3cret" not in out.stderr


def test_retrying_a_job_id_no_job_can_have_is_said_in_one_line(test_db, tmp_path):
    env = {"FOCUSHUB_DATABASE_URL": test_db.app_url, "FOCUSHUB_DATA_DIR": str(tmp_path)}
    for job_id in ("9223372036854775808", "1" + "0" * 40, "0", "-3"):
        out = _run(["jobs", "--retry", job_id], **env)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        (line,) = out.stderr.strip().splitlines()
        assert line == f"--retry: no job has the id {job_id} (ids run from 1 to 9223372036854775807)"
    out = _run(["jobs", "--retry", "9223372036854775807"], **env)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip() == "No failed job 9223372036854775807"


def test_a_failed_job_is_queued_again_by_jobs_retry(test_db, tmp_path):
    """`focushub jobs --retry ID` of a real failed job ended in a traceback (AppNotOpen): the
    retry went through the job manager of a queue the command never opened."""
    import asyncio

    import asyncpg

    async def sql(query: str, *args: object) -> object:
        conn = await asyncpg.connect(test_db.owner_url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    job_id = asyncio.run(sql(
        "INSERT INTO procrastinate.procrastinate_jobs (queue_name, task_name, args, status,"
        " attempts) VALUES ('default', 'limits.prune', '{\"timestamp\": 0}', 'failed', 1)"
        " RETURNING id"))
    env = {"FOCUSHUB_DATABASE_URL": test_db.app_url, "FOCUSHUB_DATA_DIR": str(tmp_path),
           "COLUMNS": "200"}
    out = _run(["jobs", "--retry", str(job_id)], **env)
    assert out.returncode == 0, out.stderr
    assert f"Job {job_id} is queued again." in out.stderr
    assert asyncio.run(sql("SELECT status::text FROM procrastinate.procrastinate_jobs"
                           " WHERE id = $1", job_id)) == "todo"
    # One whose queueing lock another job holds, waiting: said in one line, nothing changed.
    locked = asyncio.run(sql(
        "WITH failed AS (INSERT INTO procrastinate.procrastinate_jobs (queue_name, task_name,"
        " args, status, attempts, queueing_lock) VALUES ('default', 'limits.prune',"
        " '{\"timestamp\": 0}', 'failed', 1, 'prune:1') RETURNING id),"
        " waiting AS (INSERT INTO procrastinate.procrastinate_jobs (queue_name, task_name,"
        " args, status, queueing_lock) VALUES ('default', 'limits.prune', '{\"timestamp\": 1}',"
        " 'todo', 'prune:1') RETURNING id)"
        " SELECT failed.id FROM failed, waiting"))
    out = _run(["jobs", "--retry", str(locked)], **env)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(
        f"Job {locked} cannot be queued again: job ")
    assert asyncio.run(sql("SELECT status::text FROM procrastinate.procrastinate_jobs"
                           " WHERE id = $1", locked)) == "failed"


def test_production_settings_are_checked_by_every_command(tmp_path):
    """An environment file without its database URL had `focushub migrate` (the unit's
    ExecStartPre) and `focushub worker` start a private embedded database in the data
    folder and run on it; only `serve` refused."""
    for command in (["migrate"], ["worker"], ["jobs"], ["backup"]):
        out = _run(command, FOCUSHUB_ENV="production", FOCUSHUB_DATA_DIR=str(tmp_path),
                   FOCUSHUB_JWT_SECRET="x" * 40)
        assert out.returncode == 2, (command, out.stderr)
        assert out.stderr.strip() == "FOCUSHUB_DATABASE_URL must be set in production"
        assert not (tmp_path / "pg").exists()


def test_a_malformed_database_url_is_named_as_its_setting(tmp_path):
    """A URL no driver reads was a traceback from whichever driver met it first."""
    for variable in ("FOCUSHUB_DATABASE_URL", "FOCUSHUB_MIGRATION_DATABASE_URL",
                     "FOCUSHUB_DIRECT_DATABASE_URL"):
        for url, reason in (("db.internal:5432", "not a URL of the form"),
                            ("mysql://app:s3cret@db/focushub", "must start with postgresql://"),
                            ("postgresql://app:s3cret@db:port/focushub", "not a URL of the form"),
                            ("postgresql://app:s3cret@db:65536/focushub", "port 65536 is not a TCP port")):
            out = _run(["jobs"], **{variable: url}, FOCUSHUB_DATA_DIR=str(tmp_path))
            assert out.returncode == 2, out.stderr
            (line,) = out.stderr.strip().splitlines()
            assert line.startswith(f"{variable}: Value error, {reason}"), line
            assert "s3cret" not in line


@contextmanager
def _scratch_database(test_db) -> Iterator[str]:
    """The superuser's URL of a new empty database on the test server, dropped after."""
    import asyncio
    import uuid

    from focushub.core import bootstrap

    name = f"focushub_cli_{uuid.uuid4().hex[:10]}"
    asyncio.run(bootstrap.ensure_database(test_db.server_url, name))
    try:
        yield bootstrap.with_parts(test_db.server_url, database=name)
    finally:
        asyncio.run(bootstrap.drop_database(test_db.server_url, name))


def test_commands_on_a_database_never_migrated_say_so_in_one_line(test_db, tmp_path):
    """`focushub jobs` and `outbox` on a database before its first `migrate` were a
    traceback about a missing function."""
    from focushub.core import bootstrap

    with _scratch_database(test_db) as owner_url:
        app_url = bootstrap.with_parts(owner_url, user=bootstrap.APP_LOGIN_ROLE)
        for command in (["jobs"], ["jobs", "--retry", "1"], ["outbox"]):
            out = _run(command, FOCUSHUB_DATABASE_URL=app_url, FOCUSHUB_DATA_DIR=str(tmp_path))
            assert out.returncode == 1, out.stderr
            (line,) = out.stderr.strip().splitlines()
            assert line.endswith("has no Focus Hub schema: run `focushub migrate` first."), line


def test_a_database_a_newer_release_migrated_is_served_as_it_is(test_db, tmp_path):
    """During a rolling deploy the new release migrates first; an old process that restarted
    then (the unit's ExecStartPre, `serve`, `worker`) stopped with alembic's traceback, and
    so did an image rolled back."""
    import asyncio

    import asyncpg

    from focushub.core import bootstrap
    from focushub.migrations import runner

    async def sql(url: str, query: str) -> object:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    with _scratch_database(test_db) as owner_url:
        runner.upgrade(owner_url)
        asyncio.run(sql(owner_url, "UPDATE alembic_version SET version_num = '9999_later'"))
        env = {"FOCUSHUB_DATABASE_URL": bootstrap.with_parts(owner_url,
                                                             user=bootstrap.APP_LOGIN_ROLE),
               "FOCUSHUB_MIGRATION_DATABASE_URL": owner_url, "FOCUSHUB_DATA_DIR": str(tmp_path)}
        out = _run(["migrate"], **env)
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr, out.stderr
        warning, done = out.stderr.strip().splitlines()[-2:]
        assert warning == ("The database is at revision 9999_later, a newer release's: nothing "
                           "to migrate. This version serves it as long as that release kept "
                           "what this one uses (docs/deployment.md).")
        assert done.startswith("Schema at 9999_later (")
        assert asyncio.run(sql(owner_url, "SELECT version_num FROM alembic_version")) == (
            "9999_later")


def test_a_migration_postgresql_refuses_is_said_in_one_line(test_db, tmp_path):
    """Migrations as a role without the rights (here the login role, no migration URL set)
    were a screenful of traceback; the run is one transaction, so nothing stays."""
    import asyncio

    import asyncpg

    from focushub.core import bootstrap

    with _scratch_database(test_db) as owner_url:
        app_url = bootstrap.with_parts(owner_url, user=bootstrap.APP_LOGIN_ROLE)
        out = _run(["migrate"], FOCUSHUB_DATABASE_URL=app_url, FOCUSHUB_DATA_DIR=str(tmp_path))
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr, out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert line.startswith("Migrations were not applied (InsufficientPrivilegeError: "), line
        assert line.endswith("; the schema is still at no revision."), line

        async def tables() -> object:
            conn = await asyncpg.connect(owner_url)
            try:
                return await conn.fetchval("SELECT count(*) FROM pg_tables"
                                           " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
            finally:
                await conn.close()

        assert asyncio.run(tables()) == 0


def test_a_login_role_that_may_not_switch_roles_is_told_the_grant(test_db, tmp_path):
    """Following the deployment guide (migrate, then GRANT the API roles to the login role),
    the first `migrate` ended in a traceback: the login role may not grant them itself."""
    import asyncio
    import uuid

    import asyncpg

    from focushub.core import bootstrap

    role = f"focushub_cli_{uuid.uuid4().hex[:10]}"

    async def sql(query: str) -> None:
        conn = await asyncpg.connect(test_db.server_url)
        try:
            await conn.execute(query)
        finally:
            await conn.close()

    asyncio.run(sql(f"CREATE ROLE {role} LOGIN NOINHERIT NOBYPASSRLS"))
    try:
        out = _run(["migrate"], FOCUSHUB_DATABASE_URL=bootstrap.with_parts(test_db.owner_url,
                                                                            user=role),
                   FOCUSHUB_MIGRATION_DATABASE_URL=test_db.owner_url,
                   FOCUSHUB_DATA_DIR=str(tmp_path))
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr, out.stderr
        assert out.stderr.strip().splitlines()[-1] == (
            f"The schema is migrated, but {role} may not switch to the API roles: as a "
            f"superuser run GRANT anon, authenticated, service_role TO {role};")
    finally:
        asyncio.run(sql(f"DROP ROLE {role}"))


def test_a_database_url_with_libpq_sslmode_serves_every_path(test_db, tmp_path):
    """Managed PostgreSQL services hand out URLs ending in ``?sslmode=require``: with one,
    migrations and every request failed (asyncpg.connect has no ``sslmode`` keyword), and
    /readyz answered 503 "TypeError". (The test server has no TLS: ``disable`` and
    ``prefer`` take the same path as ``require``.)"""
    import asyncio

    from focushub.core.db import ANONYMOUS
    from focushub.core.settings import Settings
    from focushub.wiring import build_runtime

    def with_sslmode(url: str, mode: str) -> str:
        # The embedded server's URLs carry their socket's folder in the query already.
        return f"{url}{'&' if '?' in url else '?'}sslmode={mode}"

    app_url = with_sslmode(test_db.app_url, "disable")
    owner_url = with_sslmode(test_db.owner_url, "prefer")
    for command in (["migrate"], ["jobs"]):
        out = _run(command, FOCUSHUB_DATABASE_URL=app_url,
                   FOCUSHUB_MIGRATION_DATABASE_URL=owner_url, FOCUSHUB_DATA_DIR=str(tmp_path))
        assert out.returncode == 0, out.stderr

    async def both_paths() -> tuple[object, object]:
        rt = build_runtime(Settings(database_url=app_url, data_dir=tmp_path), pool_size=1)
        try:
            async with rt.transaction(ANONYMOUS) as tx:
                engine = await tx.scalar("SELECT current_setting('role')")
            async with rt.direct_transaction(ANONYMOUS) as direct:
                hot = await direct.scalar("SELECT current_setting('role')")
            return engine, hot
        finally:
            await rt.stop()

    assert asyncio.run(both_paths()) == ("anon", "anon")


def test_restore_into_a_malformed_database_url_is_said_in_one_line(tmp_path):
    archive = tmp_path / "backup.tar"
    archive.write_bytes(b"")
    for url, reason in (("db.internal/focushub", "not a URL of the form"),
                        ("mysql://owner:s3cret@db/focushub", "must start with postgresql://")):
        out = _run(["restore", str(archive), "--database-url", url],
                   FOCUSHUB_DATA_DIR=str(tmp_path))
        assert out.returncode == 2, out.stderr
        (line,) = out.stderr.strip().splitlines()
        assert line.startswith(f"--database-url: {reason}"), line
        assert "s3cret" not in line


def test_production_refuses_the_example_environment_file_s_placeholders(tmp_path):
    """The example environment file's JWT secret is 39 characters long, so a copy left
    unchanged started a server that signed with a key anyone can read."""
    example = (ROOT / "deploy" / "systemd" / "focushub.env.example").read_text()
    values = dict(line.split("=", 1) for line in example.splitlines()
                  if line and not line.startswith("#"))
    out = _run(["migrate"], FOCUSHUB_ENV="production", FOCUSHUB_DATA_DIR=str(tmp_path),
               FOCUSHUB_DATABASE_URL=values["FOCUSHUB_DATABASE_URL"],
               FOCUSHUB_JWT_SECRET=values["FOCUSHUB_JWT_SECRET"],
               FOCUSHUB_METRICS_TOKEN=values["FOCUSHUB_METRICS_TOKEN"])
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "FOCUSHUB_JWT_SECRET is still the example's CHANGE-ME placeholder: set a random value",
        "FOCUSHUB_METRICS_TOKEN is still the example's CHANGE-ME placeholder: set a random value"]


def test_migrations_started_together_take_turns(test_db, tmp_path):
    """Several processes migrating one database at once (servers on several hosts starting
    a new version, each unit's ExecStartPre) created the same objects, and all but one
    failed; now each waits for the one before and finds nothing left to do."""
    from focushub.core import bootstrap

    with _scratch_database(test_db) as owner_url:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")},
               "FOCUSHUB_DATABASE_URL": bootstrap.with_parts(owner_url,
                                                             user=bootstrap.APP_LOGIN_ROLE),
               "FOCUSHUB_MIGRATION_DATABASE_URL": owner_url, "FOCUSHUB_DATA_DIR": str(tmp_path)}
        runs = [subprocess.Popen([sys.executable, "-m", "focushub", "migrate"], cwd=ROOT,
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True) for _ in range(4)]
        for run in runs:
            _, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            assert "Schema at " in err


def test_production_behind_a_transaction_pooler_needs_the_direct_url(tmp_path):
    """A LISTEN through PgBouncer in transaction mode hears nothing: with the statement cache
    off (the pooler's setting) and no direct URL, realtime events and job wake-ups were
    lost without a word."""
    env = {"FOCUSHUB_ENV": "production", "FOCUSHUB_DATA_DIR": str(tmp_path),
           "FOCUSHUB_JWT_SECRET": "x" * 40, "FOCUSHUB_DB_STATEMENT_CACHE": "false",
           "FOCUSHUB_DATABASE_URL": f"postgresql://app@127.0.0.1:{free_port()}/focushub"}
    out = _run(["worker"], **env)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        "FOCUSHUB_DB_STATEMENT_CACHE=false says FOCUSHUB_DATABASE_URL is a transaction pooler: "
        "set FOCUSHUB_DIRECT_DATABASE_URL to PostgreSQL itself, where LISTEN keeps its session")
    out = _run(["worker"], **env, FOCUSHUB_DIRECT_DATABASE_URL=env["FOCUSHUB_DATABASE_URL"])
    assert out.returncode == 1 and "Cannot use the database at" in out.stderr, out.stderr


def test_create_admin_names_each_refused_option_in_one_line(tmp_path):
    """The refusal was pydantic's report printed as console markup, which took the
    username's pattern for a style and printed '^{3,50}$'."""
    out = _run(["create-admin", "--email", "not-an-email", "--username", "ab",
                "--password", "correct horse battery"], FOCUSHUB_DATA_DIR=str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "--email: value is not a valid email address: An email address must have an @-sign.",
        "--username: String should match pattern '^[a-z0-9_]{3,50}$'"]
