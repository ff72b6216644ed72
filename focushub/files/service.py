"""Stored files: receiving an upload, storing it, serving it, and removing it.

An upload is copied from the request into a temporary file while its SHA-256 is
computed, then checked (size, name, sniffed type, archive shape) before anything
is written: a refused file leaves no object and no row. The object goes into the
store first and the row second, in the caller's transaction (with the quota
check); if that transaction fails the object is deleted again, and if the process
dies in between, the orphan sweep (``files.sweep``) removes it later. Deleting a
row queues its objects in ``storage_deletions`` (a trigger), emptied by
``files.purge``: the store is never changed inside a transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from uuid import UUID

import anyio
from anyio.lowlevel import RunVar

from focushub.core.db import Caller, Tx
from focushub.core.errors import AppError, PayloadTooLarge
from focushub.core.runtime import Runtime
from focushub.files import sniff
from focushub.files.schemas import StorageUsage

T = TypeVar("T")

PURPOSES = ("resource", "avatar", "attachment")
# Objects made from a stored file, named "<key><suffix>", by the folder of their key: an
# avatar's smaller sizes (users.service.AVATAR_SIZES: "<key>.128", "<key>.48") and a
# resource's preview (resources.tasks: "<key>.preview.jpg"; its row queues it too, but the
# preview may be written after the row went). files.purge deletes them by these names:
# listing "<key>." read the whole folder on local disk for every key, so a purge cost as
# much as everything stored. An object of any other name is left to files.sweep.
DERIVED_SUFFIXES = {"avatar": (".128", ".48"), "resource": (".preview.jpg",)}


def derived_keys(key: str) -> list[str]:
    """The objects made from ``key`` that may exist (deleting one that does not is harmless)."""
    folder = key.split("/", 1)[0]
    return [key + suffix for suffix in DERIVED_SUFFIXES.get(folder, ())]


@dataclass(frozen=True, slots=True)
class Received:
    """An accepted upload, in a temporary file until the ``receive`` block ends."""

    path: Path
    name: str
    size: int
    sha256: str
    kind: sniff.Kind


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: UUID
    storage_key: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    created_at: Any
    preview_status: str
    preview_key: str | None
    preview_text: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], prefix: str = "") -> StoredFile:
        return cls(**{f: row[prefix + f] for f in cls.__slots__})


FILE_COLUMNS = ", ".join(f"f.{c} AS file_{c}" for c in StoredFile.__slots__)


def _refused(exc: sniff.Refused) -> AppError:
    return AppError(exc.message, code=exc.code, status_code=exc.status)


def _copy_and_hash(source: BinaryIO, target: BinaryIO, max_bytes: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    source.seek(0)
    while chunk := source.read(1024 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Files are limited to {max_bytes:,} bytes",
                                  code="file_too_large")
        digest.update(chunk)
        target.write(chunk)
    return size, digest.hexdigest()


@asynccontextmanager
async def receive(source: BinaryIO, name: str | None, *, max_bytes: int,
                  allowed: tuple[sniff.Kind, ...] | None = None) -> AsyncIterator[Received]:
    """Check an uploaded file and hold it in a temporary file for the block.

    Refusals (each an ``AppError`` in the single error shape): 413 over ``max_bytes``;
    422 empty, bad name, corrupt or bomb-like archive, an image over
    ``previews.MAX_PIXELS`` pixels; 415 a type not accepted (or not in
    ``allowed``), or content that disagrees with the name's extension.
    """
    try:
        clean_name = sniff.check_name(name or "")
    except sniff.Refused as exc:
        raise _refused(exc) from None
    with tempfile.TemporaryDirectory(prefix="focushub-upload-") as folder:
        path = Path(folder) / "upload"

        def copy() -> tuple[int, str]:
            with path.open("wb") as target:
                return _copy_and_hash(source, target, max_bytes)

        size, sha256 = await anyio.to_thread.run_sync(copy)
        if size == 0:
            raise AppError("The file is empty", code="empty_file", status_code=422)
        try:
            kind = await anyio.to_thread.run_sync(sniff.sniff, path, clean_name)
        except sniff.Refused as exc:
            raise _refused(exc) from None
        if allowed is not None and kind not in allowed:
            raise AppError(f"{kind.mime} is not accepted here", code="unsupported_type",
                           status_code=415)
        if kind in sniff.IMAGES:
            from focushub.files import previews

            if await anyio.to_thread.run_sync(previews.too_many_pixels, path):
                raise AppError(
                    f"Images are limited to {previews.MAX_PIXELS // 1_000_000} megapixels",
                    code="image_too_large", status_code=422,
                    details={"max_pixels": previews.MAX_PIXELS})
        yield Received(path, clean_name, size, sha256, kind)


# Image decodes a request may run at once in one process. PNG, WebP and GIF cannot be
# decoded at a reduced scale, so one decode of an image at the 64-megapixel limit holds it
# whole (256 MB of RGBA) and more while it is resized; a burst of avatar or chat photo
# uploads took that many times over, one per thread of anyio's pool (40). Requests beyond
# the bound wait for a slot.
IMAGE_DECODES = 2
_decode_slots: RunVar[anyio.CapacityLimiter] = RunVar("focushub.files.image_decodes")


def decode_slots() -> anyio.CapacityLimiter:
    """The limiter of image decodes of the running event loop (a server process has one).
    One per loop, not per module: a limiter waits with its loop's primitives, and the CLI
    and the tests run several loops one after another."""
    try:
        return _decode_slots.get()
    except LookupError:
        slots = anyio.CapacityLimiter(IMAGE_DECODES)
        _decode_slots.set(slots)
        return slots


async def decode(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, which decodes an image, in a worker thread once one of the
    :data:`IMAGE_DECODES` slots is free."""
    return await anyio.to_thread.run_sync(function, *args, limiter=decode_slots())


@asynccontextmanager
async def reencoded(received: Received, size: int) -> AsyncIterator[Received]:
    """``received`` (an image) decoded (in a :func:`decode` slot) and encoded again without
    any metadata (EXIF, GPS location), fitted into ``size`` pixels a side: what gets stored
    is never the original bytes. PNG stays PNG, other images become JPEG."""
    from focushub.files import previews

    try:
        data = await decode(previews.strip_image, received.path, received.kind.mime, size)
    except Exception:
        raise AppError("The image cannot be decoded", code="corrupt_image",
                       status_code=422) from None
    kind = sniff.PNG if received.kind is sniff.PNG else sniff.JPEG
    name = received.name if kind is received.kind else received.name.rsplit(".", 1)[0] + ".jpg"
    with tempfile.TemporaryDirectory(prefix="focushub-image-") as folder:
        path = Path(folder) / "image"
        path.write_bytes(data)
        yield Received(path, name, len(data), hashlib.sha256(data).hexdigest(), kind)


@asynccontextmanager
async def without_metadata(received: Received) -> AsyncIterator[Received]:
    """``received`` without the metadata that may tell who made it and where, if it is an
    image (``files.metadata``: EXIF and XMP, GPS location included, comments, anything
    after the image's end), with its pixels untouched and its EXIF orientation kept; any
    other file as it is. Size and SHA-256 are those of the bytes that will be stored.
    Refuses (422 ``corrupt_image``) an image whose structure cannot be walked."""
    if received.kind not in sniff.IMAGES:
        yield received
        return
    from focushub.files import metadata

    with tempfile.TemporaryDirectory(prefix="focushub-image-") as folder:
        path = Path(folder) / "image"

        def rewrite() -> tuple[int, str]:
            metadata.strip(received.path, path, received.kind.mime)
            digest = hashlib.sha256()
            with path.open("rb") as written:
                while chunk := written.read(1024 * 1024):
                    digest.update(chunk)
            return path.stat().st_size, digest.hexdigest()

        try:
            size, sha256 = await anyio.to_thread.run_sync(rewrite)
        except metadata.Unreadable:
            raise AppError("The image cannot be read", code="corrupt_image",
                           status_code=422) from None
        yield Received(path, received.name, size, sha256, received.kind)


def new_key(purpose: str) -> str:
    """A fresh server-chosen object key; never derived from anything the client sent."""
    assert purpose in PURPOSES
    return f"{purpose}/{secrets.token_hex(16)}"


@asynccontextmanager
async def stored(rt: Runtime, received: Received, purpose: str) -> AsyncIterator[str]:
    """Put ``received`` into the store under a new key for the block, which writes the row;
    if the block fails the object is deleted again, with those the block derived from it
    (:func:`derived_keys`: an avatar's smaller sizes are put before its row is written)."""
    key = new_key(purpose)
    await rt.storage.put_file(key, received.path, received.kind.mime)
    try:
        yield key
    except BaseException:
        with anyio.CancelScope(shield=True):
            for made in (key, *derived_keys(key)):
                with contextlib.suppress(Exception):
                    await rt.storage.delete(made)
        raise


async def lock_uploads(tx: Tx) -> None:
    """Wait for the caller's other uploads to commit, until this transaction ends (taken
    again by the same transaction, it does not wait): what a statement reads after it
    includes their files."""
    await tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('storage:' || auth.uid()::text, 0))")


async def insert(tx: Tx, received: Received, key: str, *, purpose: str, quota: int,
                 room_id: UUID | None = None) -> UUID:
    """Write the ``stored_files`` row as the caller, within their quota (admins have none).

    Exact under concurrency: the caller's uploads are serialized on an advisory lock
    for the check, so two uploads cannot both squeeze into the last free bytes.
    """
    # The lock first, in a statement of its own: the sum must be read with a snapshot taken
    # after the lock is held, or it would miss the files of the upload that held it before.
    await lock_uploads(tx)
    row = await tx.one(
        "SELECT focushub_auth.is_admin() AS admin, (SELECT coalesce(sum(size), 0)::bigint"
        " FROM public.stored_files WHERE owner_id = auth.uid()) AS used")
    if not row["admin"] and row["used"] + received.size > quota:
        raise AppError(
            f"This upload would exceed your storage quota of {quota:,} bytes "
            f"({row['used']:,} used)", code="quota_exceeded", status_code=413,
            details={"quota": quota, "used": row["used"], "size": received.size})
    return await tx.scalar(
        "INSERT INTO public.stored_files"
        " (owner_id, purpose, storage_key, file_name, content_type, size, sha256, room_id)"
        " VALUES (auth.uid(), :purpose, :key, :name, :type, :size, :sha, :room_id) RETURNING id",
        purpose=purpose, key=key, name=received.name, type=received.kind.mime,
        size=received.size, sha=received.sha256, room_id=room_id)


async def storage_usage(rt: Runtime, caller: Caller) -> StorageUsage:
    """What the caller's files take, against their quota (none for admins)."""
    async with rt.transaction(caller) as tx:
        row = await tx.one(
            "SELECT focushub_auth.is_admin() AS admin, (SELECT coalesce(sum(size), 0)::bigint"
            " FROM public.stored_files WHERE owner_id = auth.uid()) AS used")
    return StorageUsage(used_bytes=row["used"],
                        quota_bytes=None if row["admin"] else rt.settings.storage_quota_bytes)

