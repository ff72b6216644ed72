"""Readiness as a load balancer and an operator read it: 200 only for a database that
answers at this version's schema, 503 with the reason otherwise, in the documented body."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx

from focushub.app import create_app
from focushub.core import bootstrap
from focushub.core.settings import Settings
from focushub.migrations.runner import head_revision
from tests.api.conftest import JWT_SECRET


@contextlib.asynccontextmanager
async def _on_an_empty_database(test_db) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a database of the test server that no migration has reached."""
    name = f"focushub_empty_{uuid.uuid4().hex[:10]}"
    await bootstrap.ensure_database(test_db.server_url, name)
    try:
        app = create_app(Settings(env="test", jwt_secret=JWT_SECRET,
                                  database_url=bootstrap.with_parts(test_db.server_url,
                                                                    database=name)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c
        await app.state.runtime.stop()
    finally:
        await bootstrap.drop_database(test_db.server_url, name)


def _documented_503(doc: dict) -> dict:
    response = doc["paths"]["/readyz"]["get"]["responses"]["503"]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _fits(body: dict, schema: dict) -> None:
    assert set(body) <= set(schema["properties"]), body
    assert set(schema.get("required", [])) <= set(body), body


async def test_a_database_behind_the_code_is_not_ready_in_the_documented_body(client, owner_conn):
    before = await owner_conn.fetchval("SELECT version_num FROM alembic_version")
    await owner_conn.execute("UPDATE alembic_version SET version_num = '0001_supabase_roles'")
    try:
        r = await client.get("/readyz")
    finally:
        await owner_conn.execute("UPDATE alembic_version SET version_num = $1", before)
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "not migrated",
                        "current": "0001_supabase_roles", "expected": head_revision()}
    _fits(r.json(), _documented_503((await client.get("/openapi.json")).json()))


async def test_a_database_never_migrated_is_not_migrated_rather_than_unreachable(test_db):
    """An empty database answers; it only lacks the schema. Saying "unreachable" there sent
    an operator looking at the network instead of running `focushub migrate`."""
    async with _on_an_empty_database(test_db) as c:
        r = await c.get("/readyz")
        doc = (await c.get("/openapi.json")).json()
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "not migrated",
                        "current": None, "expected": head_revision()}
    _fits(r.json(), _documented_503(doc))


async def test_the_admin_api_documents_its_refusal_in_the_error_shape(client):
    doc = (await client.get("/openapi.json")).json()
    admin = {f"{method.upper()} {path}": operation["responses"]
             for path, operations in doc["paths"].items() if path.startswith("/api/v1/admin/")
             for method, operation in operations.items()}
    assert len(admin) >= 9
    for name, responses in admin.items():
        schema = responses["403"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorRead"}, name


async def test_an_unreachable_database_is_said_so(test_db):
    app = create_app(Settings(env="test", jwt_secret=JWT_SECRET,
                              database_url="postgresql://u@127.0.0.1:1/x"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        r = await c.get("/readyz")
    await app.state.runtime.stop()
    assert r.status_code == 503
    assert (r.json()["status"], r.json()["database"]) == ("unavailable", "unreachable")


async def test_job_counts_the_metrics_cannot_read_are_unknown_not_the_last_ones(client, test_db):
    r = await client.get("/metrics")
    assert 'focushub_jobs{status="todo"} 0.0' in r.text
    # A database without the job queue's tables: the counts cannot be read.
    async with _on_an_empty_database(test_db) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert 'focushub_jobs{status="todo"} NaN' in r.text
    assert 'focushub_jobs{status="failed"} NaN' in r.text


async def test_a_database_a_newer_release_migrated_keeps_this_version_ready(client, owner_conn):
    """A rolling deploy migrates first, then replaces the processes one at a time: the old
    ones said 503 "not migrated" for the new schema, so a load balancer or container
    healthcheck on /readyz took every one of them out before any new one served."""
    before = await owner_conn.fetchval("SELECT version_num FROM alembic_version")
    await owner_conn.execute("UPDATE alembic_version SET version_num = '9999_later_release'")
    try:
        r = await client.get("/readyz")
    finally:
        await owner_conn.execute("UPDATE alembic_version SET version_num = $1", before)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "revision": "9999_later_release"}
