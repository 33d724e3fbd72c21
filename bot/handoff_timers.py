"""Timers on tickets, kept in the tickets' own columns so they survive restarts: a periodic sweep decides what
is due from the clock and the database alone.

- unclaimed after `reannounce` minutes of working time → posted again in the volunteers' group;
- unclaimed after `raise_after` minutes → raised to staff;
- claimed but silent (no word from the owner) for `remind` minutes → a reminder to the owner.
Out of hours nothing fires: a question asked at night waits for the morning, as the resident was told.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from bot.periodic import Periodic
from bot.pipeline import Pipeline
from bot.store import audit, tickets
from bot.store.models import Ticket
from handlers import texts
from handlers.hours import WorkingHours
from handlers.messages import Button, Outgoing

log = logging.getLogger(__name__)


class HandoffTimers(Periodic):
    name = "handoff-timers"

    def __init__(self, pipeline: Pipeline, interval: float = 30.0) -> None:
        super().__init__(interval)
        self.pipeline = pipeline
        self.runtime = pipeline.runtime
        settings = self.runtime.settings
        self.hours = WorkingHours.parse(settings.working_hours, settings.working_days, settings.timezone,
                                        settings.holidays)

    async def tick(self) -> list[Outgoing]:
        return await self.sweep()

    def _working_minutes_since(self, start: datetime, now: datetime) -> float:
        """Minutes of working time between `start` and `now` (a night or a Sunday does not count)."""
        if not self.hours.is_open(start):
            start = self.hours.next_opening(start)
        if start >= now:
            return 0.0
        return (now - start).total_seconds() / 60

    async def sweep(self) -> list[Outgoing]:
        """One pass over open tickets; returns (and delivers) what it sent."""
        settings = self.runtime.settings
        now = self.runtime.now()
        if not self.hours.is_open(now):
            return []
        out: list[Outgoing] = []
        chat = settings.telegram_volunteer_chat_id
        async with self.runtime.sessions() as session, session.begin():
            open_tickets = (await session.scalars(
                select(Ticket).where(Ticket.status.in_(("waiting", "claimed"))).with_for_update(skip_locked=True)
            )).all()
            staff = await tickets.addresses_with_role(session, "staff")
            for ticket in open_tickets:
                if ticket.status == "waiting":
                    waited = self._working_minutes_since(ticket.last_activity_at, now)
                    if waited >= settings.handoff_raise_minutes:
                        await tickets.raise_to_staff(session, ticket, "timer", now)
                        for address in staff:
                            out.append(Outgoing("telegram", address, texts.RAISED_STAFF.format(
                                id=ticket.id, why=f"chưa ai nhận sau {int(waited)} phút", summary=ticket.summary or ""),
                                (Button(texts.CLAIM, f"claim:{ticket.id}"),)))
                    elif waited >= settings.handoff_reannounce_minutes * (ticket.announce_count + 1) and chat:
                        ticket.announce_count += 1
                        audit.record(session, "timer", "ticket.reannounce", f"ticket:{ticket.id}")
                        out.append(Outgoing("telegram", str(chat),
                                            texts.TICKET_POST_AGAIN.format(id=ticket.id, minutes=int(waited)),
                                            (Button(texts.CLAIM, f"claim:{ticket.id}"),)))
                elif ticket.owner and ticket.reminded_at is None:
                    silent = self._working_minutes_since(ticket.last_activity_at, now)
                    if silent >= settings.handoff_remind_minutes:
                        ticket.reminded_at = now
                        channel, _, user_id = ticket.owner.partition(":")
                        audit.record(session, "timer", "ticket.remind", f"ticket:{ticket.id}")
                        out.append(Outgoing(channel, user_id,  # type: ignore[arg-type]
                                            texts.REMIND_OWNER.format(id=ticket.id, minutes=int(silent))))
        await self.pipeline.deliver(out)
        return out
