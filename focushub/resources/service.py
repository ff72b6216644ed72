"""Resources: upload, list, read, change, delete, download and preview.

Policies (0002/0003/0014): anyone reads public resources, authors also their
private ones; authors change and delete their own; admins delete any public one.
The file's row (``stored_files``) is visible exactly when its resource is, so
the download path asks the database, not Python, whether the caller may read it.
A guessed id of a private resource is 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO
from uuid import UUID, uuid4

from focushub.content.fields import normalize_tag
from focushub.content.schemas import UserSummary
from focushub.content.sql import author_params
from focushub.core.db import Caller, Tx
from focushub.core.errors import Forbidden, NotFound
from focushub.core.pagination import Page, decode_cursor, page_of
from focushub.core.runtime import Runtime
from focushub.core.security import anonymous_key
from focushub.files import service as files
from focushub.files import sniff
from focushub.resources import queries
from focushub.resources.schemas import (
    FileRead,
    PreviewRead,
    ResourceFields,
    ResourceListParams,
    ResourceRead,
    ResourceUpdate,
)
from focushub.safety import limits


def file_path(resource_id: UUID) -> str:
    """The stable API path of a resource's file (what ``resources.file_url`` holds)."""
    return f"/api/v1/resources/{resource_id}/file"


def _read(row: Mapping[str, Any]) -> ResourceRead:
    file = None
    if row["file_id"] is not None:
        stored = files.StoredFile.from_row(row, prefix="file_")
        preview = PreviewRead(
            status=stored.preview_status,
            image_url=(f"/api/v1/resources/{row['id']}/preview"
                       if stored.preview_key is not None else None),
            text=stored.preview_text,
        )
        file = FileRead(name=stored.file_name, size=stored.size,
                        content_type=stored.content_type, kind=row["file_type"],
                        sha256=stored.sha256, url=file_path(row["id"]), preview=preview)
    return ResourceRead(
        id=row["id"], author=UserSummary.from_row(row), title=row["title"],
        description=row["description"], category=row["category"], tags=row["tags"],
        is_public=row["is_public"], downloads_count=row["downloads_count"], file=file,
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def _one(tx: Tx, resource_id: UUID) -> ResourceRead:
    row = await tx.one_or_none(queries.SELECT + " WHERE r.id = :id", id=resource_id)
    if row is None:
        raise NotFound("No such resource", code="resource_not_found")
    return _read(row)


async def create_resource(
    rt: Runtime, caller: Caller, fields: ResourceFields, upload: BinaryIO, file_name: str | None
) -> ResourceRead:
    """Store the upload and create the resource; nothing is left behind if any step fails.

    An image is stored without its identifying metadata (``files.without_metadata``: GPS
    location, camera serial, XMP), its pixels as uploaded; the size, SHA-256 and quota
    are those of what is stored.

    Refusals: see ``files.service.receive`` (size, name, type), 422 ``corrupt_image`` for an
    image whose structure cannot be read, and 413 over the quota.
    """
    await limits.check_write(rt, caller, "upload")
    settings = rt.settings
    async with (files.receive(upload, file_name, max_bytes=settings.max_upload_bytes) as original,
                files.without_metadata(original) as received):
        async with files.stored(rt, received, "resource") as key:
            resource_id = uuid4()
            async with rt.transaction(caller) as tx:
                file_id = await files.insert(tx, received, key, purpose="resource",
                                             quota=settings.storage_quota_bytes)
                await tx.execute(
                    queries.INSERT, id=resource_id, title=fields.title,
                    description=fields.description, file_url=file_path(resource_id),
                    file_name=received.name, file_size=received.size,
                    file_type=received.kind.short, category=fields.category,
                    tags=fields.tags, is_public=fields.is_public, file_id=file_id)
                tx.enqueue("resources.process", resource_id=str(resource_id))
                return await _one(tx, resource_id)


# What a cursor holds for each order (queries.ORDERS): the row's column and its type.
_SORT_KEYS: dict[str, tuple[str, type]] = {
    "newest": ("created_at", datetime), "downloads": ("downloads_count", int),
    "name": ("sort_name", str), "size": ("sort_size", int)}


async def list_resources(rt: Runtime, caller: Caller, params: ResourceListParams) -> Page[ResourceRead]:
    """One page in keyset order: public resources, or with ``mine`` the caller's own."""
    order_by, after_cursor = queries.ORDERS[params.sort]
    where = [queries.FILTER_MINE if params.mine else queries.FILTER_PUBLIC]
    bind: dict[str, Any] = {"limit": params.limit + 1}
    if params.category is not None:
        where.append(queries.FILTER_CATEGORY)
        bind["category"] = params.category.strip()
    if params.tag is not None:
        where.append(queries.FILTER_TAG)
        bind["tag"] = normalize_tag(params.tag)
    if params.type is not None:
        where.append(queries.FILTER_TYPE)
        bind["file_type"] = params.type
    if params.author is not None:
        fragment, values = queries.FILTER_AUTHOR, author_params(params.author)
        where.append(fragment)
        bind.update(values)
    column, kind = _SORT_KEYS[params.sort]
    if params.cursor is not None:
        where.append(after_cursor)
        bind["c_key"], bind["c_id"] = decode_cursor(params.cursor, (kind, UUID))
    sql = f"{queries.SELECT} WHERE {' AND '.join(where)} ORDER BY {order_by} LIMIT :limit"
    async with rt.transaction(caller) as tx:
        rows = await tx.all(sql, **bind)
    page, next_cursor = page_of(rows, params.limit, lambda row: [row[column], row["id"]])
    return Page[ResourceRead](items=[_read(r) for r in page], next_cursor=next_cursor)


async def get_resource(rt: Runtime, caller: Caller, resource_id: UUID) -> ResourceRead:
    async with rt.transaction(caller) as tx:
        return await _one(tx, resource_id)


async def _refuse_write(tx: Tx, resource_id: UUID) -> None:
    mine = await tx.scalar(queries.VISIBLE, id=resource_id)
    if mine is None:
        raise NotFound("No such resource", code="resource_not_found")
    raise Forbidden("Only the author can change this resource", code="not_resource_author")


async def update_resource(
    rt: Runtime, caller: Caller, resource_id: UUID, data: ResourceUpdate
) -> ResourceRead:
    fields = data.model_dump(exclude_unset=True)
    async with rt.transaction(caller) as tx:
        sets = ", ".join(f"{name} = :{name}" for name in fields)
        updated = await tx.scalar(
            f"UPDATE public.resources SET {sets} WHERE id = :id RETURNING id",
            id=resource_id, **fields)
        if updated is None:
            await _refuse_write(tx, resource_id)
        return await _one(tx, resource_id)


async def delete_resource(rt: Runtime, caller: Caller, resource_id: UUID) -> None:
    """Delete the resource and its file; the objects go with the ``files.purge`` job."""
    async with rt.transaction(caller) as tx:
        deleted = await tx.scalar(queries.DELETE, id=resource_id)
        if deleted is None:
            await _refuse_write(tx, resource_id)
        tx.enqueue("files.purge")


async def open_file(
    rt: Runtime, caller: Caller, resource_id: UUID, *, client_address: str, count: bool
) -> tuple[files.StoredFile, bool]:
    """The resource's stored file and whether it may be shown inline, if the caller may read
    it; counts the download (``count``) once per downloader per day."""
    downloader = "" if caller.is_authenticated else anonymous_key(
        rt.jwt_secret, "resource-download", client_address, datetime.now(UTC).date())
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(queries.SELECT + " WHERE r.id = :id", id=resource_id)
        if row is None:
            raise NotFound("No such resource", code="resource_not_found")
        if row["file_id"] is None:
            raise NotFound("This resource has no uploaded file", code="file_missing")
        if count:
            await tx.scalar("SELECT public.record_resource_download(:id, :key)",
                            id=resource_id, key=downloader)
    stored = files.StoredFile.from_row(row, prefix="file_")
    return stored, sniff.inline(stored.content_type)


async def open_preview(rt: Runtime, caller: Caller, resource_id: UUID) -> files.StoredFile:
    """The resource's file row if the caller may read it and it has an image preview."""
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(queries.SELECT + " WHERE r.id = :id", id=resource_id)
    if row is None:
        raise NotFound("No such resource", code="resource_not_found")
    if row["file_id"] is None or row["file_preview_key"] is None:
        raise NotFound("This resource has no preview image", code="preview_missing")
    return files.StoredFile.from_row(row, prefix="file_")
