"""Found by hostile testing, fixed, and kept fixed: limits, error bodies, CORS, offline docs."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from focushub.app import create_app
from focushub.core.errors import translate_driver_error
from focushub.core.observability import ContextFilter
from focushub.core.ratelimit import Rate
from focushub.core.settings import Settings
from tests.api.conftest import JWT_SECRET, make_user

# The default rates' bursts, with a window so long that nothing refills while a test runs:
# the limits are GCRA (docs/architecture.md), so with the real windows an attempt would be
# admitted again every window/limit seconds, and a slow machine would see one more.
NO_REFILL = 10**7


def limited_app(settings: Settings, engine, **rates: str):
    return create_app(settings.model_copy(update={
        name: Rate.parse(f"{getattr(settings, name).limit}/{NO_REFILL}") for name in rates}),
        engine=engine)


async def test_password_spraying_from_one_address_is_limited(settings, engine):
    app = limited_app(settings, engine, rate_login_address="")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for i in range(65):
            r = await client.post("/api/v1/auth/login", json={"email": f"victim{i}@example.org",
                                                              "password": "Spring2026!!"})
            statuses.append(r.status_code)
    assert statuses[:60] == [401] * 60
    assert statuses[60:] == [429] * 5
    assert int(r.headers["retry-after"]) >= 1


async def test_one_account_tried_from_many_addresses_is_limited(settings, engine, owner_conn):
    app = limited_app(settings, engine, rate_login_account="")
    statuses = []
    for i in range(22):
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{i + 1}", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/api/v1/auth/login", json={"email": "target@example.org",
                                                         "password": "guess number"})
            statuses.append(r.status_code)
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429, 429]
    # The admins hear of it once per window, with the address of the attempt that tripped it.
    rows = await owner_conn.fetch("SELECT details FROM audit_log WHERE action = 'security.login_limit'")
    assert len(rows) == 1
    assert '"email": "target@example.org"' in rows[0]["details"]
    assert '"address": "198.51.100.21"' in rows[0]["details"]


async def test_errors_never_amplify_the_input(client):
    alice = await make_user(client)
    body = {f"key{i}": i for i in range(60_000)}
    body.update(title="t", content="c")
    r = await client.post("/api/v1/posts", json=body, headers=alice["headers"])
    assert r.status_code == 422
    assert len(r.content) < 5_000
    details = r.json()["error"]["details"]
    assert len(details) == 21 and details[-1]["type"] == "truncated"


async def test_database_internals_stay_out_of_error_bodies(client):
    await make_user(client, username="taken_name")
    r = await client.post("/api/v1/auth/signup", json={
        "email": "other@example.org", "password": "correct horse battery",
        "full_name": "Other", "username": "taken_name"})
    assert r.status_code == 409
    assert "_key" not in r.text and "constraint" not in r.text


@pytest.fixture
async def cors_client(test_db, engine):
    settings = Settings(env="test", database_url=test_db.app_url, jwt_secret=JWT_SECRET,
                        cors_origins=["https://app.example.org"])
    app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        yield c


async def test_cors_only_for_allowed_origins(cors_client, client):
    preflight = {"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    r = await cors_client.options("/api/v1/posts", headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example.org"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = await cors_client.options("/api/v1/posts", headers={**preflight,
                                                            "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = await client.get("/api/v1/posts", headers={"Origin": "https://app.example.org"})
    assert "access-control-allow-origin" not in r.headers  # none by default


async def test_the_docs_work_offline(client):
    r = await client.get("/docs")
    assert r.status_code == 200
    assert "cdn." not in r.text and "jsdelivr" not in r.text
    script = r.text.split('src="', 1)[1].split('"', 1)[0]
    assert (await client.get(script)).status_code == 200


async def test_a_chunked_body_over_the_limit_is_413_and_deep_json_is_422(client):
    async def chunks():
        for _ in range(11):
            yield b" " * 1_000_000

    r = await client.post("/api/v1/auth/login", content=chunks(),
                          headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    deep = b"[" * 1000 + b"]" * 1000
    r = await client.post("/api/v1/auth/login", content=deep,
                          headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested" in r.json()["error"]["message"]
    # Brackets inside strings do not count.
    r = await client.post("/api/v1/auth/login", json={"email": "a@example.org",
                                                      "password": "[" * 100})
    assert r.status_code == 401


async def test_a_chunked_upload_over_the_limit_is_413_not_a_parse_error(settings, engine):
    """Cut off while FastAPI reads the form, the upload was its "error parsing the body" 400."""
    app = create_app(settings.model_copy(update={"max_upload_bytes": 64 * 1024}), engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        user = await make_user(client)
        form = httpx.Request("POST", "http://t/api/v1/resources", data={"title": "Huge"},
                             files={"file": ("big.txt", b"a" * (1200 * 1024), "text/plain")})

        async def chunks():
            body = form.read()
            for start in range(0, len(body), 100_000):
                yield body[start:start + 100_000]

        r = await client.post("/api/v1/resources", content=chunks(), headers={
            **user["headers"], "content-type": form.headers["content-type"]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_a_class_signs_up_from_one_address_but_not_an_endless_stream(settings, engine):
    app = limited_app(settings, engine, rate_signup_address="", rate_mail="")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for i in range(61):
            r = await client.post("/api/v1/auth/signup", json={
                "email": f"pupil{i}@example.org", "password": "correct horse battery",
                "full_name": f"Pupil {i}", "username": f"pupil_{i}"})
            statuses.append(r.status_code)
        assert statuses[:60] == [201] * 60 and statuses[60] == 429
        statuses = []
        for _ in range(6):
            r = await client.post("/api/v1/auth/password-reset/request",
                                  json={"email": "pupil1@example.org"})
            statuses.append(r.status_code)
    assert statuses == [202] * 5 + [429]


async def test_database_internals_stay_out_of_direct_paths_errors_too(owner_conn):
    """The hot paths' own transactions (asyncpg directly) answer as the others do: a code
    and a plain message, not the database's words, its constraint names or the statement's
    parameters (those go to the log)."""
    await owner_conn.execute("CREATE TEMP TABLE once (k int CONSTRAINT once_k_key UNIQUE)")
    await owner_conn.execute("INSERT INTO once VALUES (1)")
    failures = []
    for sql, args in (("INSERT INTO once VALUES (1)", ()),
                      ("SELECT convert_from('\\x00'::bytea, 'UTF8')", ()),
                      ("SELECT $1::bigint", (2**63,))):
        with pytest.raises((asyncpg.PostgresError, asyncpg.exceptions.DataError)) as info:
            await owner_conn.fetch(sql, *args)
        failures.append(info.value)
    errors = [translate_driver_error(exc) for exc in failures]
    assert [(e.status_code, e.code) for e in errors] == [
        (409, "conflict"), (422, "validation_error"), (422, "validation_error")]
    for err in errors:
        said = f"{err.message} {err.details}"
        assert err.details is None, said
        assert "once_k_key" not in said and "0x00" not in said and "$1" not in said


async def test_an_unexpected_error_names_its_request(settings, engine, caplog):
    """A 500 carries the request id that its log line carries, in the body and the header,
    so that a user's report finds the traceback."""
    app = create_app(settings, engine=engine)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.router.add_api_route("/api/v1/test-boom", boom)
    app.router.routes.insert(0, app.router.routes.pop())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    caplog.handler.addFilter(ContextFilter())  # as the server's log handler has
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        with caplog.at_level("ERROR", logger="focushub.errors"):
            r = await http.get("/api/v1/test-boom", headers={"X-Request-ID": "report-me-42"})
    assert r.status_code == 500
    assert r.json()["error"] == {"code": "internal_error", "message": "Internal server error",
                                 "details": None, "request_id": "report-me-42"}
    assert r.headers["x-request-id"] == "report-me-42"
    record = next(rec for rec in caplog.records if rec.getMessage() == "unhandled error")
    assert record.request_id == "report-me-42"


async def test_changing_the_email_back_and_forth_does_not_mail_someone_without_end(
        settings, engine, owner_conn):
    app = create_app(settings.model_copy(update={"rate_mail_account": Rate.parse("3/86400")}),
                     engine=engine)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        mallory = await make_user(client)
        statuses = []
        for address in ("victim@example.org", "elsewhere@example.org") * 4:
            r = await client.put("/api/v1/users/me/email", headers=mallory["headers"],
                                 json={"email": address, "password": mallory["password"]})
            statuses.append(r.status_code)
        # Each address gets three mails; the fourth change to it is refused whole.
        assert statuses == [204] * 6 + [429, 429], statuses
        me = (await client.get("/api/v1/users/me", headers=mallory["headers"])).json()
    assert me["email"] == "elsewhere@example.org"
    assert await owner_conn.fetchval("SELECT count(*) FROM focushub_auth.mail_outbox"
                                     " WHERE to_email = 'victim@example.org'") == 3
