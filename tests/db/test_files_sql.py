"""Stored files' policies in SQL (0014, 0015): who sees, uploads and deletes which file, and
the attacks (someone else's name, someone else's room, tampering with a file's row)."""

from __future__ import annotations

import uuid

import pytest

from tests.db.helpers import (
    ACCESS_DENIED,
    ANON,
    RAISED,
    SERVICE,
    acting_as,
    affected,
    as_user,
    expect_error,
    make_message,
    make_room,
    make_user,
    set_caller,
)

SHA = "a" * 64


async def make_file(owner, user, *, purpose="resource", room=None) -> uuid.UUID:
    return await owner.fetchval(
        "INSERT INTO stored_files (owner_id, purpose, storage_key, file_name, content_type, size,"
        " sha256, room_id) VALUES ($1, $2, $3, 'a.pdf', 'application/pdf', 10, $4, $5) RETURNING id",
        user, purpose, f"{purpose}/{uuid.uuid4().hex}", SHA, room)


async def make_resource_with(owner, author, file_id, *, public=True) -> uuid.UUID:
    rid = uuid.uuid4()
    await owner.execute(
        "INSERT INTO resources (id, author_id, title, file_url, file_name, file_size, file_type,"
        " is_public, file_id) VALUES ($1, $2, 'Notes', $3, 'a.pdf', 10, 'pdf', $4, $5)",
        rid, author, f"/api/v1/resources/{rid}/file", public, file_id)
    return rid


@pytest.fixture
async def world(owner_conn):
    alice, bob, carol = [await make_user(owner_conn) for _ in range(3)]
    admin = await make_user(owner_conn, role="admin")
    public_file = await make_file(owner_conn, alice)
    private_file = await make_file(owner_conn, alice)
    loose_file = await make_file(owner_conn, alice)  # uploaded, not (yet) in a resource
    await make_resource_with(owner_conn, alice, public_file)
    private = await make_resource_with(owner_conn, alice, private_file, public=False)
    avatar = await make_file(owner_conn, bob, purpose="avatar")
    room = await make_room(owner_conn, alice, [bob])
    attachment = await make_file(owner_conn, alice, purpose="attachment", room=room)
    return dict(alice=alice, bob=bob, carol=carol, admin=admin, public_file=public_file,
                private_file=private_file, loose_file=loose_file, private=private,
                avatar=avatar, room=room, attachment=attachment)


async def visible(conn, caller) -> set[uuid.UUID]:
    async with acting_as(conn, caller):
        return {r["id"] for r in await conn.fetch("SELECT id FROM stored_files")}


async def test_who_sees_which_file(app_conn, world):
    w = world
    every = {w["public_file"], w["private_file"], w["loose_file"], w["avatar"], w["attachment"]}
    assert await visible(app_conn, as_user(w["alice"])) == every
    assert await visible(app_conn, as_user(w["bob"])) == {w["public_file"], w["avatar"],
                                                          w["attachment"]}
    assert await visible(app_conn, as_user(w["carol"])) == {w["public_file"], w["avatar"]}
    assert await visible(app_conn, ANON) == {w["public_file"], w["avatar"]}
    # Admins see public things like everyone; private files stay private.
    assert await visible(app_conn, as_user(w["admin"])) == {w["public_file"], w["avatar"]}
    assert await visible(app_conn, SERVICE) == every


async def test_uploading_in_someone_else_s_name_or_room_is_refused(app_conn, world):
    w = world
    insert = ("INSERT INTO stored_files (owner_id, purpose, storage_key, file_name, content_type,"
              " size, sha256, room_id) VALUES ($1, $2, $3, 'x.txt', 'text/plain', 3, $4, $5)")
    async with acting_as(app_conn, as_user(w["carol"])):
        await expect_error(app_conn, ACCESS_DENIED, insert, w["alice"], "resource", "resource/k1",
                           SHA, None)
        await expect_error(app_conn, ACCESS_DENIED, insert, w["carol"], "attachment",
                           "attachment/k2", SHA, w["room"])
        assert await affected(app_conn, insert, w["carol"], "resource", "resource/k3", SHA,
                              None) == 1
    async with acting_as(app_conn, as_user(w["bob"])):
        assert await affected(app_conn, insert, w["bob"], "attachment", "attachment/k4", SHA,
                              w["room"]) == 1
    async with acting_as(app_conn, ANON):
        await expect_error(app_conn, ACCESS_DENIED, insert, w["alice"], "resource", "resource/k5",
                           SHA, None)


async def test_a_file_s_row_cannot_be_tampered_with_or_deleted_by_others(app_conn, world):
    w = world
    async with acting_as(app_conn, as_user(w["alice"])):
        for column, value in (("size", 1), ("sha256", "b" * 64), ("storage_key", "resource/x"),
                              ("owner_id", w["bob"]), ("preview_status", "ready")):
            await expect_error(app_conn, ACCESS_DENIED,
                               f"UPDATE stored_files SET {column} = $1 WHERE id = $2",
                               value, w["loose_file"])
    async with acting_as(app_conn, as_user(w["bob"])):
        assert await affected(app_conn, "DELETE FROM stored_files WHERE id = ANY($1::uuid[])",
                              [w["public_file"], w["attachment"], w["loose_file"]]) == 0
        await expect_error(app_conn, ACCESS_DENIED, "SELECT * FROM storage_deletions")
    async with acting_as(app_conn, as_user(w["alice"])):
        assert await affected(app_conn, "DELETE FROM stored_files WHERE id = $1",
                              w["loose_file"]) == 1


async def test_a_resource_holds_only_its_author_s_own_upload(app_conn, world):
    w = world
    insert = ("INSERT INTO resources (id, author_id, title, file_url, file_name, file_size,"
              " file_type, file_id) VALUES ($1, $2, 't', 'u', 'n', 1, 'pdf', $3)")
    async with acting_as(app_conn, as_user(w["bob"])):
        await expect_error(app_conn, RAISED, insert, uuid.uuid4(), w["bob"], w["loose_file"],
                           message="forbidden:")
        await expect_error(app_conn, RAISED, insert, uuid.uuid4(), w["bob"], w["avatar"],
                           message="forbidden:")
        await expect_error(app_conn, ACCESS_DENIED,
                           "UPDATE resources SET file_id = $1 WHERE author_id = $2",
                           w["avatar"], w["bob"])


async def test_deleting_an_account_queues_its_objects(owner_conn):
    dave = await make_user(owner_conn)
    await make_resource_with(owner_conn, dave, await make_file(owner_conn, dave))
    await make_file(owner_conn, dave, purpose="avatar")
    keys = await owner_conn.fetch("SELECT storage_key FROM stored_files WHERE owner_id = $1", dave)
    assert len(keys) == 2
    await owner_conn.execute("DELETE FROM users WHERE id = $1", dave)
    queued = {r["storage_key"] for r in await owner_conn.fetch("SELECT storage_key FROM storage_deletions")}
    assert queued == {r["storage_key"] for r in keys}


async def test_downloads_count_once_per_day_and_only_what_one_may_see(app_conn, owner_conn, world):
    w = world
    public = await owner_conn.fetchval("SELECT id FROM resources WHERE file_id = $1",
                                       w["public_file"])
    count = "SELECT public.record_resource_download($1, $2)"
    for caller, resource, key, expected in (
            (as_user(w["bob"]), public, "", True),
            (as_user(w["bob"]), public, "", False),  # the same day again
            (as_user(w["bob"]), w["private"], "", False),  # not his to see
            (ANON, public, "anon:" + "0" * 32, True),
            (ANON, public, "anon:" + "0" * 32, False)):
        await app_conn.execute("BEGIN")
        try:
            await set_caller(app_conn, caller)
            assert await app_conn.fetchval(count, resource, key) is expected
            await app_conn.execute("COMMIT")
        except BaseException:
            await app_conn.execute("ROLLBACK")
            raise
    async with acting_as(app_conn, ANON):
        await expect_error(app_conn, RAISED, count, public, "an address", message="validation_error")
    assert await owner_conn.fetchval("SELECT downloads_count FROM resources WHERE id = $1",
                                     public) == 2
    assert await owner_conn.fetchval("SELECT downloads_count FROM resources WHERE id = $1",
                                     w["private"]) == 0


async def test_an_archived_room_takes_no_upload_and_no_edit(app_conn, owner_conn):
    """0062: the upload policy asks for an active room; an edit in an archived room is
    refused, a deletion is not."""
    alice, bob = await make_user(owner_conn), await make_user(owner_conn)
    room = await make_room(owner_conn, alice, [bob])
    message = await make_message(owner_conn, room, bob)
    other = await make_message(owner_conn, room, bob)
    await owner_conn.execute("UPDATE chat_rooms SET is_active = false WHERE id = $1", room)
    insert = ("INSERT INTO stored_files (owner_id, purpose, storage_key, file_name, content_type,"
              " size, sha256, room_id) VALUES ($1, 'attachment', $2, 'x.txt', 'text/plain', 3,"
              " $3, $4)")
    async with acting_as(app_conn, as_user(bob)):
        await expect_error(app_conn, ACCESS_DENIED, insert, bob, f"attachment/{uuid.uuid4().hex}",
                           SHA, room)
        await expect_error(app_conn, RAISED, "UPDATE chat_messages SET content = 'edited'"
                           " WHERE id = $1", message, message="conflict: the room is archived")
        deleted = await app_conn.fetchrow("SELECT * FROM public.chat_delete_message($1)", other)
        assert deleted is not None and deleted["deleted_at"] is not None
