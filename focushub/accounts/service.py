"""Export of everything an account holds, and deletion of the account.

The export is a zip of JSON documents (``queries.EXPORT``) plus the account's
uploaded files under ``files/``, read in one transaction as the account holder,
so it is one consistent snapshot that RLS has vetted. It is written to a
temporary file (files are streamed from the object store, never held in memory
whole) that the caller removes once sent.

Deletion asks for the current password again, then ``delete_own_account()``
(0022) removes the account and what the seed's ON DELETE rules take with it in
one transaction; the chat events it causes go out on commit and the uploaded
objects are purged by the ``files.purge`` job.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import orjson

from focushub import __version__
from focushub.accounts import queries
from focushub.accounts.schemas import AccountDelete
from focushub.chat import events as chat_events
from focushub.core import observability
from focushub.core.db import Caller
from focushub.core.errors import Forbidden, NotFound
from focushub.core.runtime import Runtime
from focushub.core.security import verify_password


def _json(value: Any) -> bytes:
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


async def export_account(rt: Runtime, caller: Caller) -> tuple[Path, str]:
    """Write the caller's export to a temporary zip; returns its path and a download name.
    The caller deletes the file."""
    fd, name = tempfile.mkstemp(prefix="focushub-export-", suffix=".zip")
    os.close(fd)
    path = Path(name)
    try:
        async with rt.transaction(caller) as tx:
            documents = {file: await tx.scalar(sql) for file, sql in queries.EXPORT.items()}
            if documents["account.json"] is None:
                raise NotFound("This account no longer exists", code="user_not_found")
            stored = await tx.all(queries.FILES)
        account = orjson.loads(_json(documents["account.json"]))
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.txt", (
                f"Focus Hub account export of {account['username']}\n"
                f"Made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by Focus Hub {__version__}.\n"
                "Each .json file holds one kind of record; files/ holds your uploads.\n"))
            for file, value in documents.items():
                archive.writestr(file, _json(value))
            for row in stored:
                # The stored name is checked to hold no path separator (0014).
                with archive.open(f"files/{row['id']}-{row['file_name']}", "w") as target:
                    async for chunk in rt.storage.read(row["storage_key"]):
                        await anyio.to_thread.run_sync(target.write, chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, f"focushub-export-{account['username']}-{datetime.now(UTC):%Y%m%d}.zip"


async def delete_account(rt: Runtime, caller: Caller, data: AccountDelete) -> dict[str, int]:
    """Delete the caller's account after checking their password; returns what went."""
    async with rt.transaction(caller) as tx:
        email = await tx.scalar(queries.OWN_EMAIL)
        if email is None:
            raise NotFound("This account no longer exists", code="user_not_found")
        password_hash = await tx.scalar(queries.LOGIN_LOOKUP, email=email)
    if not await anyio.to_thread.run_sync(verify_password, password_hash, data.password):
        raise Forbidden("The password is wrong", code="wrong_password")
    async with rt.transaction(caller) as tx:
        tx.before_commit(chat_events.publish_transaction_events)
        gone = await tx.scalar(queries.DELETE, rid=observability.request_id.get())
        tx.enqueue("files.purge")
    return orjson.loads(gone) if isinstance(gone, str | bytes) else gone
