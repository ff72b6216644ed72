"""Export of everything an account holds, and deletion of the account.

The export is a zip of JSON documents (``queries.OBJECTS`` and ``queries.LISTS``)
plus the account's uploaded files under ``files/``, read in one transaction as
the account holder, so RLS vets every row. It is written to a temporary file:
list documents are streamed from a server-side cursor in batches and files from
the object store, so neither is ever held in memory whole.

A small account (``queries.SIZE`` within ``export_sync_max_rows`` and
``export_sync_max_bytes``) gets its zip in the response of
``GET /api/v1/users/me/export``; the caller removes the temporary file once sent.
A larger one, and every ``POST /api/v1/users/me/export``, gets an
``account_exports`` row (0033) and the ``accounts.export`` job, which writes the
same zip, stores it as ``export/<random hex>``, marks the row ready and notifies
the owner. Only the owner can see the row or download its zip, until it expires
(``export_expiry_hours``); ``accounts.expire_exports`` then deletes the row, and
``files.purge`` the object. One export per person is queued or running at a time:
asking again returns that one.

Deletion asks for the current password again (under the account's login limit), then ``delete_own_account()``
(0022) removes the account and what the seed's ON DELETE rules take with it in
one transaction; the chat events it causes go out on commit and the uploaded
objects are purged by the ``files.purge`` job.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import anyio
import orjson

from focushub import __version__
from focushub.accounts import queries
from focushub.accounts.schemas import AccountDelete, AccountExportRead
from focushub.chat import events as chat_events
from focushub.core import observability, ratelimit
from focushub.core.db import SERVICE, Caller, Tx
from focushub.core.errors import Forbidden, NotFound
from focushub.core.runtime import Runtime

# Written to the zip in pieces of about this many bytes (one thread hop each).
_FLUSH = 256 * 1024


def _json(value: Any) -> bytes:
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


async def _write_list(tx: Tx, sql: str, target: IO[bytes]) -> None:
    """One JSON array, a row at a time, laid out as ``_json`` lays out a whole list."""
    buffer = bytearray(b"[")
    empty = True
    async for value in tx.stream_scalars(sql):
        buffer += b"\n  " if empty else b",\n  "
        # orjson escapes newlines inside strings, so every newline here is layout.
        buffer += _json(value).replace(b"\n", b"\n  ")
        empty = False
        if len(buffer) >= _FLUSH:
            await anyio.to_thread.run_sync(target.write, bytes(buffer))
            buffer.clear()
    buffer += b"]" if empty else b"\n]"
    await anyio.to_thread.run_sync(target.write, bytes(buffer))


async def write_export(rt: Runtime, caller: Caller, path: Path) -> str:
    """Write the caller's export as a zip at ``path``; returns the download name."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        async with rt.transaction(caller) as tx:
            objects = {file: await tx.scalar(sql) for file, sql in queries.OBJECTS.items()}
            if objects["account.json"] is None:
                raise NotFound("This account no longer exists", code="user_not_found")
            account = orjson.loads(_json(objects["account.json"]))
            archive.writestr("README.txt", (
                f"Focus Hub account export of {account['username']}\n"
                f"Made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by Focus Hub {__version__}.\n"
                "Each .json file holds one kind of record; files/ holds your uploads.\n"))
            for file in queries.DOCUMENTS:
                if file in objects:
                    archive.writestr(file, _json(objects[file]))
                    continue
                with archive.open(file, "w", force_zip64=True) as target:
                    await _write_list(tx, queries.LISTS[file], target)
            stored = await tx.all(queries.FILES)
        for row in stored:
            # The stored name is checked to hold no path separator (0014).
            with archive.open(f"files/{row['id']}-{row['file_name']}", "w",
                              force_zip64=True) as target:
                async for chunk in rt.storage.read(row["storage_key"]):
                    await anyio.to_thread.run_sync(target.write, chunk)
    return f"focushub-export-{account['username']}-{datetime.now(UTC):%Y%m%d}.zip"


def _temporary_zip() -> Path:
    fd, name = tempfile.mkstemp(prefix="focushub-export-", suffix=".zip")
    os.close(fd)
    return Path(name)


async def export_account(rt: Runtime, caller: Caller) -> tuple[Path, str]:
    """Write the caller's export to a temporary zip; returns its path and a download name.
    The caller deletes the file. Counts against the account's export limit
    (``rate_export``; 429 beyond it), whose cost is the request's own: the job's exports
    (one at a time) are not counted."""
    await ratelimit.hit(rt.limiter, f"export:{caller.user_id}", rt.settings.rate_export)
    path = _temporary_zip()
    try:
        filename = await write_export(rt, caller, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, filename


async def export_is_small(rt: Runtime, caller: Caller) -> bool:
    """Whether the caller's export may be built within a request (bounded counts)."""
    settings = rt.settings
    async with rt.transaction(caller) as tx:
        size = await tx.one(queries.SIZE, cap=settings.export_sync_max_rows + 1)
    return size["rows"] <= settings.export_sync_max_rows and \
        size["bytes"] <= settings.export_sync_max_bytes


async def export_now_or_later(rt: Runtime, caller: Caller) -> tuple[Path, str] | AccountExportRead:
    """``GET /users/me/export``: the zip of a small account, else its export job."""
    if await export_is_small(rt, caller):
        return await export_account(rt, caller)
    return await request_export(rt, caller)


def _export_read(row: Any) -> AccountExportRead:
    data = dict(row)
    if data["status"] == "ready":
        data["download_url"] = f"/api/v1/users/me/exports/{data['id']}/download"
    return AccountExportRead.model_validate(data)


async def request_export(rt: Runtime, caller: Caller) -> AccountExportRead:
    """A new export job for the caller, or the one already queued or running. A new one
    replaces the caller's earlier finished export."""
    async with rt.transaction(caller) as tx:
        made = await tx.one(queries.REQUEST_EXPORT)
        if made["created"]:
            tx.enqueue("accounts.export", export_id=str(made["id"]))
            # The earlier export's object, if one was replaced.
            tx.enqueue("files.purge")
        row = await tx.one(queries.EXPORT, id=made["id"])
    return _export_read(row)


async def get_export(rt: Runtime, caller: Caller, export_id: UUID) -> AccountExportRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(queries.EXPORT, id=export_id)
    if row is None:
        raise NotFound("No such export", code="export_not_found")
    return _export_read(row)


async def latest_export(rt: Runtime, caller: Caller) -> AccountExportRead | None:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(queries.LATEST_EXPORT)
    return None if row is None else _export_read(row)


async def open_export(rt: Runtime, caller: Caller, export_id: UUID) -> Mapping[str, Any]:
    """The stored zip (``storage_key``, ``file_name``, ``size``, ``sha256``,
    ``finished_at``) of a ready, unexpired export of the caller's; 404 otherwise."""
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(queries.EXPORT_FILE, id=export_id)
    if row is None:
        raise NotFound("No such export, or it has expired", code="export_not_found")
    return row


# --- the jobs (accounts/tasks.py) ---------------------------------------------------------


def _sha256_of(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


async def _notify(tx: Tx, user_id: UUID, title: str, message: str, **data: Any) -> None:
    await tx.scalar(queries.NOTIFY, user_id=user_id, title=title, message=message,
                    data=orjson.dumps({"kind": "account_export", **data}).decode())


async def build_export(rt: Runtime, export_id: UUID) -> None:
    """Run export ``export_id``: write the zip as its owner, store it, mark it ready and
    tell the owner. Idempotent: an export no longer queued or running (done, failed, or
    gone with its account) is left alone; a run cut off part-way starts over, and an
    object stored by it without its row is removed by ``files.sweep``."""
    hours = rt.settings.export_expiry_hours
    async with rt.transaction(SERVICE) as tx:
        user_id = await tx.scalar(queries.EXPORT_START, id=export_id)
    if user_id is None:
        return
    owner = Caller(role="authenticated", user_id=user_id, claims={"sub": str(user_id)})
    key = f"export/{secrets.token_hex(16)}"
    path = _temporary_zip()
    try:
        name = await write_export(rt, owner, path)
        size, sha256 = await anyio.to_thread.run_sync(_sha256_of, path)
        await rt.storage.put_file(key, path, "application/zip")
    finally:
        path.unlink(missing_ok=True)
    async with rt.transaction(SERVICE) as tx:
        done = await tx.one_or_none(queries.EXPORT_READY, id=export_id, key=key, name=name,
                                    size=size, sha=sha256, hours=hours)
        if done is not None:
            await _notify(
                tx, user_id, "Your data export is ready",
                f"Download it from your account settings until "
                f"{done['expires_at']:%Y-%m-%d %H:%M} UTC.",
                export_id=str(export_id),
                url=f"/api/v1/users/me/exports/{export_id}/download")
    if done is None:  # the row went meanwhile (the account was deleted): so does the zip
        await rt.storage.delete(key)


async def fail_export(rt: Runtime, export_id: UUID, error: str) -> None:
    """Mark export ``export_id`` failed after its last attempt, and tell its owner."""
    async with rt.transaction(SERVICE) as tx:
        user_id = await tx.scalar(queries.EXPORT_FAILED, id=export_id, error=error,
                                  hours=rt.settings.export_expiry_hours)
        if user_id is not None:
            await _notify(tx, user_id, "Your data export failed",
                          "Something went wrong while making it. Ask for a new one from your"
                          " account settings.", export_id=str(export_id))


async def expire_exports(rt: Runtime) -> int:
    """Delete exports past their expiry (their objects go with ``files.purge``), after
    failing those that lost their job; returns how many were deleted."""
    async with rt.transaction(SERVICE) as tx:
        await tx.all(queries.EXPORTS_STALLED, hours=rt.settings.export_expiry_hours)
        gone = await tx.scalar(queries.EXPORTS_EXPIRED)
        if gone:
            tx.enqueue("files.purge")
    return gone


async def delete_account(rt: Runtime, caller: Caller, data: AccountDelete) -> dict[str, int]:
    """Delete the caller's account after checking their password; returns what went.
    The check counts against the account's login limit, as changing the password or the
    email does (429 once spent), so a stolen access token is no password oracle."""
    await ratelimit.hit(rt.limiter, f"login-account:{caller.user_id}", rt.settings.rate_login_account)
    async with rt.transaction(caller) as tx:
        email = await tx.scalar(queries.OWN_EMAIL)
        if email is None:
            raise NotFound("This account no longer exists", code="user_not_found")
        password_hash = await tx.scalar(queries.LOGIN_LOOKUP, email=email)
    if not await anyio.to_thread.run_sync(rt.passwords.verify, password_hash, data.password):
        raise Forbidden("The password is wrong", code="wrong_password")
    async with rt.transaction(caller) as tx:
        tx.before_commit(chat_events.publish_transaction_events)
        gone = await tx.scalar(queries.DELETE, rid=observability.request_id.get())
        tx.enqueue("files.purge")
    return orjson.loads(gone) if isinstance(gone, str | bytes) else gone
