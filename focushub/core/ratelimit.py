"""A small in-process sliding-window rate limiter for credential endpoints.

Per process, so with N workers the effective limit is up to N times higher; the
shared (Redis) limiter belongs with the Redis integration.
"""

from __future__ import annotations

import time
from collections import deque

from focushub.core.errors import TooManyRequests


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> None:
        """Record an attempt for ``key``; raise 429 when over the limit."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            retry = int(hits[0] + self.window - now) + 1
            raise TooManyRequests(
                "Too many attempts; try again later", details={"retry_after_seconds": retry}
            )
        hits.append(now)
        if len(self._hits) > 10_000:  # bound memory under a spray of keys
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
