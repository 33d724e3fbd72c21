"""At most `limit` messages to one chat in any `period` seconds: Telegram's 20 a minute to a group.

Telegram answers a faster sender with 429 and a pause of its choosing, which holds every reply behind it. Keeping
under the limit costs a wait for the few messages over it (a burst of handoffs posted to the volunteers' group),
and nothing for the rest. Per process: with several processes on PostgreSQL the 429 handling stays the safety net.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager


class WindowPacer:
    def __init__(self, limit: int, period: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a pacer needs limit ≥ 1 and period > 0")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._ended: dict[Hashable, deque[float]] = {}  # per chat, when its recent sends ended
        self._turns: dict[Hashable, asyncio.Lock] = {}

    @asynccontextmanager
    async def turn(self, chat: Hashable) -> AsyncIterator[None]:
        """Hold the block (one send to `chat`) until it keeps within the limit.

        A message counts from when its send ends, whatever the outcome: Telegram counted it at some moment before
        we had its answer, so windows measured from our ends are never shorter than Telegram's, however long the
        request took on the way. One send to a chat at a time, in the order they came, so its messages keep
        their order."""
        lock = self._turns.setdefault(chat, asyncio.Lock())
        async with lock:
            ended = self._ended.setdefault(chat, deque())
            while True:
                now = self._clock()
                while ended and now - ended[0] >= self.period:
                    ended.popleft()
                if len(ended) < self.limit:
                    break
                await self._sleep(self.period - (now - ended[0]))
            try:
                yield
            finally:
                ended.append(self._clock())
