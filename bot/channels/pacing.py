"""At most `limit` messages to one chat in any `period` seconds: Telegram's 20 a minute to a group.

Telegram answers a faster sender with 429 and a pause of its choosing, which holds every reply behind it. Keeping
under the limit costs a wait for the few messages over it (a burst of handoffs posted to the volunteers' group),
and nothing for the rest. Per process: with several processes on PostgreSQL the 429 handling stays the safety net.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable


class WindowPacer:
    def __init__(self, limit: int, period: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a pacer needs limit ≥ 1 and period > 0")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[Hashable, deque[float]] = {}
        self._turns: dict[Hashable, asyncio.Lock] = {}

    async def wait_turn(self, chat: Hashable) -> None:
        """Return when one more message to `chat` keeps within the limit; counts it as sent. Waiters go in the
        order they came, so a chat's messages keep their order."""
        turn = self._turns.setdefault(chat, asyncio.Lock())
        async with turn:
            sent = self._sent.setdefault(chat, deque())
            while True:
                now = self._clock()
                while sent and now - sent[0] >= self.period:
                    sent.popleft()
                if len(sent) < self.limit:
                    sent.append(now)
                    return
                await self._sleep(self.period - (now - sent[0]))
