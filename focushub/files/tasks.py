"""Jobs of stored files: deleting objects whose rows are gone, and the orphan sweep."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import procrastinate

from focushub.core.db import SERVICE
from focushub.core.jobs import TaskSet
from focushub.core.runtime import runtime_of
from focushub.files.service import PURPOSES, derived_keys

log = logging.getLogger("focushub.files")

tasks = TaskSet()

_BATCH = 200
# An object younger than this may belong to an upload whose row is not committed yet.
SWEEP_GRACE = timedelta(hours=6)
# The folders Focus Hub names its objects in (files.service.new_key, accounts' exports): the
# sweep looks only there, as the bucket (or its prefix) may hold what is not ours.
SWEPT_FOLDERS = tuple(f"{purpose}/" for purpose in PURPOSES) + ("export/",)
@tasks.task("files.purge", cron="* * * * *")
async def purge(context: procrastinate.JobContext, timestamp: int | None = None) -> int:
    """Delete the objects queued in ``storage_deletions``, then their queue rows.

    Rows are locked while their objects are deleted (two workers share the work);
    a crash leaves the rows, and deleting an object twice is harmless.
    """
    rt = runtime_of(context)
    purged = 0
    while True:
        async with rt.transaction(SERVICE) as tx:
            keys = [r["storage_key"] for r in await tx.all(
                "SELECT storage_key FROM public.storage_deletions ORDER BY queued_at"
                " LIMIT :n FOR UPDATE SKIP LOCKED", n=_BATCH)]
            for key in keys:
                await rt.storage.delete(key)
                for derived in derived_keys(key):
                    await rt.storage.delete(derived)
            if keys:
                await tx.execute("DELETE FROM public.storage_deletions"
                                 " WHERE storage_key = ANY(CAST(:keys AS text[]))", keys=keys)
        purged += len(keys)
        if len(keys) < _BATCH:
            return purged


@tasks.task("files.sweep", cron="17 4 * * *")
async def sweep(context: procrastinate.JobContext, timestamp: int | None = None,
                grace_seconds: float | None = None) -> int:
    """Delete stored objects that no row names (``stored_files``, or ``account_exports``
    for export zips; left by a crash between the object's put and its row's commit), once
    they are older than ``grace_seconds`` (default :data:`SWEEP_GRACE`). A derived object
    ``<key>.<what>`` belongs to the row of ``<key>``. Only :data:`SWEPT_FOLDERS` are looked
    at: anything else in the bucket is not Focus Hub's to delete."""
    rt = runtime_of(context)
    grace = SWEEP_GRACE if grace_seconds is None else timedelta(seconds=grace_seconds)
    cutoff = datetime.now(UTC) - grace
    async with rt.transaction(SERVICE) as tx:
        # Attachments uploaded but never sent; their objects go with files.purge.
        unsent = await tx.scalar(
            "WITH gone AS (DELETE FROM public.stored_files f WHERE f.purpose = 'attachment'"
            "   AND f.created_at < now() - interval '1 day'"
            "   AND NOT EXISTS (SELECT 1 FROM public.chat_messages m WHERE m.file_id = f.id)"
            "   RETURNING 1) SELECT count(*) FROM gone")
        if unsent:
            tx.enqueue("files.purge")
    candidates: list[str] = []
    swept = 0

    async def flush() -> int:
        async with rt.transaction(SERVICE) as tx:
            orphans = [r["k"] for r in await tx.all(
                "SELECT k FROM unnest(CAST(:keys AS text[])) k WHERE NOT EXISTS ("
                " SELECT 1 FROM public.stored_files f"
                " WHERE f.storage_key = split_part(k, '.', 1))"
                " AND NOT EXISTS (SELECT 1 FROM public.account_exports e"
                " WHERE e.storage_key = k)", keys=candidates)]
        for key in orphans:
            log.warning("files: deleting orphan object %s", key)
            await rt.storage.delete(key)
        return len(orphans)

    for folder in SWEPT_FOLDERS:
        async for info in rt.storage.list(prefix=folder):
            if info.modified_at < cutoff:
                candidates.append(info.key)
            if len(candidates) >= 1000:
                swept += await flush()
                candidates = []
    if candidates:
        swept += await flush()
    return swept
