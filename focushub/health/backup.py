"""One-file backups of a Focus Hub installation, and their restore into an empty database.

An archive is an uncompressed tar (``pg_dump -Fc`` compresses the database part itself)::

    database.dump     pg_dump custom format: every schema (public, auth, focushub_auth, procrastinate)
                      with data, grants and policies
    files/<key>       each object of the local object store, under its storage key
    manifest.json     format version, Focus Hub version, migration revision, created-at,
                      exact row counts per table, sha256 and size of every other member

The row counts and the dump read the same snapshot (``pg_export_snapshot`` handed to
``pg_dump --snapshot``), so they agree even while the server keeps writing. The local
files are copied after the snapshot: a file uploaded meanwhile is an extra (the orphan
sweep removes it after a restore); a file deleted meanwhile is listed in the manifest as
missing. With S3 storage the objects stay in the bucket and the manifest says so.

A restore checks everything it can before it changes anything: every checksum, the
migration revision (one this code knows), the PostgreSQL versions, that the target has
none of the archive's tables, and that no existing local file would be overwritten with
different content. It then makes sure the cluster-level roles exist (``pg_dump`` does
not carry roles), runs ``pg_restore`` in one transaction (all or nothing), writes the
files, and recounts every table.

Both run ``pg_dump``/``pg_restore`` of the server's major version: the bundled ones of
the embedded server (passed in ``tool_dirs``), ``/usr/lib/postgresql/<major>/bin`` or the
ones in ``PATH``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text
from sqlalchemy.engine import make_url

import focushub
from focushub.core import bootstrap
from focushub.integrations.storage import LocalStore, ObjectStore, S3Store
from focushub.migrations import runner

FORMAT = "focushub-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBER = "database.dump"
FILES_PREFIX = "files/"
API_ROLES = ("anon", "authenticated", "service_role")
_CHUNK = 1024 * 1024

# Every table of the database, the Focus Hub schemas and whatever else lives there alike:
# the backup is of the whole database. format('%I.%I') quotes names that need it.
_TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname) AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1
"""

# The roles of migration 0001, as it creates them (NOLOGIN; service_role bypasses RLS).
# The policies and grants in a dump name them, so they must exist before pg_restore.
_API_ROLES_SQL = """
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
END
$roles$
"""


class BackupError(Exception):
    """A backup or restore that cannot go on; ``str()`` tells the operator why and what to do."""


# --- progress ----------------------------------------------------------------------------------


class _Amount(ProgressColumn):
    """``12.3 MB/40.0 MB`` for byte counts, ``7/31 tables`` for the rest."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        total = int(task.total or 0)
        done = int(task.completed)
        if unit == "bytes":
            return Text(f"{_size(done)}/{_size(total)}")
        return Text(f"{done}/{total} {unit}")


def progress_bars(console: Console) -> Progress:
    """The bars :func:`create_backup` and :func:`restore_backup` draw on ``console``."""
    return Progress(TextColumn("{task.description:<26}"), BarColumn(), _Amount(),
                    TimeElapsedColumn(), console=console)


@contextmanager
def _step(progress: Progress | None, description: str, total: float,
          unit: str) -> Iterator[Callable[[float], None]]:
    """An ``advance(amount)`` for one bar, completed when the step ends without error."""
    if progress is None:
        yield lambda amount: None
        return
    task = progress.add_task(description, total=total, unit=unit)
    yield lambda amount: progress.advance(task, amount)
    progress.update(task, completed=total)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# --- pg_dump / pg_restore ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientTools:
    pg_dump: Path
    pg_restore: Path
    version: str  # "pg_dump (PostgreSQL) 15.20 ..."
    major: int


def _tool_version(binary: Path) -> tuple[int, str] | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    return (int(match.group(1)), out) if match else None


def find_client_tools(server_major: int, tool_dirs: Sequence[Path] = ()) -> ClientTools:
    """``pg_dump`` and ``pg_restore`` of major version ``server_major``.

    Looked for in ``tool_dirs`` (the embedded server's bundled binaries), then in
    ``/usr/lib/postgresql/<major>/bin`` (Debian, Ubuntu), then in ``PATH``. Raises
    :class:`BackupError` naming what was found when none matches: a pg_dump of another
    major version either refuses the server or writes an archive the server's own
    pg_restore may not read.
    """
    candidates = [Path(d) for d in tool_dirs]
    candidates.append(Path(f"/usr/lib/postgresql/{server_major}/bin"))
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(Path(on_path).parent)
    seen: list[str] = []
    for folder in dict.fromkeys(candidates):
        dump, restore = folder / "pg_dump", folder / "pg_restore"
        if not (dump.is_file() and restore.is_file()):
            continue
        found = _tool_version(dump)
        if found is None:
            continue
        major, text = found
        if major == server_major and _tool_version(restore) is not None:
            return ClientTools(dump, restore, text, major)
        seen.append(f"{dump} is {major}")
    also = f" (found: {'; '.join(seen)})" if seen else " (none found)"
    raise BackupError(
        f"No pg_dump/pg_restore of PostgreSQL {server_major} is available{also}. Install the "
        f"PostgreSQL {server_major} client tools (Debian/Ubuntu: postgresql-client-{server_major}) "
        "so that they are in PATH or in /usr/lib/postgresql/<major>/bin.")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for libpq without its password, and the environment that carries the password
    (a password on a command line is visible to every user of the machine)."""
    parsed = make_url(bootstrap.with_parts(url))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    conninfo = parsed.set(password=None).render_as_string(hide_password=False)
    return conninfo, env


async def _run_tool(args: list[str], env: dict[str, str], *, marker: str,
                    advance: Callable[[float], None]) -> None:
    """Run a client tool with ``--verbose``; each stderr line containing ``marker`` advances the
    bar. Raises :class:`BackupError` with the tool's last messages when it fails."""
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    messages: list[str] = []
    while line := await proc.stderr.readline():
        text = line.decode(errors="replace").rstrip()
        if marker in text:
            advance(1)
        if text:
            messages = [*messages[-29:], text]
    if await proc.wait() != 0:
        detail = "\n".join(m for m in messages if "error" in m.lower() or "fatal" in m.lower())
        raise BackupError(f"{Path(args[0]).name} failed (exit {proc.returncode}):\n"
                          f"{detail or chr(10).join(messages)}")


async def _server_major(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SHOW server_version_num")) // 10000


async def _row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in [r["name"] for r in await conn.fetch(_TABLES_SQL)]:
        # ``name`` comes from the catalog, quoted by format('%I.%I').
        counts[name] = int(await conn.fetchval(f"SELECT count(*) FROM {name}"))
    return counts


# --- archive members ---------------------------------------------------------------------------


def _check_member_name(name: str) -> str:
    """Only ``database.dump`` and ``files/<key>`` with a storage key's shape: a crafted archive
    must not write outside the storage folder."""
    if name == DATABASE_MEMBER:
        return name
    key = name.removeprefix(FILES_PREFIX)
    parts = key.split("/")
    if (not name.startswith(FILES_PREFIX) or not key or "\\" in key
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts)):
        raise BackupError(f"The archive names a file it may not contain: {name!r}")
    return name


def _sha256_of(handle: IO[bytes], advance: Callable[[float], None]) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        advance(len(chunk))
    return digest.hexdigest()


class _HashingReader:
    """A read-only file that hashes what passes through it (tarfile.addfile reads it once)."""

    def __init__(self, handle: IO[bytes], advance: Callable[[float], None]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        self.advance(len(chunk))
        return chunk


def _add(archive: tarfile.TarFile, name: str, path: Path, advance: Callable[[float], None],
         entries: dict[str, dict[str, Any]]) -> None:
    info = tarfile.TarInfo(name)
    stat = path.stat()
    info.size = stat.st_size
    info.mtime = int(stat.st_mtime)
    info.mode = 0o600
    with path.open("rb") as handle:
        reader = _HashingReader(handle, advance)
        archive.addfile(info, reader)  # type: ignore[arg-type]
    entries[name] = {"sha256": reader.digest.hexdigest(), "size": info.size}


# --- backup ------------------------------------------------------------------------------------


def default_backup_name(now: datetime | None = None) -> str:
    return f"focushub-backup-{(now or datetime.now(UTC)):%Y%m%d-%H%M%S}.tar"


def _storage_section(storage: ObjectStore) -> dict[str, Any]:
    if isinstance(storage, S3Store):
        where = f"s3://{storage.bucket}/{storage.prefix}"
        return {"backend": "s3", "included": False, "location": where,
                "note": f"Objects stay in the bucket ({where}) and are not copied: back the "
                        "bucket up with the store's own tools (versioning, replication)."}
    return {"backend": storage.name, "included": True}


async def create_backup(owner_url: str, output: Path, *, storage: ObjectStore,
                        tool_dirs: Sequence[Path] = (),
                        progress: Progress | None = None) -> dict[str, Any]:
    """Write the archive of the database at ``owner_url`` and the local files of ``storage`` to
    ``output``; returns the manifest.

    Precondition: ``owner_url`` may read every table (the schema owner or a superuser; RLS is
    off for the dump, and PostgreSQL refuses a dump that a policy would cut). ``output`` must
    not exist: the archive is written beside it and renamed, so a failed backup leaves
    nothing named ``output``.
    """
    output = output.resolve()
    if output.exists():
        raise BackupError(f"{output} exists already; choose another --output")
    if not output.parent.is_dir():
        raise BackupError(f"The folder {output.parent} does not exist")
    conninfo, env = _libpq(owner_url)
    partial = output.with_name(f".{output.name}.partial")
    # Before the dump, not after it: a folder the service may not write to was found
    # only when the archive was written, as a traceback, after the whole dump.
    try:
        partial.open("wb").close()
    except OSError as exc:
        raise BackupError(f"Cannot write in {output.parent}: {exc.strerror}") from None
    try:
        conn = await asyncpg.connect(bootstrap.with_parts(owner_url))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    try:
        major = await _server_major(conn)
        tools = find_client_tools(major, tool_dirs)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            await conn.execute("SET LOCAL row_security = off")
            revision = await conn.fetchval(
                "SELECT version_num FROM alembic_version LIMIT 1"
            ) if await conn.fetchval("SELECT to_regclass('public.alembic_version')") else None
            if revision is None:
                raise BackupError("The database has no Focus Hub schema (no alembic_version): "
                                  "nothing to back up")
            counts = await _row_counts(conn)
            referenced = {r["storage_key"] for r in await conn.fetch(
                "SELECT storage_key FROM stored_files")} if await conn.fetchval(
                "SELECT to_regclass('public.stored_files')") else set()
            server_version = await conn.fetchval("SHOW server_version")
            with tempfile.TemporaryDirectory(prefix="focushub-backup-") as tmp:
                dump = Path(tmp) / DATABASE_MEMBER
                with _step(progress, "Dumping the database", len(counts), "tables") as advance:
                    await _run_tool(
                        [str(tools.pg_dump), "--format=custom", "--verbose", "--no-password",
                         f"--snapshot={snapshot}", f"--file={dump}", f"--dbname={conninfo}"],
                        env, marker="dumping contents of table", advance=advance)
                manifest = await asyncio.to_thread(
                    _write_archive, partial, dump, storage, progress)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is not None:
            # A full disk or a file that went away: said, not a traceback.
            raise BackupError(f"The backup failed: {exc}") from None
        raise
    finally:
        await conn.close()
    stored = {name.removeprefix(FILES_PREFIX) for name in manifest["files"]
              if name.startswith(FILES_PREFIX)}
    manifest.update({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "focushub_version": focushub.__version__,
        "migration_revision": revision,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "postgres": {"server_version": server_version, "server_major": major,
                     "pg_dump": tools.version},
        "row_counts": counts,
    })
    if manifest["storage"]["included"]:
        # Rows whose object was deleted between the snapshot and the copy, or lost before.
        manifest["storage"]["missing_objects"] = sorted(referenced - stored)
    try:
        await asyncio.to_thread(_append_manifest, partial, manifest)
        os.replace(partial, output)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is not None:
            raise BackupError(f"The backup failed: {exc}") from None
        raise
    return manifest


def _write_archive(partial: Path, dump: Path, storage: ObjectStore,
                   progress: Progress | None) -> dict[str, Any]:
    """The tar without its manifest: the dump, then every local object. Runs in a thread."""
    entries: dict[str, dict[str, Any]] = {}
    local: list[tuple[str, Path]] = []
    if isinstance(storage, LocalStore) and storage.root.is_dir():
        for path in sorted(storage.root.rglob("*")):
            # Dot files are a put's partial writes, never objects.
            if path.is_file() and not any(p.startswith(".") for p in
                                          path.relative_to(storage.root).parts):
                local.append((FILES_PREFIX + path.relative_to(storage.root).as_posix(), path))
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        with _step(progress, "Archiving the dump", dump.stat().st_size, "bytes") as advance:
            _add(archive, DATABASE_MEMBER, dump, advance, entries)
        total = sum(path.stat().st_size for _, path in local)
        with _step(progress, f"Archiving {len(local)} files", total, "bytes") as advance:
            for name, path in local:
                _add(archive, name, path, advance, entries)
    storage_section = _storage_section(storage)
    if storage_section["included"]:
        storage_section.update(objects=len(local), bytes=sum(p.stat().st_size for _, p in local))
    return {"storage": storage_section, "files": entries}


def _append_manifest(partial: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    with tarfile.open(partial, "a", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        info.mtime = int(datetime.now(UTC).timestamp())
        info.mode = 0o600
        archive.addfile(info, io.BytesIO(data))
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())


# --- restore -----------------------------------------------------------------------------------


def read_manifest(archive_path: Path) -> dict[str, Any]:
    """The archive's manifest, checked for shape (not yet for checksums)."""
    try:
        with tarfile.open(archive_path, "r:") as archive:
            member = archive.getmember(MANIFEST)
            handle = archive.extractfile(member)
            if handle is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(handle.read())
    except FileNotFoundError:
        raise BackupError(f"{archive_path} does not exist") from None
    except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
        raise BackupError(f"{archive_path} is not a Focus Hub backup ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive_path} is not a Focus Hub backup (no manifest format)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{archive_path} has backup format {manifest.get('format_version')}; "
                          f"this Focus Hub reads format {FORMAT_VERSION}")
    files = manifest.get("files")
    if not isinstance(files, dict) or DATABASE_MEMBER not in files:
        raise BackupError(f"{archive_path} lists no {DATABASE_MEMBER}")
    for name, entry in files.items():
        _check_member_name(name)
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("size"), int)):
            raise BackupError(f"{archive_path}: the manifest entry of {name!r} is malformed")
    if not isinstance(manifest.get("row_counts"), dict):
        raise BackupError(f"{archive_path}: the manifest has no row counts")
    return manifest


def verify_archive(archive_path: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Check every member against the manifest (size and sha256; nothing missing, nothing
    extra); returns the manifest. Raises :class:`BackupError` naming the first bad member."""
    manifest = read_manifest(archive_path)
    expected: dict[str, dict[str, Any]] = manifest["files"]
    total = sum(entry["size"] for entry in expected.values())
    seen: set[str] = set()
    with tarfile.open(archive_path, "r:") as archive, \
            _step(progress, "Verifying checksums", total, "bytes") as advance:
        for member in archive:
            if member.name == MANIFEST:
                continue
            entry = expected.get(member.name)
            if entry is None or not member.isfile() or member.name in seen:
                raise BackupError(f"The archive holds {member.name!r}, which its manifest does "
                                  "not list: it was altered; nothing was restored")
            handle = archive.extractfile(member)
            assert handle is not None
            if member.size != entry["size"] or _sha256_of(handle, advance) != entry["sha256"]:
                raise BackupError(f"Checksum mismatch for {member.name!r}: the archive is "
                                  "corrupted or was altered; nothing was restored")
            seen.add(member.name)
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(f"The archive lacks {missing[:5]} listed in its manifest; "
                          "nothing was restored")
    return manifest


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    # table -> (rows in the manifest, rows after the restore); None where one side lacks it
    rows: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    files_written: int = 0
    files_already_there: int = 0

    @property
    def mismatches(self) -> dict[str, tuple[int | None, int | None]]:
        return {t: pair for t, pair in self.rows.items() if pair[0] != pair[1]}


async def _existing_tables(conn: asyncpg.Connection, names: Sequence[str]) -> list[str]:
    present = {r["name"] for r in await conn.fetch(_TABLES_SQL)}
    return sorted(present & {*names, "public.alembic_version"})


async def _ensure_roles(conn: asyncpg.Connection, login_role: str) -> None:
    """The roles a dump refers to but does not carry, created as migration 0001 and
    ``bootstrap.ensure_login_role`` create them."""
    try:
        await conn.execute(_API_ROLES_SQL)
        if login_role == await conn.fetchval("SELECT current_user"):
            # The schema owner serves too (an external database without a separate role).
            missing = await conn.fetchval(
                "SELECT count(*) FROM unnest($1::text[]) r"
                " WHERE NOT pg_has_role(current_user, r, 'MEMBER')", list(API_ROLES))
            if missing:
                await conn.execute("GRANT anon, authenticated, service_role TO CURRENT_USER")
            return
        quoted = await conn.fetchval("SELECT quote_ident($1)", login_role)
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", login_role):
            if login_role != bootstrap.APP_LOGIN_ROLE:
                raise BackupError(
                    f"The login role {login_role!r} of FOCUSHUB_DATABASE_URL does not exist on "
                    f"the target server; create it first: CREATE ROLE {quoted} LOGIN NOINHERIT "
                    "NOBYPASSRLS PASSWORD '…';")
            await conn.execute(f"CREATE ROLE {quoted} LOGIN NOINHERIT NOBYPASSRLS")
        await conn.execute(f"GRANT anon, authenticated, service_role TO {quoted}")
    except asyncpg.InsufficientPrivilegeError as exc:
        raise BackupError(
            f"Cannot create or grant the roles {', '.join(API_ROLES)} and {login_role!r} "
            f"({exc}); create them first as a superuser, as docs/deployment.md (The database) "
            "shows, or restore as a superuser (CREATEROLE cannot give service_role its "
            "BYPASSRLS)") from None


def _file_conflicts(storage: ObjectStore, manifest: dict[str, Any]) -> tuple[list[str], int]:
    """(objects that exist with other content, objects that exist with the same content)."""
    keys = {name.removeprefix(FILES_PREFIX): entry for name, entry in manifest["files"].items()
            if name.startswith(FILES_PREFIX)}
    if not keys:
        return [], 0
    if not isinstance(storage, LocalStore):
        raise BackupError(
            f"The archive holds {len(keys)} local files but the configured storage is "
            f"{storage.name}; restore with local storage (FOCUSHUB_STORAGE_URL unset) and copy "
            "the files folder into the bucket afterwards")
    different: list[str] = []
    same = 0
    for key, entry in keys.items():
        path = storage.root / key
        if path.is_symlink() or path.exists():
            if not path.is_file():
                different.append(key)
                continue
            with path.open("rb") as handle:
                if _sha256_of(handle, lambda n: None) == entry["sha256"]:
                    same += 1
                else:
                    different.append(key)
    return different, same


def _restore_files(archive_path: Path, storage: LocalStore, manifest: dict[str, Any],
                   progress: Progress | None) -> tuple[int, int]:
    """Write the archive's objects under the storage root (skipping identical ones); a file
    whose bytes no longer match the manifest is not put in place. Runs in a thread."""
    expected = manifest["files"]
    names = [n for n in expected if n.startswith(FILES_PREFIX)]
    written = skipped = 0
    total = sum(expected[n]["size"] for n in names)
    with tarfile.open(archive_path, "r:") as archive, \
            _step(progress, f"Restoring {len(names)} files", total, "bytes") as advance:
        for member in archive:
            if not member.name.startswith(FILES_PREFIX):
                continue
            entry = expected[member.name]
            target = storage.root / member.name.removeprefix(FILES_PREFIX)
            if target.is_file():  # checked beforehand: the same content
                skipped += 1
                advance(member.size)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            source = archive.extractfile(member)
            assert source is not None
            digest = hashlib.sha256()
            with partial.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    advance(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != entry["sha256"]:
                partial.unlink()
                raise BackupError(f"{member.name!r} changed while it was being restored")
            os.replace(partial, target)
            written += 1
    return written, skipped


async def restore_backup(archive_path: Path, owner_url: str, *, storage: ObjectStore,
                         login_role: str, tool_dirs: Sequence[Path] = (),
                         progress: Progress | None = None) -> RestoreReport:
    """Restore the archive into the empty database at ``owner_url`` and its files into
    ``storage``.

    ``owner_url`` connects as the role that will own the restored schema (the migration
    role); ``login_role`` is the role the server logs in as (created when it is
    ``focushub_app``, as for the embedded server). Nothing is changed unless the archive
    verifies, its revision is known to this code, the client tools match, the target holds
    none of its tables and no different file sits where one would be written. The
    database part is one transaction: it restores entirely or not at all.
    """
    archive_path = archive_path.resolve()
    manifest = await asyncio.to_thread(verify_archive, archive_path, progress)
    revision = manifest.get("migration_revision")
    if revision not in runner.revisions():
        raise BackupError(
            f"The archive is at migration revision {revision!r}, which this Focus Hub "
            f"({focushub.__version__}) does not know; restore it with the version that made it "
            f"({manifest.get('focushub_version')}) or a newer one")
    conninfo, env = _libpq(owner_url)
    conn = await asyncpg.connect(bootstrap.with_parts(owner_url))
    try:
        major = await _server_major(conn)
        postgres = manifest.get("postgres")
        dumped_by = int(postgres.get("server_major", 0)) if isinstance(postgres, dict) else 0
        if dumped_by > major:
            raise BackupError(
                f"The archive comes from PostgreSQL {dumped_by}; the target server runs "
                f"{major}. Restore it into a PostgreSQL {dumped_by} server or newer")
        tools = find_client_tools(major, tool_dirs)
        present = await _existing_tables(conn, list(manifest["row_counts"]))
        if present:
            shown = ", ".join(present[:5]) + (" …" if len(present) > 5 else "")
            raise BackupError(
                f"The target database is not empty: it has Focus Hub tables ({shown}). "
                "Restore only into an empty database (create a new one, or drop this one)")
        different, _ = await asyncio.to_thread(_file_conflicts, storage, manifest)
        if different:
            raise BackupError(
                f"{len(different)} files in {getattr(storage, 'root', storage.name)} differ "
                f"from the archive's ({', '.join(different[:3])}); nothing was restored. "
                "Restore into an empty storage folder")
        await _ensure_roles(conn, login_role)
        with tempfile.TemporaryDirectory(prefix="focushub-restore-") as tmp:
            dump = Path(tmp) / DATABASE_MEMBER
            await asyncio.to_thread(_extract, archive_path, DATABASE_MEMBER, dump)
            entries = await _toc_entries(tools, dump, env)
            with _step(progress, "Restoring the database", entries, "items") as advance:
                # --no-owner: the restoring role owns everything, as after `focushub migrate`
                # run by it; grants and policies (the access control) are restored as dumped.
                await _run_tool(
                    [str(tools.pg_restore), "--verbose", "--no-password", "--no-owner",
                     "--single-transaction", "--exit-on-error", f"--dbname={conninfo}",
                     str(dump)],
                    env, marker="pg_restore: ", advance=advance)
        report = RestoreReport(manifest)
        if isinstance(storage, LocalStore):
            report.files_written, report.files_already_there = await asyncio.to_thread(
                _restore_files, archive_path, storage, manifest, progress)
        await conn.execute("ANALYZE")
        after = await _row_counts(conn)
        expected: dict[str, int] = manifest["row_counts"]
        for table in sorted(set(expected) | set(after)):
            report.rows[table] = (expected.get(table), after.get(table))
        return report
    finally:
        await conn.close()


def _extract(archive_path: Path, name: str, target: Path) -> None:
    with tarfile.open(archive_path, "r:") as archive:
        source = archive.extractfile(archive.getmember(name))
        assert source is not None
        with target.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)


async def _toc_entries(tools: ClientTools, dump: Path, env: dict[str, str]) -> int:
    """Items in the dump's table of contents (the restore bar's total)."""
    proc = await asyncio.create_subprocess_exec(
        str(tools.pg_restore), "--list", str(dump), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore cannot read the dump: {err.decode(errors='replace')}")
    return sum(1 for line in out.decode(errors="replace").splitlines()
               if line.strip() and not line.startswith(";"))
