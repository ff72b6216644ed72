"""The ``focushub`` command: serve, worker, jobs, migrate, create-admin, outbox, seed."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

from focushub.core import bootstrap
from focushub.core.settings import Settings, check_postgres_url, get_settings
from focushub.migrations import runner

if TYPE_CHECKING:
    from focushub.core.runtime import Runtime

T = TypeVar("T")

app = typer.Typer(help="Focus Hub: a social learning platform server.", no_args_is_help=True)
console = Console(stderr=True)
log = logging.getLogger("focushub.cli")

EMBEDDED_DATABASE = "focushub"
MAX_JOB_ID = 2**63 - 1


def _settings() -> Settings:
    """The settings from the environment, or exit 2 naming each variable that is wrong (in
    production also each one that is missing or too weak)."""
    from pydantic import ValidationError

    try:
        settings = get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "FOCUSHUB_" + "_".join(str(p) for p in error["loc"]).upper()
            console.print(f"[red]{name}: {escape(error['msg'])}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    # Every command, not only `serve`: a production environment file without its database
    # URL had `migrate` and `worker` start a private embedded database in the data folder
    # and work on that.
    problems = settings.check_production()
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    return settings


def _unreachable(exc: BaseException) -> BaseException | None:
    """The error in ``exc``'s chain that says the database cannot be reached or refused the
    login (refused, unknown host, no such database, wrong password), if there is one."""
    import socket

    import asyncpg
    import psycopg

    refusals = (ConnectionError, socket.gaierror, TimeoutError,
                asyncpg.PostgresConnectionError, asyncpg.InvalidAuthorizationSpecificationError,
                asyncpg.InvalidCatalogNameError, asyncpg.CannotConnectNowError,
                psycopg.OperationalError)
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, refusals):
            return current
        todo += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return None


def _without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured URL"


@dataclass
class DatabaseTarget:
    app_url: str  # what the server logs in as
    owner_url: str  # what migrations run as
    embedded: Any | None  # the EmbeddedPostgres handle, when we started or joined one


@contextmanager
def database_target(settings: Settings, *, watch: bool = False) -> Iterator[DatabaseTarget]:
    """Resolve where the database is; start (or join) the embedded server when no URL is set.

    With ``watch``, an embedded server that crashes is restarted while we use it. The
    embedded server is released on exit; the last process using it stops it.
    """
    if settings.database_url:
        target = DatabaseTarget(
            app_url=settings.database_url,
            # Migrations hold a session (advisory lock, DDL): never through a transaction pooler.
            owner_url=(settings.migration_database_url or settings.direct_database_url
                       or settings.database_url),
            embedded=None,
        )
        with refusals_said(target):
            yield target
        return
    from focushub.devdb.supervisor import (
        EmbeddedPostgres,
        EmbeddedUnavailable,
        install_signal_handlers,
    )

    started = time.perf_counter()
    try:
        server = EmbeddedPostgres(
            settings.data_dir.resolve(), start_timeout=settings.embedded_start_timeout
        )
        server.start()
        # SIGTERM (systemd, containers) must stop it as SIGINT does: uvicorn and the worker
        # restore this handler when they finish and pass the signal on to it.
        install_signal_handlers(server)
        if watch:
            server.watch()
    except EmbeddedUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        asyncio.run(bootstrap.ensure_database(server.url(), EMBEDDED_DATABASE))
        owner_url = server.url(database=EMBEDDED_DATABASE)
        console.print(
            f"Embedded PostgreSQL ready in {time.perf_counter() - started:.2f}s "
            f"(data in {settings.data_dir.resolve()})"
        )
        yield DatabaseTarget(
            app_url=bootstrap.with_parts(owner_url, user=bootstrap.APP_LOGIN_ROLE),
            owner_url=owner_url,
            embedded=server,
        )
    finally:
        server.stop()


@contextmanager
def refusals_said(target: DatabaseTarget) -> Iterator[DatabaseTarget]:
    """``target``, for a block in which a database that cannot be reached, or refuses the
    login, ends the command with that said in one line (exit 1), not a traceback."""
    try:
        yield target
    except typer.Exit:
        raise
    except Exception as exc:
        cause = _unreachable(exc)
        if cause is None:
            raise
        console.print(f"[red]Cannot use the database at {_without_password(target.app_url)}"
                      f" (or its migration URL): {type(cause).__name__}: {cause}[/red]",
                      soft_wrap=True)
        raise typer.Exit(1) from None


def _with_runtime(settings: Settings, target: DatabaseTarget,
                  work: Callable[[Runtime], Awaitable[T]], *, schema: bool = True) -> T:
    """Run ``work`` with a small runtime on ``target`` (no event bus, no worker). With
    ``schema``, a database the migrations never reached ends the command in one line
    (exit 1) instead of ``work`` failing on a missing function."""
    from focushub.health.service import schema_revision
    from focushub.wiring import build_runtime

    async def run() -> T:
        rt = build_runtime(settings.model_copy(update={"database_url": target.app_url}),
                           pool_size=1)
        try:
            if schema and await schema_revision(rt) is None:
                console.print(f"[red]The database at {_without_password(target.app_url)} has "
                              "no Focus Hub schema: run `focushub migrate` first.[/red]",
                              soft_wrap=True)
                raise typer.Exit(1)
            return await work(rt)
        finally:
            await rt.stop()

    return asyncio.run(run())


def _postgres_error(exc: BaseException) -> BaseException | None:
    """The error PostgreSQL itself answered with, in ``exc``'s chain, if any."""
    import asyncpg

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, asyncpg.PostgresError):
            return current
        todo += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return None


def _migrate(target: DatabaseTarget) -> None:
    """Apply the migrations; a refusal PostgreSQL answers ends the command in one line
    (exit 1). A database a newer release migrated is left as it is, and said so."""
    started = time.perf_counter()
    revision = runner.head_revision()
    try:
        runner.upgrade(target.owner_url)
    except Exception as exc:
        if _unreachable(exc) is not None:
            raise  # said by refusals_said
        current = runner.current_revision_sync(target.owner_url)
        if current is None or current in runner.revisions():
            refusal = _postgres_error(exc)
            if refusal is None:
                raise
            # The run is one transaction (migrations/env.py): nothing of it stays.
            console.print(f"[red]Migrations were not applied ({type(refusal).__name__}: "
                          f"{refusal}); the schema is still at {current or 'no revision'}.[/red]",
                          soft_wrap=True)
            raise typer.Exit(1) from None
        # A rolling deploy migrates before it replaces the processes: an old one that
        # restarts meanwhile must still start (its /readyz stays 200), as must an image
        # rolled back.
        console.print(f"[yellow]The database is at revision {current}, a newer release's: "
                      "nothing to migrate. This version serves it as long as that release "
                      "kept what this one uses (docs/deployment.md).[/yellow]", soft_wrap=True)
        revision = current
    if target.embedded is not None:
        asyncio.run(bootstrap.ensure_login_role(target.owner_url))
    else:
        _ensure_api_role_membership(target)
    console.print(f"Schema at {revision} ({time.perf_counter() - started:.2f}s)")


def _ensure_api_role_membership(target: DatabaseTarget) -> None:
    import asyncpg

    try:
        asyncio.run(bootstrap.ensure_api_role_membership(target.app_url))
    except asyncpg.InsufficientPrivilegeError:
        # The login role may not grant itself the API roles (it should not be able to).
        login = make_url(target.app_url).username or "the login role"
        console.print(f"[red]The schema is migrated, but {login} may not switch to the API "
                      "roles: as a superuser run GRANT anon, authenticated, service_role TO "
                      f"{login};[/red]", soft_wrap=True)
        raise typer.Exit(1) from None


def _configure_logging(settings: Settings) -> None:
    from focushub.core.observability import configure_logging

    configure_logging(settings.log_level, settings.log_format)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes")] = 1,
) -> None:
    """Migrate if needed, then serve the API (embedded PostgreSQL unless FOCUSHUB_DATABASE_URL is set)."""
    settings = _settings()
    _configure_logging(settings)
    settings.resolved_jwt_secret()  # create the development secret once, before workers fork
    with database_target(settings, watch=True) as target:
        _migrate(target)
        if asyncio.run(bootstrap.role_bypasses_rls(target.app_url)):
            console.print(
                "[yellow]The server's login role is a superuser or has BYPASSRLS. Requests still "
                "switch to anon/authenticated, but use a dedicated role in production.[/yellow]"
            )
        # Worker processes read their settings from the environment: hand them the resolved URL.
        os.environ["FOCUSHUB_DATABASE_URL"] = target.app_url
        get_settings.cache_clear()
        console.print(f"Focus Hub on http://{host}:{port} (docs at /docs)")
        metrics_dir = None
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # The processes write their metrics to one new directory, so that a scrape of
            # any of them reports all (core/observability.py); it goes when they stop.
            metrics_dir = tempfile.mkdtemp(prefix="focushub-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        try:
            _run_uvicorn(settings, host, port, workers)
        finally:
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from focushub.realtime import gateway

    uvicorn.run(
        "focushub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # Our own access log line (with the request id) replaces uvicorn's.
        access_log=False,
        log_config=None,
        # Forwarded headers only from configured proxies (uvicorn would trust 127.0.0.1).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        **gateway.server_options(settings),
    )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Jobs run at once")] = None,
) -> None:
    """Run background jobs only, until SIGINT/SIGTERM (which let running jobs finish).

    For production, with ``FOCUSHUB_WORKER_IN_PROCESS=false`` on the servers; any number
    of workers may run: each job runs once.
    """
    from focushub.wiring import build_runtime

    settings = _settings()
    _configure_logging(settings)
    # A worker on the embedded database restarts it if it crashes, as `serve` does.
    with database_target(settings, watch=True) as target:
        _migrate(target)

        async def run() -> None:
            rt = build_runtime(settings.model_copy(update={"database_url": target.app_url}),
                               pool_size=max(2, concurrency or settings.worker_concurrency))
            await rt.start()
            try:
                console.print(f"Worker running {len(rt.jobs.task_names)} tasks")
                await rt.jobs.run_worker(
                    rt, concurrency=concurrency or settings.worker_concurrency,
                    shutdown_timeout=settings.worker_shutdown_timeout,
                    install_signal_handlers=True)
            finally:
                await rt.stop()

        asyncio.run(run())


@app.command()
def jobs(
    retry: Annotated[int | None, typer.Option(help="Put this failed job back in the queue")] = None,
    failed: Annotated[int, typer.Option(min=1, max=500, help="Failed jobs to list")] = 20,
) -> None:
    """Show the job queue: jobs per task and status, and the failed (dead) ones."""
    from focushub.core import maintenance

    # Job ids are PostgreSQL bigints from 1; a number beyond them cannot even be sent.
    if retry is not None and not 1 <= retry <= MAX_JOB_ID:
        console.print(f"[red]--retry: no job has the id {retry} (ids run from 1 to "
                      f"{MAX_JOB_ID})[/red]", soft_wrap=True)
        raise typer.Exit(2)
    settings = _settings()
    with database_target(settings) as target:
        if retry is not None:
            try:
                ok = _with_runtime(settings, target,
                                   lambda rt: maintenance.retry_failed(rt, retry))
            except maintenance.RetryRefused as exc:
                console.print(f"[red]{exc}[/red]", soft_wrap=True)
                raise typer.Exit(1) from None
            if not ok:
                console.print(f"[red]No failed job {retry}[/red]")
                raise typer.Exit(1)
            console.print(f"Job {retry} is queued again.")
        state = _with_runtime(
            settings, target, lambda rt: maintenance.queue_state(rt, failed_limit=failed))
    counts = Table("task", "status", "jobs", title="Jobs")
    for row in state["counts"]:
        counts.add_row(row["task_name"], row["status"], f"{row['jobs']:,}")
    Console().print(counts)
    dead = Table("id", "task", "args", "attempts", "failed at", title="Failed jobs")
    for row in state["failed"]:
        dead.add_row(str(row["id"]), row["task_name"], str(row["args"]), str(row["attempts"]),
                     f"{row['at']:%Y-%m-%d %H:%M:%S}" if row["at"] else "")
    Console().print(dead)


@app.command("db-stats")
def db_stats() -> None:
    """The database's health: table sizes, unused indexes, cache hits, connections, long
    transactions, dead rows, and the slowest statements where pg_stat_statements exists."""
    from focushub.health import dbstats

    settings = _settings()
    with database_target(settings) as target:
        report = asyncio.run(dbstats.collect(target.owner_url))
    out = Console()
    for name, rows in report.items():
        if isinstance(rows, str):
            out.print(f"[bold]{name.replace('_', ' ')}[/bold]: {rows}")
            continue
        table = Table(*(rows[0].keys() if rows else ["(none)"]), title=name.replace("_", " "))
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        out.print(table)


def _tool_dirs(settings: Settings, target: DatabaseTarget) -> list[Path]:
    """The bundled pg_dump/pg_restore (PostgreSQL 18): the embedded server's own, and a
    candidate for an external server of the same major version."""
    if target.embedded is not None:
        return [target.embedded.bin_dir]
    from focushub.devdb.supervisor import EmbeddedPostgres, EmbeddedUnavailable

    try:
        return [EmbeddedPostgres(settings.data_dir.resolve()).bin_dir]
    except EmbeddedUnavailable:
        return []


@app.command()
def backup(
    output: Annotated[Path | None, typer.Option(
        help="Archive to write (default: focushub-backup-<UTC timestamp>.tar here)")] = None,
) -> None:
    """Write one archive of the database (pg_dump, every schema) and the local files, with a
    manifest of row counts and checksums."""
    from focushub.health import backup as backups

    settings = _settings()
    target_file = output or Path(backups.default_backup_name())
    with database_target(settings) as target:

        async def run(rt: Runtime) -> dict[str, Any]:
            with backups.progress_bars(console) as bars:
                return await backups.create_backup(
                    target.owner_url, target_file, storage=rt.storage,
                    tool_dirs=_tool_dirs(settings, target), progress=bars)

        try:
            manifest = _with_runtime(settings, target, run, schema=False)
        except backups.BackupError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    storage = manifest["storage"]
    rows = sum(manifest["row_counts"].values())
    console.print(f"[green]{target_file.resolve()}[/green]: {len(manifest['row_counts'])} tables, "
                  f"{rows:,} rows, revision {manifest['migration_revision']}, "
                  f"{target_file.stat().st_size:,} bytes")
    if storage["included"]:
        console.print(f"{storage['objects']} local files ({storage['bytes']:,} bytes) included.")
        if storage["missing_objects"]:
            console.print(f"[yellow]{len(storage['missing_objects'])} stored_files rows name an "
                          "object that is not in the files folder (see the manifest).[/yellow]")
    else:
        console.print(f"[yellow]{storage['note']}[/yellow]")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `focushub backup`")],
    database_url: Annotated[str | None, typer.Option(
        help="Empty database to restore into, as the role that will own the schema "
             "(default: the migration URL, or the embedded server's database)")] = None,
) -> None:
    """Restore an archive into an EMPTY database and the configured local files folder, after
    checking every checksum; then compare row counts with the manifest."""
    from focushub.health import backup as backups

    settings = _settings()
    login_role = (make_url(settings.database_url).username if settings.database_url
                  else bootstrap.APP_LOGIN_ROLE) or bootstrap.APP_LOGIN_ROLE
    if database_url:
        try:
            check_postgres_url(database_url)
        except ValueError as exc:
            console.print(f"[red]--database-url: {exc}[/red]", soft_wrap=True)
            raise typer.Exit(2) from None
        given = DatabaseTarget(app_url=bootstrap.with_parts(database_url, user=login_role),
                               owner_url=database_url, embedded=None)
        targets: Any = refusals_said(given)
    else:
        targets = database_target(settings)
    with targets as target:

        async def run(rt: Runtime) -> backups.RestoreReport:
            with backups.progress_bars(console) as bars:
                return await backups.restore_backup(
                    archive, target.owner_url, storage=rt.storage, login_role=login_role,
                    tool_dirs=_tool_dirs(settings, target), progress=bars)

        try:
            report = _with_runtime(settings, target, run, schema=False)
        except backups.BackupError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    table = Table("table", "rows in the archive", "rows restored", "", title="Restored")
    for name, (expected, restored) in report.rows.items():
        table.add_row(name, "" if expected is None else f"{expected:,}",
                      "" if restored is None else f"{restored:,}",
                      "ok" if expected == restored else "[red]differs[/red]")
    Console().print(table)
    console.print(f"Files: {report.files_written} written, {report.files_already_there} "
                  "already there with the same content.")
    if not report.manifest["storage"]["included"]:
        console.print(f"[yellow]{report.manifest['storage'].get('note', '')}[/yellow]")
    if report.mismatches:
        console.print(f"[red]Row counts differ from the manifest: {report.mismatches}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]Restored {archive}[/green] at revision "
                  f"{report.manifest['migration_revision']}; `focushub serve` migrates it to "
                  "this version if it is older.")


@app.command()
def migrate() -> None:
    """Apply migrations and exit."""
    settings = _settings()
    _configure_logging(settings)
    with database_target(settings) as target:
        _migrate(target)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Email of the admin account")],
    username: Annotated[str, typer.Option(help="Username (3-50 of a-z, 0-9, _)")],
    full_name: Annotated[str, typer.Option(help="Full name for a new account")] = "Administrator",
    password: Annotated[
        str | None, typer.Option(help="Password for a new account (prompted when omitted)")
    ] = None,
) -> None:
    """Create an admin account, or promote the existing account with this email."""
    from pydantic import TypeAdapter, ValidationError

    from focushub.auth import service as auth_service
    from focushub.auth.schemas import SignupCreate
    from focushub.core.errors import as_app_error
    if password is None:
        password = getpass.getpass("Password (used only if the account is new): ")
    try:
        data = TypeAdapter(SignupCreate).validate_python(
            {"email": email, "username": username, "full_name": full_name, "password": password}
        )
    except ValidationError as exc:
        # One line per option, escaped: as console markup, the username's pattern lost its
        # "[a-z0-9_]" and read '^{3,50}$'.
        for error in exc.errors():
            option = "--" + "-".join(str(p) for p in error["loc"]).replace("_", "-")
            console.print(f"[red]{option}: {escape(error['msg'])}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None

    settings = _settings()
    with database_target(settings) as target:
        _migrate(target)

        async def run(rt: Runtime) -> Any:
            return await auth_service.ensure_admin(rt, data, rt.passwords.hash(data.password))

        try:
            row = _with_runtime(settings, target, run)
        except Exception as exc:
            # A refusal (the username is someone else's) is said in one line; a traceback
            # would print the statement's parameters, the new password's hash among them.
            refusal = as_app_error(exc)
            if refusal is None or refusal.status_code >= 500:
                raise
            console.print(f"[red]create-admin: {refusal.message}; nothing was changed[/red]",
                          soft_wrap=True)
            raise typer.Exit(1) from None
    console.print(f"[green]{row['email']}[/green] (@{row['username']}) is an admin.")


@app.command()
def outbox(limit: Annotated[int, typer.Option(min=1, max=500)] = 20) -> None:
    """Show the latest queued mail (verification and reset links when no SMTP is set)."""
    from focushub.auth import mail

    settings = _settings()
    with database_target(settings) as target:
        rows = _with_runtime(settings, target, lambda rt: mail.outbox(rt, limit))
    table = Table("id", "to", "subject", "created", "sent")
    # Fold, never cut: the body carries a token that must be copied whole.
    table.add_column("body", overflow="fold")
    for row in rows:
        sent = "yes" if row["sent_at"] else f"no ({row['last_error']})" if row["last_error"] else "no"
        table.add_row(
            str(row["id"]), row["to_email"], row["subject"], f"{row['created_at']:%Y-%m-%d %H:%M}",
            sent, row["body"],
        )
    Console().print(table)


@app.command()
def seed(
    scale: Annotated[float, typer.Option(min=0.001, max=100, help="1 = 10k users, 100k posts, 500k votes")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 42,
    reset: Annotated[bool, typer.Option(help="Replace the existing content (TRUNCATE users CASCADE)")] = False,
    check: Annotated[bool, typer.Option(help="Recount every counter after loading")] = True,
    jobs: Annotated[int | None, typer.Option(
        min=1, max=16, help="Tables loaded at once, each on its own connection")] = None,
) -> None:
    """Fill the database with generated data (COPY, as the schema owner); see focushub/seed."""
    from focushub.seed import SEED_PASSWORD, SeedError, seed_database
    from focushub.seed.load import DEFAULT_JOBS

    settings = _settings()
    _configure_logging(settings)
    with database_target(settings) as target:
        _migrate(target)
        try:
            report = asyncio.run(
                seed_database(target.owner_url, scale=scale, seed=seed, reset=reset, check=check,
                              jobs=jobs or DEFAULT_JOBS)
            )
        except SeedError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    table = Table("table", "rows", "copy", "indexes", "analyze")
    for name, rows in report.rows.items():
        t = report.tables.get(name, {})
        table.add_row(name, f"{rows:,}", *(f"{t.get(k, 0):.1f}s" for k in ("copy", "indexes", "analyze")))
    Console().print(table)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    console.print(f"Loaded scale {scale} (seed {seed}) in {report.total_seconds:.1f}s over "
                  f"{report.jobs} connections: {steps} (the plan took {report.plan_seconds:.1f}s, "
                  "while the first tables loaded)")
    bad = {k: v for k, v in report.mismatches.items() if v}
    if bad:
        console.print(f"[red]Counters differ from recounts: {bad}[/red]")
        raise typer.Exit(1)
    if check:
        console.print("Every counter equals its recount.")
    console.print(f"Every seeded user logs in with the password [bold]{SEED_PASSWORD}[/bold].")
