"""Apply Focus Hub's migrations to a database prepared the way Supabase prepares one.

    .venv/bin/python deploy/supabase/check.py [--server URL] [--first-only] [--json FILE]

``--server`` names a PostgreSQL server and a superuser that may create databases
(default ``postgresql://postgres@127.0.0.1:5432/postgres``). For each attempt the
script creates a fresh database, runs ``prepare.sql`` in it as that superuser, then
runs ``focushub.migrations.runner.upgrade`` logged in as ``supa_postgres``, the
stand-in for Supabase's non-superuser ``postgres`` role. A failure is reported with
its migration, the exact statement (the migration's script is replayed statement by
statement to find it), the SQLSTATE and the message.

Unless ``--first-only`` is given, a collision of the kind "Focus Hub creates or
changes object X in ``auth``" is worked around and the run starts again on a fresh
database, until the migrations pass or a failure of another kind stops it, so that
one run lists every such collision. The workaround is what migration 0032 made
permanent, applied to the SQL as it is sent: every reference to a Focus Hub object
``auth.X`` found so far is rewritten to ``focushub_auth.X``. Migration files are not
touched. ``tests/ops/test_supabase.py`` runs the check and requires no collision.

When the migrations pass, three more checks run:

* privileges: the same migrations (with the same rewrite) are applied to a plain
  database as the superuser, and every privilege held by ``anon``,
  ``authenticated``, ``service_role`` or ``PUBLIC`` on the objects Focus Hub made is
  compared; what the Supabase database has in excess comes from its default
  privileges and was not revoked by the migrations;
* claims: Focus Hub's own ``core.db.transaction`` runs as ``supa_authenticator``
  (the stand-in for ``authenticator``) and reads ``auth.uid()``, ``auth.role()`` and
  ``auth.jwt()``, which are Supabase's functions here, not Focus Hub's;
* login roles: whether the server would refuse each role as its login role
  (``bootstrap.role_bypasses_rls``).

Every database the script creates is dropped at the end, whatever happened. Roles are
created by ``prepare.sql`` only if missing and never altered or dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.util import await_only

import focushub.migrations.sql as migration_sql
from focushub.core.bootstrap import drop_database, ensure_database, role_bypasses_rls, with_parts
from focushub.core.db import ANONYMOUS, SERVICE, Caller, create_engine, transaction
from focushub.migrations import runner

HERE = Path(__file__).parent
PREPARE_SQL = HERE / "prepare.sql"
MIGRATION_ROLE = "supa_postgres"
LOGIN_ROLE = "supa_authenticator"
NEW_SCHEMA = "focushub_auth"
API_GRANTEES = ("anon", "authenticated", "service_role", "PUBLIC")
# Schemas that hold what Focus Hub's migrations create (after the rewrite).
FOCUSHUB_SCHEMAS = ("public", NEW_SCHEMA, "procrastinate")
# Permission denied, duplicate object/function/table, must be owner.
COLLISION_STATES = {"42501", "42710", "42723", "42P07"}


@dataclass
class Failure:
    migration: str
    statement: str
    sqlstate: str
    message: str
    detail: str | None = None


@dataclass
class Collision:
    failure: Failure
    moved: str | None  # the auth object moved to focushub_auth to go on, if any
    taken_by_supabase: bool = False  # an object of that name already exists in auth


@dataclass
class Report:
    collisions: list[Collision] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    passed: bool = False
    attempts: int = 0
    extra_effective: list[str] = field(default_factory=list)
    extra_grants: list[str] = field(default_factory=list)
    missing_grants: list[str] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
    login_roles: dict[str, bool] = field(default_factory=dict)


# ------------------------------------------------------------------ splitting SQL scripts
_TOKEN = re.compile(
    r"""(?P<dollar>\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$)|(?P<squote>')|(?P<dquote>")|(?P<line>--)|(?P<block>/\*)|(?P<semi>;)"""
)


def split_statements(script: str) -> list[str]:
    """Split a script into statements at top-level semicolons.

    Knows what PostgreSQL's lexer knows for this purpose: single-quoted strings,
    quoted identifiers, dollar-quoted bodies and both kinds of comment. Empty
    statements are dropped.
    """
    out: list[str] = []
    start = pos = 0
    while True:
        m = _TOKEN.search(script, pos)
        if m is None:
            break
        kind = m.lastgroup
        if kind == "semi":
            out.append(script[start:m.start()])
            start = pos = m.end()
            continue
        if kind == "dollar":
            close = script.find(m.group(), m.end())
            pos = len(script) if close < 0 else close + len(m.group())
        elif kind in ("squote", "dquote"):
            quote = m.group()
            end = m.end()
            while True:
                end = script.find(quote, end)
                if end < 0 or script[end + 1:end + 2] != quote:
                    break
                end += 2  # a doubled quote stands for itself
            pos = len(script) if end < 0 else end + 1
        elif kind == "line":
            end = script.find("\n", m.end())
            pos = len(script) if end < 0 else end + 1
        else:
            end = script.find("*/", m.end())
            pos = len(script) if end < 0 else end + 2
    out.append(script[start:])
    return [s.strip() for s in out if _meaningful(s)]


def _meaningful(statement: str) -> bool:
    bare = re.sub(r"--[^\n]*", "", statement)
    bare = re.sub(r"/\*.*?\*/", "", bare, flags=re.S)
    return bool(bare.strip())


def _without_leading_comments(statement: str) -> str:
    return re.sub(r"\A(?:\s*--[^\n]*\n|\s*/\*.*?\*/)*\s*", "", statement, flags=re.S)


# ------------------------------------------------------------------------ the rewrite
def rewrite(script: str, moved: set[str]) -> str:
    """Point every reference to a moved ``auth.X`` at ``focushub_auth.X``."""
    if not moved:
        return script
    names = "|".join(sorted((re.escape(n) for n in moved), key=len, reverse=True))
    return re.sub(rf"\bauth\.({names})\b", rf"{NEW_SCHEMA}.\1", script)


_SCHEMA_PRELUDE = f"""
CREATE SCHEMA IF NOT EXISTS {NEW_SCHEMA};
GRANT USAGE ON SCHEMA {NEW_SCHEMA} TO anon, authenticated, service_role;
"""

_AUTH_OBJECT = re.compile(
    r"\b(?:CREATE(?:\s+OR\s+REPLACE)?\s+(?:TABLE|FUNCTION|INDEX\s+\w+\s+ON|TYPE|VIEW|SEQUENCE)"
    r"|ALTER\s+(?:TABLE|FUNCTION)|COMMENT\s+ON\s+(?:FUNCTION|TABLE)"
    r"|(?:GRANT|REVOKE)\b.*?\bON\s+(?:FUNCTION|TABLE)?|DROP\s+(?:TABLE|FUNCTION))"
    r"\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?auth\.(\w+)",
    re.I | re.S,
)


def auth_object_of(statement: str) -> str | None:
    """The ``auth`` object a failing statement creates or changes, if it names one."""
    m = _AUTH_OBJECT.search(statement)
    return m.group(1) if m else None


class Recorder:
    """Stands in for ``focushub.migrations.sql.run_sql`` during one upgrade: sends the
    (rewritten) script as the original does, collects server warnings by migration, and on
    an error finds the statement that raised it."""

    def __init__(self, moved: set[str], warnings: dict[str, list[str]]) -> None:
        self.moved = moved
        self.warnings = warnings
        self.failure: Failure | None = None
        self._prelude_sent = False

    def __call__(self, script: str) -> None:
        from alembic import op

        migration = Path(sys._getframe(1).f_code.co_filename).stem
        raw = op.get_bind().connection.driver_connection
        if self.moved and not self._prelude_sent:
            await_only(raw.execute(_SCHEMA_PRELUDE))
            self._prelude_sent = True
        script = rewrite(script, self.moved)

        def listen(_conn: Any, message: Any) -> None:
            if message.severity in ("WARNING", "NOTICE") and "does not exist, skipping" not in message.message:
                self.warnings.setdefault(migration, []).append(f"{message.severity}: {message.message}")

        raw.add_log_listener(listen)
        await_only(raw.execute("SAVEPOINT supa_check_script"))
        try:
            await_only(raw.execute(script))
        except asyncpg.PostgresError as exc:
            await_only(raw.execute("ROLLBACK TO SAVEPOINT supa_check_script"))
            self.failure = self._locate(raw, migration, script, exc)
            raise
        finally:
            raw.remove_log_listener(listen)
        await_only(raw.execute("RELEASE SAVEPOINT supa_check_script"))

    @staticmethod
    def _locate(raw: Any, migration: str, script: str, exc: asyncpg.PostgresError) -> Failure:
        for statement in split_statements(script):
            await_only(raw.execute("SAVEPOINT supa_check_stmt"))
            try:
                await_only(raw.execute(statement))
            except asyncpg.PostgresError as one:
                await_only(raw.execute("ROLLBACK TO SAVEPOINT supa_check_stmt"))
                return Failure(migration, _without_leading_comments(statement), one.sqlstate,
                               str(one), getattr(one, "detail", None))
            await_only(raw.execute("RELEASE SAVEPOINT supa_check_stmt"))
        return Failure(migration, "(not found statement by statement)", exc.sqlstate, str(exc))


def run_upgrade(url: str, moved: set[str], warnings: dict[str, list[str]]) -> Failure | None:
    recorder = Recorder(moved, warnings)
    original = migration_sql.run_sql
    migration_sql.run_sql = recorder  # the version files import it when alembic loads them
    try:
        runner.upgrade(url)
    except Exception as exc:  # reported, not raised: the failure is what this script is for
        if recorder.failure is None:
            return Failure("(outside run_sql)", "", getattr(exc, "sqlstate", "") or "", repr(exc))
        return recorder.failure
    finally:
        migration_sql.run_sql = original
    return None


# ------------------------------------------------------------------------- databases
async def prepare(server: str, name: str) -> None:
    await ensure_database(server, name)
    conn = await asyncpg.connect(with_parts(server, database=name))
    try:
        await conn.execute(PREPARE_SQL.read_text())
    finally:
        await conn.close()


async def auth_names(url: str) -> set[str]:
    """Names of the relations and functions the prepared ``auth`` schema holds."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT relname AS name FROM pg_class WHERE relnamespace = 'auth'::regnamespace"
            " UNION SELECT proname FROM pg_proc WHERE pronamespace = 'auth'::regnamespace"
        )
        return {r["name"] for r in rows}
    finally:
        await conn.close()


_GRANTS = """
WITH objs AS (
    SELECT format('%s %s', CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
                  ELSE 'table' END, c.oid::regclass) AS obj,
           c.relowner AS owner,
           coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char",
                                         c.relowner)) AS acl
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    UNION ALL
    SELECT format('function %s', p.oid::regprocedure), p.proowner,
           coalesce(p.proacl, acldefault('f'::"char", p.proowner))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = ANY($1)
    UNION ALL
    SELECT format('schema %s', n.nspname), n.nspowner, coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))
    FROM pg_namespace n WHERE n.nspname = ANY($1) AND n.nspname <> 'public'
),
cols AS (
    SELECT format('column %s.%I', a.attrelid::regclass, a.attname) AS obj, c.relowner AS owner,
           a.attacl AS acl
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY($1) AND a.attacl IS NOT NULL AND NOT a.attisdropped
)
SELECT obj, CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END AS grantee,
       e.privilege_type AS privilege
FROM (SELECT * FROM objs UNION ALL SELECT * FROM cols) o, aclexplode(o.acl) e
WHERE e.grantee <> o.owner
"""


async def api_grants(url: str) -> set[tuple[str, str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(_GRANTS, list(FOCUSHUB_SCHEMAS))
        return {(r["obj"], r["grantee"], r["privilege"]) for r in rows if r["grantee"] in API_GRANTEES}
    finally:
        await conn.close()


_EFFECTIVE = """
WITH roles(r) AS (VALUES ('anon'), ('authenticated'), ('service_role')),
rels AS (
    SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
)
SELECT format('table %s', c.oid::regclass) AS obj, r AS grantee, p AS privilege
FROM rels c, roles, unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p
WHERE c.relkind <> 'S' AND has_table_privilege(r, c.oid, p)
UNION ALL
SELECT format('sequence %s', c.oid::regclass), r, p
FROM rels c, roles, unnest(ARRAY['USAGE','SELECT','UPDATE']) p
WHERE c.relkind = 'S' AND has_sequence_privilege(r, c.oid, p)
UNION ALL
SELECT format('function %s', f.oid::regprocedure), r, 'EXECUTE'
FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace, roles
WHERE n.nspname = ANY($1) AND has_function_privilege(r, f.oid, 'EXECUTE')
"""


async def effective_privileges(url: str) -> set[tuple[str, str, str]]:
    """What each API role may do on Focus Hub's objects, however it holds it (own grant,
    PUBLIC's, a column-free table grant)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(_EFFECTIVE, list(FOCUSHUB_SCHEMAS))
        return {(r["obj"], r["grantee"], r["privilege"]) for r in rows}
    finally:
        await conn.close()


async def claims_check(url: str) -> dict[str, Any]:
    """Run Focus Hub's transaction helper as the login role against Supabase's functions."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    user = uuid.uuid4()
    probe = text(
        "SELECT current_user AS role, auth.uid() AS uid, auth.role() AS claim_role,"
        " auth.jwt() ->> 'sub' AS jwt_sub"
    )
    out: dict[str, Any] = {"user_id": str(user)}
    try:
        for label, caller in (
            ("authenticated", Caller(role="authenticated", user_id=user)),
            ("anon", ANONYMOUS),
            ("service", SERVICE),
            ("authenticated again", Caller(role="authenticated", user_id=user)),
        ):
            async with transaction(engine, caller) as tx:
                row = (await tx.conn.execute(probe)).mappings().one()
                out[label] = {k: (str(v) if v is not None else None) for k, v in row.items()}
        # What a statement outside Focus Hub's helper sees on a connection that served one.
        async with engine.connect() as conn:
            row = (await conn.execute(probe)).mappings().one()
            out["bare connection afterwards"] = {k: (str(v) if v is not None else None)
                                                 for k, v in row.items()}
    finally:
        await engine.dispose()
    return out


# ------------------------------------------------------------------------------ run
async def check(server: str, first_only: bool) -> Report:
    report = Report()
    moved: set[str] = set()
    tag = uuid.uuid4().hex[:8]
    created: list[str] = []
    try:
        while True:
            report.attempts += 1
            name = f"supa_check_{tag}_{report.attempts}"
            created.append(name)
            await prepare(server, name)
            taken = await auth_names(with_parts(server, database=name))
            url = with_parts(server, user=MIGRATION_ROLE, database=name)
            warnings: dict[str, list[str]] = {}
            failure = await asyncio.to_thread(run_upgrade, url, set(moved), warnings)
            report.warnings = warnings
            if failure is None:
                report.passed = True
                break
            obj = auth_object_of(failure.statement)
            can_move = (not first_only and failure.sqlstate in COLLISION_STATES
                        and obj is not None and obj not in moved)
            report.collisions.append(Collision(failure, obj if can_move else None,
                                               obj is not None and obj in taken))
            if not can_move:
                break
            moved.add(obj)
            await drop_database(server, name)
            created.remove(name)
        if report.passed:
            supa = created[-1]
            plain = f"supa_plain_{tag}"
            created.append(plain)
            await ensure_database(server, plain)
            plain_failure = await asyncio.to_thread(
                run_upgrade, with_parts(server, database=plain), set(moved), {})
            if plain_failure is not None:
                report.collisions.append(Collision(plain_failure, None))
            else:
                on_supa = await api_grants(with_parts(server, database=supa))
                on_plain = await api_grants(with_parts(server, database=plain))
                report.extra_grants = [" ".join(g) for g in sorted(on_supa - on_plain)]
                report.missing_grants = [" ".join(g) for g in sorted(on_plain - on_supa)]
                eff_supa = await effective_privileges(with_parts(server, database=supa))
                eff_plain = await effective_privileges(with_parts(server, database=plain))
                report.extra_effective = [" ".join(g) for g in sorted(eff_supa - eff_plain)]
            report.claims = await claims_check(with_parts(server, user=LOGIN_ROLE, database=supa))
            for role in (MIGRATION_ROLE, LOGIN_ROLE):
                report.login_roles[role] = await role_bypasses_rls(
                    with_parts(server, user=role, database=supa))
    finally:
        for name in created:
            await drop_database(server, name)
    return report


def print_report(report: Report) -> None:
    print(f"attempts: {report.attempts}; migrations pass with the workaround: {report.passed}")
    for i, c in enumerate(report.collisions, 1):
        f = c.failure
        first_line = " ".join(f.statement.split())[:160]
        print(f"\n[{i}] {f.migration}: {f.sqlstate} {f.message}")
        print(f"    statement: {first_line}")
        if c.moved:
            print(f"    worked around: auth.{c.moved} -> {NEW_SCHEMA}.{c.moved}"
                  + ("  (name also taken by Supabase Auth)" if c.taken_by_supabase else ""))
    for migration, lines in sorted(report.warnings.items()):
        for line in lines:
            print(f"\n{migration}: {line}")
    if report.passed:
        print(f"\nwhat API roles may do on Supabase and not on a plain server "
              f"({len(report.extra_effective)}):")
        for g in report.extra_effective:
            print(f"  + {g}")
        print(f"\ngrants to API roles (by name) on Supabase and not on a plain server "
              f"({len(report.extra_grants)}):")
        for g in report.extra_grants:
            print(f"  + {g}")
        print(f"grants on a plain server and not on Supabase ({len(report.missing_grants)}):")
        for g in report.missing_grants:
            print(f"  - {g}")
        print("\nclaims read through Supabase's auth functions:")
        for label, row in report.claims.items():
            print(f"  {label}: {row}")
        print("\nrefused as the server's login role (superuser or BYPASSRLS):")
        for role, refused in report.login_roles.items():
            print(f"  {role}: {refused}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--first-only", action="store_true",
                        help="stop at the first failure instead of working around collisions")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args()
    report = asyncio.run(check(args.server, args.first_only))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0 if report.passed and not report.collisions and not report.extra_effective else 1


if __name__ == "__main__":
    sys.exit(main())
