"""Account exports made by the job: large accounts, status, download, expiry, one at a time."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from focushub.accounts import service as accounts_service
from focushub.core.db import SERVICE, Caller
from tests.api.conftest import make_user
from tests.api.factories_content import make_comment, make_post
from tests.api.files_support import Env, _env, png
from tests.conftest import run_task

ME = "/api/v1/users/me"


@pytest.fixture(params=["local", "s3"])
async def big(request, test_db, engine, tmp_path) -> AsyncIterator[Env]:
    """Every account with more than one row is large here."""
    async for e in _env(request, test_db, engine, tmp_path, export_sync_max_rows=1):
        yield e


@pytest.fixture
async def local(request, test_db, engine, tmp_path) -> AsyncIterator[Env]:
    async for e in _env(request, test_db, engine, tmp_path, export_sync_max_rows=2):
        yield e


def documents(data: bytes) -> tuple[zipfile.ZipFile, dict]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return archive, {n: json.loads(archive.read(n)) for n in archive.namelist()
                     if n.endswith(".json")}


async def run_job(env: Env, task: str) -> None:
    async with env.rt.transaction(SERVICE) as tx:
        tx.enqueue(task)
    await env.work()


async def test_a_large_account_gets_its_export_from_a_job(big, owner_conn):
    client = big.client
    alice, bob = await make_user(client), await make_user(client)
    post = await make_post(client, alice, title="Alice learns SQL")
    await make_comment(client, alice, post["id"])
    bobs = await make_post(client, bob, title="Bob's own post")
    await make_comment(client, bob, bobs["id"], content="bob's words")
    r = await client.put(f"{ME}/avatar", headers=alice["headers"],
                         files={"file": ("me.png", png((64, 64), "navy"), "image/png")})
    assert r.status_code == 200, r.text
    await big.work()  # the avatar's own jobs, so only the export's remain below
    before = await big.objects()

    r = await client.get(f"{ME}/export", headers=alice["headers"])
    assert r.status_code == 202, r.text
    export = r.json()
    assert export["status"] == "queued" and export["download_url"] is None
    status_url = f"{ME}/exports/{export['id']}"
    assert r.headers["location"] == status_url
    # One at a time: asking again, either way, gives the same export.
    for ask in (client.post, client.get):
        r = await ask(f"{ME}/export", headers=alice["headers"])
        assert (r.status_code, r.json()["id"]) == (202, export["id"])
    assert (await client.get(status_url, headers=alice["headers"])).json()["status"] == "queued"
    assert (await client.get(f"{status_url}/download",
                             headers=alice["headers"])).status_code == 404
    # Somebody else's export does not exist for them, nor for nobody.
    for headers in (bob["headers"], {}):
        expected = 404 if headers else 401
        assert (await client.get(status_url, headers=headers)).status_code == expected
        assert (await client.get(f"{status_url}/download",
                                 headers=headers)).status_code == expected

    await big.work()
    r = await client.get(status_url, headers=alice["headers"])
    assert r.status_code == 200, r.text
    ready = r.json()
    assert ready["status"] == "ready" and ready["download_url"] == f"{status_url}/download"
    expires = datetime.fromisoformat(ready["expires_at"])
    assert timedelta(hours=167) < expires - datetime.now(UTC) <= timedelta(hours=168)
    new_objects = sorted(set(await big.objects()) - set(before))
    assert len(new_objects) == 1 and new_objects[0].startswith("export/")

    r = await client.get(ready["download_url"], headers=alice["headers"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert "no-store" in r.headers["cache-control"]
    assert f"focushub-export-{alice['user']['username']}-" in r.headers["content-disposition"]
    assert len(r.content) == ready["size"]
    archive, doc = documents(r.content)
    assert doc["account.json"]["email"] == alice["user"]["email"]
    assert [p["title"] for p in doc["posts.json"]] == ["Alice learns SQL"]
    assert len(doc["comments.json"]) == 1
    uploads = [n for n in archive.namelist() if n.startswith("files/")]
    assert len(uploads) == len(doc["files.json"]) >= 1
    by_id = {f["id"]: f for f in doc["files.json"]}
    for name in uploads:
        assert hashlib.sha256(archive.read(name)).hexdigest() == \
            by_id[name.removeprefix("files/")[:36]]["sha256"]
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert b"bob's words" not in everything and b"Bob's own post" not in everything
    assert bob["user"]["email"].encode() not in everything
    for headers in (bob["headers"], {}):
        assert (await client.get(ready["download_url"], headers=headers)).status_code in (401, 404)

    # The same documents as the export made within a request (bar the notification that
    # the export is ready, which came after it).
    me = Caller(role="authenticated", user_id=UUID(alice["user"]["id"]))
    path, _ = await accounts_service.export_account(big.rt, me)
    try:
        direct_archive, direct = documents(path.read_bytes())
    finally:
        path.unlink()
    assert sorted(direct_archive.namelist()) == sorted(archive.namelist())
    notices = direct.pop("notifications.json")
    assert {k: v for k, v in doc.items() if k != "notifications.json"} == direct
    ready_notice = [n for n in notices if n["data"].get("kind") == "account_export"]
    assert [(n["title"], n["data"]["export_id"]) for n in ready_notice] == \
        [("Your data export is ready", export["id"])]
    # Bob was told nothing.
    r = await client.get("/api/v1/notifications", headers=bob["headers"])
    assert all(n["data"].get("kind") != "account_export" for n in r.json()["items"])

    # Expired: not served any more even before the hourly job; then row and object go.
    await owner_conn.execute(
        "UPDATE account_exports SET expires_at = now() - interval '1 second' WHERE id = $1",
        UUID(export["id"]))
    assert (await client.get(ready["download_url"], headers=alice["headers"])).status_code == 404
    await run_job(big, "accounts.expire_exports")
    assert (await client.get(status_url, headers=alice["headers"])).status_code == 404
    await big.work()  # files.purge, queued by the expiry
    assert new_objects[0] not in await big.objects()
    assert sorted(await big.objects()) == sorted(before)


async def test_the_threshold_and_asking_again_once_ready(local, owner_conn, test_db):
    client = local.client
    carol = await make_user(client)
    for _ in range(2):
        await make_post(client, carol)
    # Two rows: still small, the zip comes in the response.
    r = await client.get(f"{ME}/export", headers=carol["headers"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    await make_post(client, carol, title="The third")
    r = await client.get(f"{ME}/export", headers=carol["headers"])
    assert r.status_code == 202, r.text
    first = r.json()["id"]
    await local.work()
    first_key = await owner_conn.fetchval(
        "SELECT storage_key FROM account_exports WHERE id = $1", UUID(first))
    assert first_key in await local.objects()
    # The orphan sweep knows an export's zip from an orphan.
    await run_task(test_db, "files.sweep", settings=local.rt.settings, grace_seconds=0)
    assert first_key in await local.objects()
    # A new export (POST works whatever the size) replaces the finished one and its zip.
    r = await client.post(f"{ME}/export", headers=carol["headers"])
    assert r.status_code == 202 and r.json()["id"] != first
    second = r.json()["id"]
    assert (await client.get(f"{ME}/exports/{first}", headers=carol["headers"])).status_code == 404
    await local.work()
    assert first_key not in await local.objects()
    r = await client.get(f"{ME}/exports/{second}/download", headers=carol["headers"])
    assert r.status_code == 200
    _, doc = documents(r.content)
    assert "The third" in [p["title"] for p in doc["posts.json"]]


async def test_an_export_that_lost_its_job_fails_and_may_be_asked_for_again(local, owner_conn):
    client = local.client
    dan = await make_user(client)
    for _ in range(3):
        await make_post(client, dan)
    export = (await client.post(f"{ME}/export", headers=dan["headers"])).json()
    # Its job gone (as if it had failed for good without a word) and a day passed.
    await owner_conn.execute("DELETE FROM procrastinate.procrastinate_jobs"
                             " WHERE task_name = 'accounts.export'")
    await owner_conn.execute(
        "UPDATE account_exports SET created_at = now() - interval '25 hours' WHERE id = $1",
        UUID(export["id"]))
    await run_job(local, "accounts.expire_exports")
    r = await client.get(f"{ME}/exports/{export['id']}", headers=dan["headers"])
    assert r.status_code == 200 and r.json()["status"] == "failed"
    assert r.json()["error"] and r.json()["download_url"] is None
    r = await client.post(f"{ME}/export", headers=dan["headers"])
    assert r.status_code == 202 and r.json()["id"] != export["id"]
    await local.work()
    again = await client.get(f"{ME}/exports/{r.json()['id']}", headers=dan["headers"])
    assert again.json()["status"] == "ready"
