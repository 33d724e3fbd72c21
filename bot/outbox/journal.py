"""Replies are journalled in the outbox, so a crash between the commit and the send delays a reply, never loses it.

The pipeline answers at once, straight to the platform (through the outbox's pacing a second message to the
same chat would wait a second). But in the same transaction as the answer it writes each reply to the outbox as
`pending`, due only after `REPLY_GRACE`: longer than a direct delivery can take with its retries. Once the
platform has answered, the row gets its outcome. If the process dies in between, the outbox sender (this process
after a restart, or another one on PostgreSQL) finds the row due and sends it. The price of never losing one is
that a reply sent in the last fraction of a second before a crash can arrive twice.

Outcomes are written in batches (one statement per `FLUSH_SECONDS`), not one transaction per reply: at hundreds
of messages per second a transaction each would cost as much as answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Delivery, Result
from bot.outbox.sender import FINAL_STATUS
from bot.periodic import Periodic
from bot.runtime import Runtime
from bot.store.models import OutboxMessage
from bot.store.types import UTCDateTime
from handlers.messages import Outgoing

log = logging.getLogger(__name__)

# Three attempts with up to 30 s waits (the pipeline's), plus request timeouts, stay well inside this.
REPLY_GRACE = timedelta(minutes=5)
FLUSH_SECONDS = 0.2

_TABLE = OutboxMessage.__table__
_JOURNAL = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
# Only a row nobody else has taken: if the outbox sender got to it first, its outcome stands.
_SETTLE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == "pending", _TABLE.c.claimed_by.is_(None))
    .values(status=bindparam("outcome"), sent_at=bindparam("at", type_=UTCDateTime()), last_error=bindparam("error"))
)


async def journal(session: AsyncSession, replies: Sequence[Outgoing], identity_ids: Sequence[int | None],
                  now: datetime) -> list[int]:
    """Write the turn's replies as outbox rows due after the grace period; their ids, in order."""
    if not replies:
        return []
    rows = [
        {"channel": reply.channel, "recipient": reply.user_id, "identity_id": identity_id, "run_id": None,
         "priority": 0, "payload": reply.to_json(), "status": "pending", "attempts": 0,
         "next_attempt_at": now + REPLY_GRACE, "created_at": now}
        for reply, identity_id in zip(replies, identity_ids, strict=True)
    ]
    result = await session.execute(_JOURNAL, rows)
    return list(result.scalars())


@dataclass(frozen=True, slots=True)
class _Outcome:
    row_id: int
    status: str
    at: datetime | None
    error: str | None


class DeliveryLog(Periodic):
    """Collects the outcomes of direct deliveries and writes them in one statement every `FLUSH_SECONDS`."""

    name = "reply-journal"

    def __init__(self, runtime: Runtime, interval: float = FLUSH_SECONDS) -> None:
        super().__init__(interval)
        self.runtime = runtime
        self._outcomes: list[_Outcome] = []
        self._lock = asyncio.Lock()

    def note(self, row_id: int, delivery: Delivery) -> None:
        """Record one reply's outcome. A reply still being retried (RETRY) is left to the outbox sender."""
        status = FINAL_STATUS.get(delivery.result)
        if status is None:
            return
        at = self.runtime.now() if delivery.result is Result.SENT else None
        error = None if delivery.result is Result.SENT else (delivery.detail or delivery.result.value)[:500]
        self._outcomes.append(_Outcome(row_id, status, at, error))

    async def tick(self) -> int:
        return await self.flush()

    async def flush(self) -> int:
        """Write what was noted; returns how many outcomes. Kept for the next flush if the database fails."""
        async with self._lock:
            outcomes, self._outcomes = self._outcomes, []
            if not outcomes:
                return 0
            try:
                async with self.runtime.sessions() as session, session.begin():
                    await session.execute(_SETTLE, [
                        {"row_id": o.row_id, "outcome": o.status, "at": o.at, "error": o.error} for o in outcomes
                    ])
            except BaseException:  # cancelled too: writing an outcome twice is harmless, losing it is not
                self._outcomes[:0] = outcomes
                raise
            return len(outcomes)

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(Exception):
            await self.flush()
