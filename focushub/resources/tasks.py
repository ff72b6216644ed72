"""Jobs of the resources domain."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import anyio
import procrastinate

from focushub.core.db import SERVICE
from focushub.core.jobs import TaskSet
from focushub.core.runtime import Runtime, runtime_of
from focushub.files import previews
from focushub.integrations.storage import ObjectMissing

log = logging.getLogger("focushub.resources")

tasks = TaskSet()


# Retries after the first run (procrastinate's max_attempts): 5, 25 and 125 s later.
MAX_RETRIES = 3


@tasks.task("resources.process", retry=procrastinate.RetryStrategy(max_attempts=MAX_RETRIES,
                                                                     exponential_wait=5))
async def process(context: procrastinate.JobContext, resource_id: str) -> None:
    """Make the file's preview and extract its text for search (once; idempotent).

    A file that cannot be decoded gets preview status ``failed`` and no text; the
    resource stays downloadable. A file whose object is missing from the store gets
    ``failed`` as well, and so does one whose every attempt failed otherwise (the store
    unreachable): never ``pending`` for good. The preview object's key is derived from
    the file's, so running again replaces it rather than adding another.
    """
    rt = runtime_of(context)
    try:
        await _process(rt, resource_id)
    except Exception:
        if context.job.attempts >= MAX_RETRIES:
            log.warning("resource %s: no preview after %d attempts", resource_id,
                        MAX_RETRIES + 1)
            async with rt.transaction(SERVICE) as tx:
                await tx.execute(
                    "UPDATE public.stored_files f SET preview_status = 'failed'"
                    " FROM public.resources r WHERE r.id = :id AND f.id = r.file_id"
                    " AND f.preview_status = 'pending'", id=resource_id)
        raise


async def _process(rt: Runtime, resource_id: str) -> None:
    async with rt.transaction(SERVICE) as tx:
        row = await tx.one_or_none(
            "SELECT f.id, f.storage_key, f.content_type FROM public.resources r"
            " JOIN public.stored_files f ON f.id = r.file_id WHERE r.id = :id", id=resource_id)
    if row is None:
        return  # deleted meanwhile, or no upload
    preview: previews.Preview | None = None
    status = "none"
    text: str | None = None
    with tempfile.TemporaryDirectory(prefix="focushub-process-") as folder:
        path = Path(folder) / "file"
        try:
            await rt.storage.download(row["storage_key"], path)
        except ObjectMissing:
            log.warning("resource %s: its object %s is missing", resource_id, row["storage_key"])
            # No preview will ever be made: said as failed, not left pending for good.
            async with rt.transaction(SERVICE) as tx:
                await tx.execute("UPDATE public.stored_files SET preview_status = 'failed'"
                                 " WHERE id = :id AND preview_status = 'pending'", id=row["id"])
            return
        try:
            preview = await anyio.to_thread.run_sync(previews.make_preview, path,
                                                     row["content_type"])
            status = "ready" if preview is not None else "none"
        except Exception:
            log.warning("resource %s: no preview", resource_id, exc_info=True)
            status = "failed"
        try:
            text = await anyio.to_thread.run_sync(previews.extract_text, path,
                                                  row["content_type"])
        except Exception:
            log.warning("resource %s: no text", resource_id, exc_info=True)
    preview_key = None
    if preview is not None and preview.image is not None:
        preview_key = f"{row['storage_key']}.preview.jpg"
        await rt.storage.put_bytes(preview_key, preview.image, "image/jpeg")
    async with rt.transaction(SERVICE) as tx:
        updated = await tx.scalar(
            "UPDATE public.stored_files SET preview_status = :status, preview_key = :key,"
            " preview_text = :text WHERE id = :id RETURNING id",
            status=status, key=preview_key, id=row["id"],
            text=preview.text if preview is not None else None)
        if updated is not None and text:
            await tx.execute("UPDATE public.resources SET extracted_text = :text WHERE id = :id",
                             text=text, id=resource_id)
    if updated is None and preview_key is not None:
        await rt.storage.delete(preview_key)  # the file went while we worked
