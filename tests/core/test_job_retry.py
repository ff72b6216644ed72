"""Putting a failed job back by hand (``focushub jobs --retry``) when the queue cannot take it
as it is: another job holding its queueing lock waits already."""

from __future__ import annotations

import pytest

from focushub.core import maintenance
from focushub.core.db import SERVICE
from tests.core.test_jobs import jobs_of, rt  # noqa: F401 (fixture)


async def test_a_failed_job_whose_lock_is_queued_again_is_refused_in_words(
        rt, owner_conn):  # noqa: F811
    async with rt.transaction(SERVICE) as tx:
        tx.enqueue("test.record", queueing_lock="record:7", n=1)
    (failed,) = await jobs_of(owner_conn, "test.record")
    await owner_conn.execute(
        "UPDATE procrastinate.procrastinate_jobs SET status = 'failed' WHERE id = $1", failed["id"])
    # Asked again meanwhile (a person retrying from the site): a new job with the same lock.
    async with rt.transaction(SERVICE) as tx:
        tx.enqueue("test.record", queueing_lock="record:7", n=2)
    with pytest.raises(maintenance.RetryRefused) as refused:
        await maintenance.retry_failed(rt, failed["id"])
    (waiting,) = [j for j in await jobs_of(owner_conn, "test.record") if j["status"] == "todo"]
    assert str(refused.value) == (
        f"Job {failed['id']} cannot be queued again: job {waiting['id']} with the same "
        "queueing lock (record:7) is waiting to run")
    assert [j["status"] for j in await jobs_of(owner_conn, "test.record")] == ["failed", "todo"]
