"""``focushub backup`` / ``restore``: a seeded database and its files, backed up and restored
into a new empty database on the same server, then compared table by table, counter by
counter and file by file; and the refusals (a non-empty target, an altered archive)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from focushub.app import create_app
from focushub.core import bootstrap
from focushub.core.settings import Settings
from focushub.health import backup
from focushub.integrations.storage import LocalStore
from focushub.seed import recount_mismatches
from tests.api.conftest import JWT_SECRET, make_user
from tests.api.factories_content import make_comment, make_post
from tests.api.factories_qa import make_answer, make_question
from tests.api.files_support import Env, _env, png
from tests.conftest import ROOT

if TYPE_CHECKING:
    from tests.conftest import TestDatabase

TABLES = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'auth', 'focushub_auth', 'procrastinate')
ORDER BY 1
"""

# Every counter column next to its recount, row by row (compared between the two databases).
COUNTERS = """
SELECT 'post' AS kind, p.id, p.likes_count AS stored,
       (SELECT count(*) FROM comments c WHERE c.post_id = p.id) AS recount, p.comments_count
FROM posts p
UNION ALL
SELECT 'question', q.id, q.answers_count,
       (SELECT count(*) FROM answers a WHERE a.question_id = q.id), q.votes_count
FROM questions q
UNION ALL
SELECT 'following', u.id, (SELECT count(*) FROM followers f WHERE f.follower_id = u.id),
       (SELECT count(*) FROM followers f WHERE f.following_id = u.id), 0
FROM users u
ORDER BY 1, 2
"""


def _bundled() -> list[Path]:
    """The embedded server's pg_dump/pg_restore, for a test server that is the embedded one."""
    try:
        from focushub.devdb.supervisor import _binaries

        return [_binaries()]
    except ImportError:
        return []


TOOLS = _bundled()


@pytest.fixture
async def source(request, test_db, engine, tmp_path) -> AsyncIterator[Env]:
    """The app on the test database with its files in ``tmp_path/source/files``."""
    async for env in _env(request, test_db, engine, tmp_path, data_dir=tmp_path / "source"):
        yield env


@pytest.fixture
async def empty_db(test_db: TestDatabase) -> AsyncIterator[str]:
    """A new, empty database on the test server (schema owner URL); dropped afterwards."""
    name = f"focushub_restore_{uuid.uuid4().hex[:10]}"
    await bootstrap.ensure_database(test_db.server_url, name)
    try:
        yield bootstrap.with_parts(test_db.server_url, database=name)
    finally:
        await bootstrap.drop_database(test_db.server_url, name)


async def _rows(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {name: await conn.fetchval(f"SELECT count(*) FROM {name}")
                for (name,) in await conn.fetch(TABLES)}
    finally:
        await conn.close()


async def _fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _checksums(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


async def _upload(env: Env, user: dict[str, Any], name: str, data: bytes) -> dict[str, Any]:
    r = await env.client.post("/api/v1/resources", headers=user["headers"],
                              data={"title": f"About {name}", "tags": "notes"},
                              files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    return r.json()


async def _seed(env: Env) -> dict[str, Any]:
    """Users who post, comment, reply, vote, ask, answer, follow and upload files."""
    alice, bob, carol = [await make_user(env.client) for _ in range(3)]
    c = env.client
    posts = [await make_post(c, alice), await make_post(c, bob, tags=["math"])]
    top = await make_comment(c, bob, posts[0]["id"])
    await make_comment(c, carol, posts[0]["id"], parent_id=top["id"])
    await make_comment(c, alice, posts[1]["id"])
    for voter, kind, target, vote in [(bob, "posts", posts[0]["id"], "upvote"),
                                      (carol, "posts", posts[0]["id"], "upvote"),
                                      (alice, "posts", posts[1]["id"], "upvote"),
                                      (alice, "comments", top["id"], "upvote")]:
        r = await c.put(f"/api/v1/{kind}/{target}/vote", json={"vote_type": vote},
                        headers=voter["headers"])
        assert r.status_code == 200, r.text
    question = await make_question(c, carol)
    await make_answer(c, alice, question["id"])
    await make_answer(c, bob, question["id"])
    for who, whom in [(alice, bob), (carol, bob), (bob, alice)]:
        r = await c.put(f"/api/v1/users/{whom['user']['id']}/follow", headers=who["headers"])
        assert r.status_code == 200, r.text
    data = png((64, 48), "navy")
    resource = await _upload(env, alice, "diagram.png", data)
    await env.work()  # the preview: a second stored object, and finished job rows
    return {"alice": alice, "resource": resource, "data": data}


async def test_round_trip_restores_every_row_counter_and_file(source, test_db, empty_db,
                                                              tmp_path):
    seeded = await _seed(source)
    source_root = source.rt.storage.root
    archive = tmp_path / "backup.tar"
    manifest = await backup.create_backup(test_db.owner_url, archive, storage=source.rt.storage,
                                           tool_dirs=TOOLS)

    source_rows = await _rows(test_db.owner_url)
    assert {k: v for k, v in manifest["row_counts"].items() if k in source_rows} == source_rows
    for table in ("public.users", "public.posts", "public.comments", "public.votes",
                  "public.questions", "public.answers", "public.followers",
                  "public.stored_files", "public.resources", "procrastinate.procrastinate_jobs",
                  "public.alembic_version"):
        assert source_rows[table] > 0, table
    assert manifest["migration_revision"] == (
        await _fetch(test_db.owner_url, "SELECT version_num FROM alembic_version"))[0][0]
    assert manifest["storage"] | {"missing_objects": []} == {
        "backend": "local", "included": True, "objects": 2,
        "bytes": sum(p.stat().st_size for p in source_root.rglob("*") if p.is_file()),
        "missing_objects": []}
    assert len(_checksums(source_root)) == 2

    restored_root = tmp_path / "restored" / "files"
    report = await backup.restore_backup(archive, empty_db, storage=LocalStore(restored_root),
                                         login_role=bootstrap.APP_LOGIN_ROLE, tool_dirs=TOOLS)
    assert report.mismatches == {}
    assert (report.files_written, report.files_already_there) == (2, 0)
    assert await _rows(empty_db) == source_rows
    assert await _fetch(empty_db, COUNTERS) == await _fetch(test_db.owner_url, COUNTERS)
    conn = await asyncpg.connect(empty_db)
    try:
        assert set((await recount_mismatches(conn)).values()) == {0}
        stored = dict(await conn.fetch("SELECT storage_key, sha256 FROM stored_files"))
    finally:
        await conn.close()
    assert _checksums(restored_root) == _checksums(source_root)
    original = [k for k, v in stored.items()
                if v == hashlib.sha256(seeded["data"]).hexdigest()]
    assert len(original) == 1 and _checksums(restored_root)[original[0]] == stored[original[0]]

    # The restored installation serves: the login role, its grants and the policies came
    # back, so a user signs in with the old password and downloads the old file.
    settings = Settings(env="test", database_url=bootstrap.with_parts(
        empty_db, user=bootstrap.APP_LOGIN_ROLE), jwt_secret=JWT_SECRET,
        data_dir=tmp_path / "restored", db_pool_size=2)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            alice = seeded["alice"]
            r = await client.post("/api/v1/auth/login", json={
                "email": alice["user"]["email"], "password": alice["password"]})
            assert r.status_code == 200, r.text
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await client.get(seeded["resource"]["file"]["url"])
            assert r.status_code == 200 and r.content == seeded["data"]
            # RLS still applies: alice's draft is hers alone.
            r = await client.post("/api/v1/posts", headers=headers, json={
                "title": "Draft", "content": "Not yet", "is_published": False})
            assert r.status_code == 201, r.text
            draft = f"/api/v1/posts/{r.json()['id']}"
            assert (await client.get(draft, headers=headers)).status_code == 200
            assert (await client.get(draft)).status_code == 404
    finally:
        await app.state.runtime.stop()


async def _small_archive(env: Env, test_db: TestDatabase, path: Path) -> dict[str, Any]:
    user = await make_user(env.client)
    await _upload(env, user, "one.png", png((8, 8), "red"))
    return await backup.create_backup(test_db.owner_url, path, storage=env.rt.storage,
                                       tool_dirs=TOOLS)


async def _no_tables(url: str) -> bool:
    return await _rows(url) == {}


async def test_restore_refuses_a_target_that_has_focus_hub_tables(source, test_db, tmp_path):
    archive = tmp_path / "backup.tar"
    await _small_archive(source, test_db, archive)
    before = await _rows(test_db.owner_url)
    restored_root = tmp_path / "restored" / "files"
    with pytest.raises(backup.BackupError, match="not empty"):
        await backup.restore_backup(archive, test_db.owner_url, storage=LocalStore(restored_root),
                                    login_role=bootstrap.APP_LOGIN_ROLE, tool_dirs=TOOLS)
    assert await _rows(test_db.owner_url) == before
    assert not restored_root.exists()


def _rewrite(archive: Path, out: Path, change: str) -> None:
    """Copy ``archive`` to ``out`` with one byte of member ``change`` flipped (same size, same
    manifest)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == change:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            dst.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize("member", ["database.dump", "a stored file"])
async def test_restore_refuses_an_altered_archive_before_touching_anything(
        member, source, test_db, empty_db, tmp_path):
    archive = tmp_path / "backup.tar"
    manifest = await _small_archive(source, test_db, archive)
    name = member if member == "database.dump" else next(
        n for n in manifest["files"] if n.startswith("files/"))
    altered = tmp_path / "altered.tar"
    _rewrite(archive, altered, name)
    restored_root = tmp_path / "restored" / "files"
    with pytest.raises(backup.BackupError, match=f"Checksum mismatch for '{name}'"):
        await backup.restore_backup(altered, empty_db, storage=LocalStore(restored_root),
                                    login_role=bootstrap.APP_LOGIN_ROLE, tool_dirs=TOOLS)
    assert await _no_tables(empty_db)
    assert not restored_root.exists()
    # The untouched copy of the same archive restores (so the refusal was the checksum's).
    report = await backup.restore_backup(archive, empty_db, storage=LocalStore(restored_root),
                                         login_role=bootstrap.APP_LOGIN_ROLE, tool_dirs=TOOLS)
    assert report.mismatches == {} and report.files_written == 1


async def test_restore_refuses_to_overwrite_a_different_file(source, test_db, empty_db,
                                                             tmp_path):
    archive = tmp_path / "backup.tar"
    manifest = await _small_archive(source, test_db, archive)
    key = next(n for n in manifest["files"] if n.startswith("files/")).removeprefix("files/")
    restored_root = tmp_path / "restored" / "files"
    (restored_root / key).parent.mkdir(parents=True)
    (restored_root / key).write_bytes(b"someone else's bytes")
    with pytest.raises(backup.BackupError, match="differ from the archive"):
        await backup.restore_backup(archive, empty_db, storage=LocalStore(restored_root),
                                    login_role=bootstrap.APP_LOGIN_ROLE, tool_dirs=TOOLS)
    assert await _no_tables(empty_db)
    assert (restored_root / key).read_bytes() == b"someone else's bytes"


def test_a_path_outside_the_files_folder_is_refused(tmp_path):
    data = b"x"
    manifest = {"format": backup.FORMAT, "format_version": backup.FORMAT_VERSION,
                "row_counts": {}, "migration_revision": "none",
                "files": {"database.dump": {"sha256": hashlib.sha256(data).hexdigest(),
                                            "size": 1},
                          "files/../../etc/passwd": {"sha256": "0" * 64, "size": 1}}}
    path = tmp_path / "crafted.tar"
    with tarfile.open(path, "w") as archive:
        for name, body in [("database.dump", data),
                           ("manifest.json", json.dumps(manifest).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    with pytest.raises(backup.BackupError, match="may not contain"):
        backup.verify_archive(path)


def _cli(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FOCUSHUB_")}
    return subprocess.run([sys.executable, "-m", "focushub", *args], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)


async def test_the_commands_round_trip_and_refuse_with_a_non_zero_exit(source, test_db,
                                                                       empty_db, tmp_path):
    user = await make_user(source.client)
    await _upload(source, user, "cli.png", png((8, 8), "green"))
    env = {"FOCUSHUB_DATABASE_URL": test_db.app_url,
           "FOCUSHUB_MIGRATION_DATABASE_URL": test_db.owner_url,
           "FOCUSHUB_DATA_DIR": str(tmp_path / "source"), "FOCUSHUB_JWT_SECRET": JWT_SECRET}
    archive = tmp_path / "cli.tar"
    out = await asyncio.to_thread(_cli, ["backup", "--output", str(archive)], **env)
    assert out.returncode == 0, out.stderr
    assert "1 local files" in out.stderr and archive.is_file()

    restored = {**env, "FOCUSHUB_DATA_DIR": str(tmp_path / "restored")}
    out = await asyncio.to_thread(_cli, ["restore", str(archive), "--database-url",
                                         test_db.owner_url], **restored)
    assert out.returncode == 1 and "not empty" in out.stderr, out.stderr
    out = await asyncio.to_thread(_cli, ["restore", str(archive), "--database-url", empty_db],
                                  **restored)
    assert out.returncode == 0, out.stderr
    assert "Files: 1 written" in out.stderr and "differs" not in out.stdout
    assert await _rows(empty_db) == await _rows(test_db.owner_url)
    assert _checksums(tmp_path / "restored" / "files") == _checksums(tmp_path / "source" / "files")


async def test_client_tools_match_the_server_major_or_fail_clearly(pg_server_url):
    conn = await asyncpg.connect(pg_server_url)
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
    tools = backup.find_client_tools(major, TOOLS)
    assert tools.major == major and f"(PostgreSQL) {major}" in tools.version
    with pytest.raises(backup.BackupError, match="No pg_dump/pg_restore of PostgreSQL 99 .*"
                                                 "postgresql-client-99"):
        backup.find_client_tools(99)


def _with_manifest(archive: Path, out: Path, **changes: Any) -> None:
    with tarfile.open(archive) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = json.dumps({**json.loads(data), **changes}).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize(("changes", "message"), [
    ({"migration_revision": "9999_from_the_future"}, "does not know"),
    ({"postgres": {"server_major": 99}}, "comes from PostgreSQL 99"),
    ({"format_version": 2}, "has backup format 2"),
])
async def test_restore_refuses_an_archive_it_cannot_restore(changes, message, source, test_db,
                                                           empty_db, tmp_path):
    archive = tmp_path / "backup.tar"
    await _small_archive(source, test_db, archive)
    changed = tmp_path / "changed.tar"
    _with_manifest(archive, changed, **changes)
    with pytest.raises(backup.BackupError, match=message):
        await backup.restore_backup(changed, empty_db, storage=LocalStore(tmp_path / "files"),
                                    login_role=bootstrap.APP_LOGIN_ROLE, tool_dirs=TOOLS)
    assert await _no_tables(empty_db)


async def test_a_folder_the_backup_cannot_write_in_is_said_before_the_dump(test_db, tmp_path):
    """An --output in a folder the service may not write to was a traceback once the whole
    dump was done; /proc refuses new files even to root."""
    with pytest.raises(backup.BackupError, match=r"^Cannot write in /proc: "):
        await backup.create_backup(test_db.owner_url, Path("/proc/focushub-backup.tar"),
                                   storage=LocalStore(tmp_path), tool_dirs=TOOLS)


async def test_restore_as_a_role_that_cannot_grant_the_roles_says_what_to_do(
        source, test_db, tmp_path):
    """The refusal sent the operator to README's Production section, which does not show
    how to make the API roles, and to CREATEROLE, which cannot make service_role."""
    archive = tmp_path / "backup.tar"
    await _small_archive(source, test_db, archive)
    owner = f"focushub_restorer_{uuid.uuid4().hex[:8]}"
    name = f"focushub_restore_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(test_db.server_url)
    try:
        await admin.execute(f"CREATE ROLE {owner} LOGIN")
        await admin.execute(f"CREATE DATABASE {name} OWNER {owner}")
        target = bootstrap.with_parts(bootstrap.with_parts(test_db.server_url, database=name),
                                      user=owner)
        with pytest.raises(backup.BackupError) as refused:
            await backup.restore_backup(archive, target, storage=LocalStore(tmp_path / "files"),
                                        login_role=bootstrap.APP_LOGIN_ROLE, tool_dirs=TOOLS)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {owner}")
        await admin.close()
    assert "create them first as a superuser, as docs/deployment.md (The database) shows" in str(
        refused.value), refused.value
