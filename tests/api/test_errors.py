"""Bad input answers with the right 4xx and the single error shape, never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import admin_of, make_user

SIGNUP = {"email": "e@example.org", "password": "long enough pw", "full_name": "E", "username": "eee"}


def _assert_error_shape(body: dict) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({**SIGNUP, "role": "admin"}, 422),  # unknown field
        ({**SIGNUP, "email": "not-an-email"}, 422),
        ({**SIGNUP, "email": 42}, 422),
        ({**SIGNUP, "username": "UPPER CASE!"}, 422),
        ({**SIGNUP, "username": "a" * 51}, 422),
        ({**SIGNUP, "full_name": "x" * 256}, 422),
        ({**SIGNUP, "password": "short"}, 422),
        ({k: v for k, v in SIGNUP.items() if k != "email"}, 422),
        ([], 422),
    ],
)
async def test_signup_validation(client, payload, status):
    r = await client.post("/api/v1/auth/signup", json=payload)
    assert r.status_code == status, r.text
    _assert_error_shape(r.json())


async def test_malformed_json_is_400(client):
    r = await client.post("/api/v1/auth/signup", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    _assert_error_shape(r.json())


async def test_non_json_body_is_415(client):
    r = await client.post("/api/v1/auth/login", content=b"email=a", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    _assert_error_shape(r.json())


async def test_a_form_sent_to_an_upload_is_told_to_be_multipart(client):
    alice = await make_user(client)
    r = await client.post("/api/v1/resources", data={"title": "Notes", "file": "notes.txt"},
                          headers=alice["headers"])
    assert r.status_code == 415
    _assert_error_shape(r.json())
    assert r.json()["error"]["message"] == "Send the request body as multipart/form-data"
    r = await client.post("/api/v1/auth/login", data={"email": "a@example.org"})
    assert r.json()["error"]["message"] == "Send the request body as application/json"


async def test_huge_body_is_413(client):
    r = await client.post("/api/v1/auth/signup", content=b'{"a":"' + b"x" * 2_000_000 + b'"}',
                          headers={"content-type": "application/json"})
    assert r.status_code == 413
    _assert_error_shape(r.json())


async def test_unknown_route_and_method(client):
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    _assert_error_shape(r.json())
    r = await client.delete("/api/v1/feed")
    assert r.status_code == 405
    _assert_error_shape(r.json())


async def test_failed_signup_leaves_nothing_behind(client, owner_conn):
    await make_user(client, username="first", email="first@example.org")
    r = await client.post("/api/v1/auth/signup", json={**SIGNUP, "username": "first"})
    assert r.status_code == 409
    # The conflicting signup created no half account, credentials or mail.
    assert await owner_conn.fetchval("SELECT count(*) FROM users") == 1
    assert await owner_conn.fetchval("SELECT count(*) FROM focushub_auth.credentials") == 1
    assert await owner_conn.fetchval("SELECT count(*) FROM focushub_auth.mail_outbox WHERE to_email = 'e@example.org'") == 0


async def test_health_and_ready(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["database"] == "ok"


async def test_openapi_lists_auth_and_user_endpoints(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout",
                 "/api/v1/auth/verify-email", "/api/v1/auth/password-reset/request",
                 "/api/v1/auth/password-reset/confirm", "/api/v1/users/me", "/api/v1/users/{user}"):
        assert path in paths
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_nul_character_is_422_not_500(client):
    session = await make_user(client)
    r = await client.patch("/api/v1/users/me", headers=session["headers"], json={"bio": "a\u0000b"})
    assert r.status_code == 422
    _assert_error_shape(r.json())


async def test_the_openapi_document_lists_the_error_statuses_and_refuses_empty_patches(client):
    doc = (await client.get("/openapi.json")).json()
    for path, item in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in item.items():
            statuses = set(op["responses"])
            assert {"401", "403", "404", "422", "429", "503"} <= statuses, (method, path)
            (content,) = op["responses"]["404"]["content"].values()
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorRead"}
    for name in ("PostUpdate", "QuestionUpdate", "ResourceUpdate", "AdminUserUpdate"):
        assert doc["components"]["schemas"][name]["minProperties"] == 1, name


async def test_the_openapi_document_says_where_a_token_is_optional(client):
    doc = (await client.get("/openapi.json")).json()
    assert set(doc["components"]["securitySchemes"]) == {"HTTPBearer"}
    optional, required = [{}, {"HTTPBearer": []}], [{"HTTPBearer": []}]
    assert doc["paths"]["/api/v1/posts/{post_id}"]["get"]["security"] == optional
    assert doc["paths"]["/api/v1/feed"]["get"]["security"] == optional
    assert doc["paths"]["/api/v1/posts"]["post"]["security"] == required
    assert doc["paths"]["/api/v1/users/me"]["get"]["security"] == required
    # And the document tells the truth: every operation it calls public answers without a
    # token, every one it says needs a token answers 401 without one.
    for path, method in (("/api/v1/feed", "get"), ("/api/v1/questions", "get"),
                         ("/api/v1/posts", "post"), ("/api/v1/notifications", "get")):
        r = await client.request(method.upper(), path, json={} if method == "post" else None)
        needs = doc["paths"][path][method]["security"] == required
        assert (r.status_code == 401) == needs, (path, r.status_code)


async def test_numbers_and_booleans_in_json_bodies_are_json_numbers_and_booleans(
        client, owner_conn):
    """`true` is not the number 1, nor "3" the number 3, nor "false" or 0 a boolean: each is
    refused with 422, as the AI answer rating is."""
    alice = await make_user(client)
    admin = await admin_of(client, owner_conn)
    room = (await client.post("/api/v1/chat/rooms", headers=alice["headers"],
                              json={"name": "Numbers"})).json()["id"]
    post = (await client.post("/api/v1/posts", headers=alice["headers"],
                              json={"title": "Typed", "content": "words"})).json()["id"]
    cases = [
        (alice, "POST", f"/api/v1/chat/rooms/{room}/read", {"seq": True}),
        (alice, "POST", f"/api/v1/chat/rooms/{room}/read", {"seq": "3"}),
        (alice, "PATCH", f"/api/v1/chat/rooms/{room}", {"is_active": "false"}),
        (alice, "PATCH", f"/api/v1/chat/rooms/{room}", {"is_active": 0}),
        (alice, "POST", "/api/v1/posts", {"title": "t", "content": "c", "is_published": "false"}),
        (alice, "PATCH", f"/api/v1/posts/{post}", {"is_published": 0}),
        (alice, "PATCH", "/api/v1/users/me/privacy", {"show_email": "true"}),
        (alice, "PATCH", "/api/v1/notifications/preferences", {"like": 0}),
        (alice, "POST", "/api/v1/notifications/read", {"all": "true"}),
        (admin, "PATCH", "/api/v1/admin/moderation-settings", {"hide_threshold": "5"}),
        (admin, "PATCH", "/api/v1/admin/moderation-settings", {"hide_threshold": True}),
        (admin, "PATCH", f"/api/v1/admin/users/{alice['user']['id']}", {"is_active": "false"}),
    ]
    for who, method, path, body in cases:
        r = await client.request(method, path, headers=who["headers"], json=body)
        assert r.status_code == 422, (method, path, body, r.text)
        _assert_error_shape(r.json())
    # Nothing above changed anything.
    me = await client.get("/api/v1/users/me", headers=alice["headers"])
    assert me.json()["is_active"] is True
    assert (await client.get(f"/api/v1/posts/{post}")).json()["is_published"] is True
    assert (await client.get("/api/v1/admin/moderation-settings",
                             headers=admin["headers"])).json()["hide_threshold"] == 3


# The domains whose operations take the id of a thing in their path, and a valid body for
# each method that needs one, so that only the id can be what is wrong.
_BY_ID_TAGS = {"questions", "answers", "ai answers", "posts", "comments", "votes", "follows",
               "users", "safety"}
_BODIES = {
    ("PATCH", "/api/v1/questions/{question_id}"): {"title": "A question's new title"},
    ("PATCH", "/api/v1/posts/{post_id}"): {"title": "New title"},
    ("PATCH", "/api/v1/answers/{answer_id}"): {"content": "New words"},
    ("PATCH", "/api/v1/comments/{comment_id}"): {"content": "New words"},
    ("POST", "/api/v1/questions/{question_id}/answers"): {"content": "An answer"},
    ("POST", "/api/v1/posts/{post_id}/comments"): {"content": "A comment"},
    ("PUT", "/api/v1/ai-answers/{answer_id}/feedback"): {"rating": 4},
}
# What an id in a path names; a vote's target is named by its collection.
_THINGS = {"question_id": "question", "answer_id": "answer", "post_id": "post",
           "comment_id": "comment", "user_id": "user", "user": "user", "room_id": "room",
           "export_id": "export", "votable_id": None}
# Removing one's block or mute of someone is done whoever they are (204, nothing to undo);
# an avatar's 404 is about the avatar (the user may have none).
_NOT_A_LOOKUP = {("DELETE", "/api/v1/users/{user_id}/block"),
                 ("DELETE", "/api/v1/users/{user_id}/mute")}
_OWN_CODE = {("GET", "/api/v1/users/{user_id}/avatar"): "avatar_not_found",
             ("PUT", "/api/v1/ai-answers/{answer_id}/feedback"): "ai_answer_not_found"}


async def test_a_404_names_what_is_not_there(client):
    """Every operation on a thing by its id answers an id that names nothing with 404
    ``<thing>_not_found`` (``question_not_found``, ``answer_not_found``, ``post_not_found``,
    …), never the bare ``not_found``, whether the refusal is the service's or the database's
    (a vote's target, an answer's acceptance)."""
    alice = await make_user(client)
    doc = (await client.get("/openapi.json")).json()
    missing = "00000000-0000-4000-8000-000000000000"
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            method = method.upper()
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            if not params or not _BY_ID_TAGS & set(op["tags"]) or (method, path) in _NOT_A_LOOKUP:
                continue
            (param,) = params
            thing = _THINGS[param] or path.split("/")[3].removesuffix("s")
            expected = _OWN_CODE.get((method, path), f"{thing}_not_found")
            body = _BODIES.get((method, path), {"vote_type": "upvote"} if method == "PUT"
                               and path.endswith("/vote") else None)
            r = await client.request(method, path.replace("{" + param + "}", missing),
                                     json=body, headers=alice["headers"])
            assert r.status_code == 404, (method, path, r.text)
            _assert_error_shape(r.json())
            assert r.json()["error"]["code"] == expected, (method, path, r.text)
            checked += 1
    assert checked >= 30


async def test_any_cursor_the_server_did_not_make_is_400_however_long(client):
    """A cursor is client input: one the server did not make is 400 ``invalid_cursor`` on
    every list, whether it does not decode or is longer than any the server makes (that one
    was a 422 ``validation_error``, as if the request were malformed)."""
    alice = await make_user(client)
    post = (await client.post("/api/v1/posts", headers=alice["headers"],
                              json={"title": "Paged", "content": "words"})).json()
    comment = (await client.post(f"/api/v1/posts/{post['id']}/comments",
                                 headers=alice["headers"], json={"content": "hi"})).json()
    question = (await client.post("/api/v1/questions", headers=alice["headers"],
                                  json={"title": "How do lists page?",
                                        "content": "With cursors"})).json()
    ids = {"post_id": post["id"], "comment_id": comment["id"], "question_id": question["id"],
           "user_id": alice["user"]["id"]}
    doc = (await client.get("/openapi.json")).json()
    checked = 0
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None or not path.startswith("/api/"):
            continue
        params = {p["name"]: p for p in op.get("parameters", [])}
        if "cursor" not in params:
            continue
        path_params = [name for name, p in params.items() if p["in"] == "path"]
        if not set(path_params) <= set(ids):
            continue  # a list under a thing this test does not make (a room, a resource)
        url = path.format(**{name: ids[name] for name in path_params})
        query = {"q": "paged"} if "q" in params and params["q"].get("required") else {}
        for cursor in ("x" * 501, "not-a-cursor"):
            r = await client.get(url, params={**query, "cursor": cursor},
                                 headers=alice["headers"])
            assert r.status_code == 400, (path, len(cursor), r.text)
            assert r.json()["error"]["code"] == "invalid_cursor", (path, r.text)
        checked += 1
    assert checked >= 10
