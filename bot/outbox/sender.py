"""The outbox sender: drains due rows within each platform's limits and records what happened to each.

Crash safety comes from one rule: a row is committed as `sending` before the platform is called, and only the
platform's answer moves it on. A row found `sending` at start-up may have been delivered and becomes
`uncertain`; it is never sent again. Everything still `pending` is simply sent after a restart.

Pacing: at most `rate` messages per second per channel (Telegram's broadcast budget), at most one message per
chat every `per_chat_interval` seconds, and a pause of the whole channel on a 429 for its `retry_after`.
The clock and the sleep are injectable so tests run in virtual time.

Several processes (PostgreSQL only; SQLite keeps the single-writer path): a sender claims a small batch of due
rows with `SELECT … FOR UPDATE SKIP LOCKED` (stamping `claimed_by`/`claimed_at`), then moves each row
pending → sending only if the claim is still its own, so exactly one process ever calls the platform for a row.
Pacing goes through shared send slots (`rate_slots`): a slot of the channel is reserved atomically per message,
a chat is taken at that slot only if its previous message is `per_chat_interval` older, and a 429 pushes the
channel's next slot back for every process. Each running sender beats in `outbox_workers`; rows `sending` of a
worker silent for longer than the lease (TROLY_OUTBOX_LEASE_SECONDS, beaten every quarter of it) are the dead
ones and become `uncertain` (at start and on every beat); pending rows a dead worker had claimed are free again as
soon as it counts as dead, and any claim older than the lease is free too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, Select, exists, func, or_, select, update

from bot.channels.base import Delivery, Result, Sender
from bot.periodic import Repeating
from bot.runtime import Runtime
from bot.store import campaigns, leases, tickets
from bot.store.models import Campaign, CampaignRun, Identity, OutboxMessage, Subscription
from handlers.messages import Outgoing

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 200
REPORT = (
    "📊 Báo cáo chiến dịch #{id} «{title}»\n"
    "Đã gửi: {sent}/{total}\n"
    "{others}\n"
    "Thời gian: {duration} · Tốc độ: {rate:.1f} tin/giây"
)
REPORTED_BESIDE_SENT = ("blocked", "outside_window", "failed", "uncertain", "cancelled")

# A delivery's outcome as the row's final status (RETRY is not final). The reply journal settles its rows the same.
FINAL_STATUS = {
    Result.SENT: "sent",
    Result.BLOCKED: "blocked",
    Result.OUTSIDE_WINDOW: "outside_window",
    Result.FAILED: "failed",
    Result.UNCERTAIN: "uncertain",
}


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    channel: str
    recipient: str
    identity_id: int | None
    run_id: int | None
    payload: dict[str, Any]
    attempts: int
    active: bool | None
    subscribed: bool


class OutboxSender:
    name = "outbox-sender"

    def __init__(
        self,
        runtime: Runtime,
        senders: Mapping[str, Sender],
        rate: float,
        per_chat_interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        poll_interval: float = 1.0,
        max_attempts: int = MAX_ATTEMPTS,
        worker_id: str | None = None,
        lease: timedelta | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.runtime = runtime
        self.senders = senders  # kept by reference: channels added later are seen
        self.rate = rate
        self.per_chat_interval = per_chat_interval
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.worker_id = worker_id or uuid.uuid4().hex[:16]
        self._next_slot: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}
        self._chat_ready: dict[tuple[str, str], float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._heart: Repeating | None = None
        self._stopping = False
        self.shared = leases.is_shared(runtime.engine)
        # How long a silent worker counts as alive (TROLY_OUTBOX_LEASE_SECONDS); it beats four times per lease.
        self.lease = lease if lease is not None else timedelta(seconds=runtime.settings.outbox_lease_seconds)
        if self.lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self.heartbeat_seconds = self.lease.total_seconds() / 4
        # Small batches when several processes share the rate, so a claim is used well within its lease.
        self.batch = BATCH if not self.shared else max(10, min(BATCH, int(self.rate / 2)))

    # ---- service ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        if self.shared:
            await self.heartbeat()
        recovered = await self.recover()
        if recovered:
            log.warning("outbox rows left sending are now uncertain", extra={"rows": recovered})
        self._task = asyncio.create_task(self._loop())
        if self.shared:
            self._heart = Repeating(self.heartbeat_seconds, self._beat, name="outbox-heartbeat", at_start=False)

    async def stop(self, grace: float = 3.0) -> None:
        """Let the message in flight finish (so it is not left `sending`, i.e. uncertain), then stop."""
        if self._task:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._heart:
            await self._heart.stop()
            self._heart = None
            with contextlib.suppress(Exception):
                async with self.runtime.sessions() as session, session.begin():
                    await leases.retire(session, self.worker_id)

    def wake(self) -> None:
        """Something was enqueued: look now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before looking, so a wake-up during the pass is not lost
            try:
                handled = await self.process_batch()
                await self.finish_runs()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox pass failed")
                handled = 0
            if handled == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    # ---- recovery ----------------------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Rows a dead process left `sending` were maybe delivered: report them, never resend.

        SQLite has one process, so every such row not ours is dead. On PostgreSQL only the rows of workers
        without a heartbeat within the lease are; live processes' rows in flight are left alone.
        """
        dead = or_(OutboxMessage.claimed_by.is_(None), OutboxMessage.claimed_by != self.worker_id)
        if self.shared:
            dead = or_(OutboxMessage.claimed_by.is_(None),
                       (OutboxMessage.claimed_by != self.worker_id)
                       & OutboxMessage.claimed_by.not_in(leases.live_workers(self.runtime.now(), self.lease)))
        async with self.runtime.sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "sending", dead)
                .values(status="uncertain", last_error="process stopped while sending")
            )
        return _rowcount(result)

    async def heartbeat(self) -> None:
        """Say this worker is alive (PostgreSQL)."""
        async with self.runtime.sessions() as session, session.begin():
            await leases.beat(session, self.worker_id, self.runtime.now())

    async def _beat(self) -> None:
        """Beat, and take over what workers that stopped beating left behind, so their runs can finish."""
        await self.heartbeat()
        recovered = await self.recover()
        if recovered:
            log.warning("rows of a dead worker are now uncertain", extra={"rows": recovered})
            self._wake.set()
        async with self.runtime.sessions() as session, session.begin():
            await leases.forget_dead(session, self.runtime.now(), self.lease)

    # ---- draining ----------------------------------------------------------------------------------------------

    async def drain(self, max_wait: float = 3600.0) -> None:
        """Send until nothing is pending, waiting (with the injected sleep) for retries that are not yet due."""
        waited = 0.0
        while True:
            handled = await self.process_batch()
            await self.finish_runs()
            if handled:
                continue
            delay = await self._until_next_due()
            if delay is None:
                return
            if waited > max_wait:
                raise TimeoutError("outbox did not drain")
            step = max(delay, 0.01)
            waited += step
            await self.sleep(step)

    async def _until_next_due(self) -> float | None:
        async with self.runtime.sessions() as session:
            due = await session.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == "pending")
            )
        if due is None:
            return None
        return max((due - self.runtime.now()).total_seconds(), 0.0)

    async def process_batch(self) -> int:
        """Send the due rows of one batch in priority order; returns how many reached an outcome."""
        rows = await (self._claim_batch() if self.shared else self._due_rows())
        handled = 0
        untouched: list[int] = []  # claimed but not tried: given back so another process may take them
        for row in rows:
            if self._stopping:
                untouched.append(row.id)
                continue
            if row.run_id is not None and (row.active is False or not row.subscribed):
                # Blocked us or unsubscribed since the run fired: the broadcast is not for them any more.
                status = "blocked" if row.active is False else "cancelled"
                handled += await self._settle_unsent(row, status)
                continue
            if self.clock() < self._chat_ready.get((row.channel, row.recipient), 0.0):
                untouched.append(row.id)
                continue  # this chat had a message within the last second: a later batch takes it
            if self.shared:
                if not await self._pace_shared(row):
                    self._chat_ready[(row.channel, row.recipient)] = self.clock() + self.per_chat_interval
                    untouched.append(row.id)
                    continue  # another process messaged this chat within the interval
            else:
                await self._pace(row.channel)
            if not await self._claim(row):
                continue  # cancelled meanwhile, or another process has it
            self._chat_ready[(row.channel, row.recipient)] = self.clock() + self.per_chat_interval
            delivery = await self._send(row)
            await self._record(row, delivery)
            handled += 1
        if self.shared and untouched:
            await self._release(untouched)
        if rows and handled == 0 and not self._stopping:
            # Every due row waits for its chat: let the earliest chat free up rather than spin.
            ready = min(self._chat_ready.get((r.channel, r.recipient), 0.0) for r in rows)
            await self.sleep(max(ready - self.clock(), 0.01))
        return handled

    def _rows_query(self) -> Select[Any]:
        subscribed = exists().where(Subscription.identity_id == OutboxMessage.identity_id)
        return (
            select(
                OutboxMessage.id, OutboxMessage.channel, OutboxMessage.recipient, OutboxMessage.identity_id,
                OutboxMessage.run_id, OutboxMessage.payload, OutboxMessage.attempts, Identity.active,
                subscribed.label("subscribed"),
            )
            .outerjoin(Identity, Identity.id == OutboxMessage.identity_id)
            .where(OutboxMessage.status == "pending")
            .order_by(OutboxMessage.priority, OutboxMessage.id)
        )

    async def _due_rows(self) -> list[_Row]:
        query = self._rows_query().where(OutboxMessage.next_attempt_at <= self.runtime.now()).limit(self.batch)
        async with self.runtime.sessions() as session:
            return [_Row(*row) for row in (await session.execute(query)).all()]

    async def _claim_batch(self) -> list[_Row]:
        """PostgreSQL: take a batch of due rows nobody else holds, in one short transaction."""
        now = self.runtime.now()
        # Free: unclaimed, ours, claimed too long ago, or claimed by a worker that stopped beating.
        free = or_(OutboxMessage.claimed_by.is_(None), OutboxMessage.claimed_by == self.worker_id,
                   OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at < now - self.lease,
                   OutboxMessage.claimed_by.not_in(leases.live_workers(now, self.lease)))
        pick = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now, free)
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        async with self.runtime.sessions() as session, session.begin():
            ids = list((await session.scalars(pick)).all())
            if not ids:
                return []
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                .values(claimed_by=self.worker_id, claimed_at=now)
            )
        async with self.runtime.sessions() as session:
            rows = (await session.execute(self._rows_query().where(OutboxMessage.id.in_(ids)))).all()
        return [_Row(*row) for row in rows]

    async def _release(self, ids: list[int]) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending",
                       OutboxMessage.claimed_by == self.worker_id)
                .values(claimed_by=None, claimed_at=None)
            )

    async def _pace_shared(self, row: _Row) -> bool:
        """Reserve the channel's next shared slot, take the chat at that slot, and wait for it.

        False when the chat is not free at the slot (the slot is then simply unused).
        """
        while True:  # a local 429 pause first, so this process does not reserve slots it cannot use
            now = self.clock()
            paused = self._paused_until.get(row.channel, now)
            if paused <= now:
                break
            await self.sleep(paused - now)
        async with self.runtime.sessions() as session, session.begin():
            slot = await leases.reserve_slot(
                session, f"rate:{row.channel}", self.runtime.now(), timedelta(seconds=1.0 / self.rate)
            )
            free = await leases.try_take(
                session, f"chat:{row.channel}:{row.recipient}", slot, timedelta(seconds=self.per_chat_interval)
            )
        while (delay := (slot - self.runtime.now()).total_seconds()) > 0:
            await self.sleep(delay)
        return free

    async def _pace(self, channel: str) -> None:
        """Wait for the channel's next send slot (rate) and the end of any 429 pause."""
        while True:
            now = self.clock()
            ready = max(self._next_slot.get(channel, now), self._paused_until.get(channel, now))
            if ready <= now:
                break
            await self.sleep(ready - now)
        slot = max(self._next_slot.get(channel, now), now)
        self._next_slot[channel] = slot + 1.0 / self.rate

    async def _claim(self, row: _Row) -> bool:
        """pending → sending, committed before the platform hears of it (on PostgreSQL only if still ours)."""
        condition = [OutboxMessage.id == row.id, OutboxMessage.status == "pending"]
        if self.shared:
            condition.append(OutboxMessage.claimed_by == self.worker_id)
        async with self.runtime.sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(*condition)
                .values(status="sending", claimed_by=self.worker_id, claimed_at=self.runtime.now(),
                        attempts=OutboxMessage.attempts + 1)
            )
        return _rowcount(result) == 1

    async def _send(self, row: _Row) -> Delivery:
        sender = self.senders.get(row.channel)
        if sender is None:
            return Delivery(Result.FAILED, detail=f"no sender for channel {row.channel}")
        try:
            return await sender.send(Outgoing.from_json(row.payload))
        except Exception as exc:  # a sender bug: recorded on the row, never raised into the loop
            log.exception("sender raised", extra={"channel": row.channel, "outbox_id": row.id})
            return Delivery(Result.FAILED, detail=type(exc).__name__)

    async def _record(self, row: _Row, delivery: Delivery) -> None:
        now = self.runtime.now()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"last_error": delivery.detail[:500] or None}
        if delivery.result is Result.RETRY:
            if delivery.retry_after > 0:
                # A 429 concerns the whole bot, not this chat: pause the channel. The message was refused
                # unread, so the attempt does not count against it: it is sent after the pause however long
                # the platform keeps us waiting.
                self._paused_until[row.channel] = max(
                    self._paused_until.get(row.channel, 0.0), self.clock() + delivery.retry_after
                )
                attempts = row.attempts
                values["attempts"] = attempts
            if attempts >= self.max_attempts:
                values["status"] = "failed"
            else:
                wait = delivery.retry_after if delivery.retry_after > 0 else min(2.0**attempts, 300.0)
                values.update(status="pending", next_attempt_at=now + timedelta(seconds=wait), claimed_by=None,
                              claimed_at=None)
        else:
            values["status"] = FINAL_STATUS[delivery.result]
            if delivery.result is Result.SENT:
                values["sent_at"] = now
        self.runtime.metrics.deliveries.labels(row.channel, delivery.result.value).inc()
        async with self.runtime.sessions() as session, session.begin():
            # The real outcome wins even over an `uncertain` another process's start-up guessed meanwhile.
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claimed_by == self.worker_id,
                       OutboxMessage.status.in_(("sending", "uncertain")))
                .values(**values)
            )
            if delivery.result is Result.BLOCKED and row.identity_id is not None:
                await session.execute(update(Identity).where(Identity.id == row.identity_id).values(active=False))
            if delivery.result is Result.SENT:
                # A ticket's group post recovered from the reply journal stays editable (claimed by …).
                await tickets.remember_post(session, row.payload.get("ref"), delivery.detail)
            if self.shared and delivery.result is Result.RETRY and delivery.retry_after > 0:
                # Every process pauses the channel, not just the one that met the 429.
                await leases.push_back(session, f"rate:{row.channel}", now + timedelta(seconds=delivery.retry_after))

    async def _settle_unsent(self, row: _Row, status: str) -> int:
        async with self.runtime.sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
                .values(status=status, last_error="not sent: recipient left or unsubscribed")
            )
        return _rowcount(result)

    # ---- finishing runs ----------------------------------------------------------------------------------------

    async def finish_runs(self) -> list[int]:
        """Runs whose rows are all final become done; their campaign moves on and its author gets a report."""
        unfinished = exists().where(
            OutboxMessage.run_id == CampaignRun.id, OutboxMessage.status.in_(("pending", "sending"))
        )
        async with self.runtime.sessions() as session:
            candidates = (
                await session.scalars(select(CampaignRun.id).where(CampaignRun.status == "sending", ~unfinished))
            ).all()
        finished: list[int] = []
        for run_id in candidates:
            report = await self._finish_run(run_id)
            if report is not None:
                finished.append(run_id)
                await self._send_report(*report)
        return finished

    async def _finish_run(self, run_id: int) -> tuple[str, str] | None:
        now = self.runtime.now()
        zone = self.runtime.settings.timezone
        async with self.runtime.sessions() as session, session.begin():
            result = await session.execute(
                update(CampaignRun)
                .where(CampaignRun.id == run_id, CampaignRun.status == "sending")
                .values(status="done", finished_at=now)
            )
            if _rowcount(result) != 1:
                return None  # another process finished it
            run = await session.get(CampaignRun, run_id)
            campaign = await session.get(Campaign, run.campaign_id) if run else None
            if run is None or campaign is None:
                return None
            counts = await campaigns.run_counts(session, [run_id])
            if campaign.status == "sending":
                others = await session.scalar(
                    select(func.count()).select_from(CampaignRun)
                    .where(CampaignRun.campaign_id == campaign.id, CampaignRun.status == "sending")
                )
                if not others:
                    more = (campaigns.next_occurrence(campaign, max(run.scheduled_for, now), zone)
                            if campaign.recurrence else None)  # a one-shot campaign has exactly one run
                    campaign.status = "scheduled" if more is not None else "done"
                    campaign.updated_at = now
            duration = max((now - (run.fired_at or now)).total_seconds(), 0.0)
            total = sum(counts.values())
            text = REPORT.format(
                id=campaign.id, title=campaign.title, sent=counts["sent"], total=total,
                others=campaigns.outcomes_line(counts, REPORTED_BESIDE_SENT),
                duration=_duration(duration), rate=counts["sent"] / duration if duration > 0 else float(counts["sent"]),
            )
            log.info("campaign run finished", extra={"campaign_id": campaign.id, "run_id": run_id, **counts})
            return campaign.author, text

    async def _send_report(self, author: str, text: str) -> None:
        channel, sep, user_id = author.partition(":")
        sender = self.senders.get(channel)
        if not sep or not user_id or sender is None:
            return  # an author from the API or the CLI has no chat to report to
        try:
            delivery = await sender.send(Outgoing(channel, user_id, text))  # type: ignore[arg-type]
        except Exception:
            log.exception("delivery report failed", extra={"channel": channel})
            return
        self.runtime.metrics.deliveries.labels(channel, delivery.result.value).inc()


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else int(getattr(result, "rowcount", 0) or 0)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes} phút"
    if minutes:
        return f"{minutes} phút {secs} giây"
    return f"{secs} giây"
