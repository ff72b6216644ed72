"""Jobs of the chat domain."""

from __future__ import annotations

import procrastinate

from focushub.core.db import SERVICE
from focushub.core.jobs import TaskSet
from focushub.core.runtime import runtime_of

tasks = TaskSet()

# Bounded batches keep each delete short, so chat writes never wait long behind it.
_PRUNE_BATCH = 5000


@tasks.task("chat.prune_events", cron="23 * * * *")
async def prune_events(context: procrastinate.JobContext, timestamp: int) -> int:
    """Delete room events older than ``FOCUSHUB_REALTIME_EVENT_RETENTION_DAYS``.

    The events are the realtime log clients resume from; the messages themselves stay
    in ``chat_messages``. A client resuming from before the cut gets a ``resync``
    frame and reloads the room (focushub/realtime/gateway.py). Idempotent.
    """
    rt = runtime_of(context)
    days = rt.settings.realtime_event_retention_days
    deleted = 0
    while True:
        async with rt.transaction(SERVICE) as tx:
            n = await tx.scalar(
                "WITH old AS (SELECT room_id, seq FROM public.chat_room_events"
                "   WHERE created_at < now() - make_interval(days => :days) LIMIT :batch),"
                " gone AS (DELETE FROM public.chat_room_events e USING old"
                "   WHERE e.room_id = old.room_id AND e.seq = old.seq RETURNING 1)"
                " SELECT count(*) FROM gone",
                days=days, batch=_PRUNE_BATCH)
        deleted += n
        if n < _PRUNE_BATCH:
            return deleted
