"""Group commit: writes that arrive together go to the database together.

A write that is its own transaction pays for its round trips (begin, the caller's
role and claims, the statement, its events, commit) and its commit, whatever it
writes. Under load many such writes wait at the same moment; a :class:`GroupCommit`
hands whatever is waiting to one call of its ``write`` function (one transaction,
one commit), and each submitter gets its own result or error once that call
returned, that is after the commit.

Writes are spread over ``lanes`` by a key (a chat room): one lane writes one batch at
a time, so a key's writes reach the database in the order they were submitted, and a
process has at most ``lanes`` such transactions open. While a batch is being written
the next one gathers: the busier the lane, the larger its batches, and an idle lane
writes a lone item at once (no timer, no added wait).

Guarantees: every submitted item is in exactly one call of ``write``; its submitter
gets the result for that item, or the exception ``write`` raised for the whole batch.
A submitter that stops waiting (its socket closed) does not take its item out of a
batch: the item is written, as a request whose client left is. :meth:`close` fails
what is still queued with :class:`Closed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from focushub.core import observability
from focushub.core.errors import AppError

T = TypeVar("T")
R = TypeVar("R")

# A batch's results: one per item, in the items' order; an exception is that item's error.
Write = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class Closed(AppError):
    """The process is stopping: the item was not written. 503, so that a client tries
    again (on another process, or this one once restarted) instead of meeting a 500."""

    def __init__(self, name: str) -> None:
        super().__init__("The server is restarting; try again shortly", code="server_stopping",
                         status_code=503, details={"retry_after_seconds": 1})
        self.name = name


class _Lane(Generic[T, R]):
    def __init__(self) -> None:
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        self.task: asyncio.Task[None] | None = None


class GroupCommit(Generic[T, R]):
    def __init__(self, name: str, write: Write[T, R], *, lanes: int = 4,
                 max_items: int = 100) -> None:
        self.name = name
        self._write = write
        self._lanes: list[_Lane[T, R]] = [_Lane() for _ in range(max(1, lanes))]
        self.max_items = max_items
        self._closed = False
        self.batches = 0  # how many calls of ``write`` (for tests and metrics)

    def _lane(self, key: str) -> _Lane[T, R]:
        # A stable hash: the same key takes the same lane in every process run.
        return self._lanes[zlib.crc32(key.encode()) % len(self._lanes)]

    async def submit(self, key: str, item: T) -> R:
        """Write ``item`` with whatever else is waiting in ``key``'s lane; its result once
        the batch's transaction committed. Raises the item's own error, or the batch's."""
        if self._closed:
            raise Closed(self.name)
        lane = self._lane(key)
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        lane.waiting.append((item, done))
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._drain(lane))
        # Shielded: a submitter that is cancelled leaves its item in the batch (see above).
        return await asyncio.shield(done)

    async def _drain(self, lane: _Lane[T, R]) -> None:
        while lane.waiting:
            batch = lane.waiting[:self.max_items]
            del lane.waiting[:self.max_items]
            self.batches += 1
            observability.GROUP_COMMIT_ITEMS.labels(self.name).observe(len(batch))
            try:
                results = await self._write([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, done in batch:
                    _fail(done, Closed(self.name))
                raise
            except Exception as exc:
                for _, done in batch:
                    _fail(done, exc)
                continue
            if len(results) != len(batch):  # a bug in ``write``: never leave a waiter hanging
                error = RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} items")
                for _, done in batch:
                    _fail(done, error)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, BaseException):
                    _fail(done, result)
                else:
                    done.set_result(result)

    async def close(self) -> None:
        """Stop: what is being written finishes; what is still queued fails with Closed."""
        self._closed = True
        for lane in self._lanes:
            waiting, lane.waiting = lane.waiting, []
            for _, done in waiting:
                _fail(done, Closed(self.name))
            if lane.task is not None and not lane.task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await lane.task


def _fail(done: asyncio.Future[R], exc: BaseException) -> None:
    if not done.done():
        done.set_exception(exc)
        done.exception()  # retrieved: a submitter that left must not log it as lost
