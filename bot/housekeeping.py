"""Periodic housekeeping: the retention rule, applied hourly."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.runtime import Runtime
from bot.store.privacy import apply_retention

log = logging.getLogger(__name__)


class Housekeeping:
    name = "housekeeping"

    def __init__(self, runtime: Runtime, interval: float = 3600.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> dict[str, int]:
        async with self.runtime.sessions() as session, session.begin():
            counts = await apply_retention(session, self.runtime.now(), self.runtime.settings.retention_days)
        log.info("retention applied", extra=counts)
        return counts

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(self.interval)
