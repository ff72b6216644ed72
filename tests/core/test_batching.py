"""The group commit's plumbing (core/batching.py): what waits together is written together,
a key's items keep their order, each submitter gets its own result or error."""

from __future__ import annotations

import asyncio

import pytest

from focushub.core.batching import Closed, GroupCommit


class Writer:
    """A write function that records its batches; holds each batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, items: list[str]) -> list[str | BaseException]:
        self.batches.append(list(items))
        await self.gate.wait()
        return [ValueError(item) if item.startswith("bad") else item.upper() for item in items]


async def test_items_waiting_together_are_written_in_one_call():
    writer = Writer()
    group: GroupCommit[str, str] = GroupCommit("t", writer, lanes=1)
    writer.gate.clear()
    first = asyncio.create_task(group.submit("room", "a"))
    await asyncio.sleep(0)  # "a" is being written, held at the gate
    rest = [asyncio.create_task(group.submit("room", x)) for x in ("b", "c", "d")]
    await asyncio.sleep(0)
    writer.gate.set()
    assert await asyncio.gather(first, *rest) == ["A", "B", "C", "D"]
    # The three that waited while "a" was written went together, in the order sent.
    assert writer.batches == [["a"], ["b", "c", "d"]]
    assert group.batches == 2


async def test_an_item_s_error_is_its_own():
    writer = Writer()
    group: GroupCommit[str, str] = GroupCommit("t", writer, lanes=1)
    writer.gate.clear()
    tasks = [asyncio.create_task(group.submit("k", x)) for x in ("ok1", "bad", "ok2")]
    await asyncio.sleep(0)
    writer.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "OK1" and results[2] == "OK2"
    assert isinstance(results[1], ValueError)


async def test_a_failed_batch_fails_each_of_its_items_and_the_lane_goes_on():
    calls = 0

    async def write(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return items

    group: GroupCommit[str, str] = GroupCommit("t", write, lanes=1)
    tasks = [asyncio.create_task(group.submit("k", x)) for x in ("a", "b")]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await group.submit("k", "c") == "c"


async def test_a_batch_is_at_most_max_items():
    writer = Writer()
    group: GroupCommit[str, str] = GroupCommit("t", writer, lanes=1, max_items=3)
    writer.gate.clear()
    tasks = [asyncio.create_task(group.submit("k", str(i))) for i in range(8)]
    await asyncio.sleep(0)
    writer.gate.set()
    assert await asyncio.gather(*tasks) == [str(i) for i in range(8)]
    assert [len(b) for b in writer.batches] == [3, 3, 2]


async def test_keys_spread_over_lanes_and_a_key_keeps_its_lane():
    writer = Writer()
    group: GroupCommit[str, str] = GroupCommit("t", writer, lanes=4)
    keys = [f"room-{i}" for i in range(40)]
    await asyncio.gather(*(group.submit(k, k) for k in keys))
    lanes = {group._lane(k) for k in keys}
    assert len(lanes) == 4
    assert all(group._lane(k) is group._lane(k) for k in keys)


async def test_a_submitter_that_leaves_does_not_take_its_item_out():
    writer = Writer()
    group: GroupCommit[str, str] = GroupCommit("t", writer, lanes=1)
    writer.gate.clear()
    leaving = asyncio.create_task(group.submit("k", "x"))
    await asyncio.sleep(0)
    leaving.cancel()
    writer.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await group.submit("k", "y") == "Y"
    assert writer.batches == [["x"], ["y"]]


async def test_close_fails_what_is_queued_and_refuses_more():
    writer = Writer()
    group: GroupCommit[str, str] = GroupCommit("t", writer, lanes=1)
    writer.gate.clear()
    running = asyncio.create_task(group.submit("k", "a"))
    await asyncio.sleep(0)
    queued = asyncio.create_task(group.submit("k", "b"))
    await asyncio.sleep(0)
    closing = asyncio.create_task(group.close())
    await asyncio.sleep(0)
    writer.gate.set()
    await closing
    assert await running == "A"  # what was being written finishes
    with pytest.raises(Closed) as refused:
        await queued
    # Told as the database away is: 503 in the error shape, with when to try again.
    assert refused.value.status_code == 503 and refused.value.code == "server_stopping"
    assert refused.value.details == {"retry_after_seconds": 1}
    with pytest.raises(Closed):
        await group.submit("k", "c")
