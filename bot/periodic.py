"""Work done every few seconds until the process stops, and stopped only between two runs.

A stop is seen between runs, never inside one: a task cancelled in the middle of a database statement loses its
connection (asyncpg logs the broken close) and, worse, whatever the run had taken in hand. A run that hangs is
still cut off, by the timeout the server gives each service's stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Repeating:
    """Runs `work` every `interval` seconds (the first run at once when `at_start`) from its creation until `stop`.

    A failing run is logged and the next one runs on time: a database hiccup must not end the timers for good."""

    def __init__(self, interval: float, work: Callable[[], Awaitable[object]], *, name: str,
                 at_start: bool = True) -> None:
        self.interval = interval
        self.name = name
        self._work = work
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(at_start), name=name)

    async def stop(self) -> None:
        """Wait for the run in progress, then end; cancelled with it if our caller gives up waiting."""
        self._stopping.set()
        await self._task

    async def _run(self, at_start: bool) -> None:
        if not at_start and await self._stopped_within(self.interval):
            return
        while not self._stopping.is_set():
            try:
                await self._work()
            except Exception:
                log.exception("periodic work failed", extra={"service": self.name})
            if await self._stopped_within(self.interval):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return self._stopping.is_set()


class Periodic:
    """Subclasses set `name` and implement `tick`. The first tick runs at start."""

    name = "periodic"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._running: Repeating | None = None

    async def tick(self) -> object:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._running is not None

    async def start(self) -> None:
        self._running = Repeating(self.interval, self.tick, name=self.name)

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running.stop()
