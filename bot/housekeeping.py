"""Periodic housekeeping: the retention rule, applied hourly, and expired dashboard sessions deleted."""

from __future__ import annotations

import logging

from bot.periodic import Periodic
from bot.runtime import Runtime
from bot.store import admin_sessions
from bot.store.privacy import apply_retention

log = logging.getLogger(__name__)


class Housekeeping(Periodic):
    name = "housekeeping"

    def __init__(self, runtime: Runtime, interval: float = 3600.0) -> None:
        super().__init__(interval)
        self.runtime = runtime

    async def tick(self) -> dict[str, int]:
        return await self.run_once()

    async def run_once(self) -> dict[str, int]:
        async with self.runtime.sessions() as session, session.begin():
            counts = await apply_retention(session, self.runtime.now(), self.runtime.settings.retention_days)
            # Sign-in also clears them; this covers sessions left behind when nobody signs in for a while.
            counts["admin_sessions_deleted"] = await admin_sessions.delete_expired(session, self.runtime.now())
        log.info("retention applied", extra=counts)
        return counts
