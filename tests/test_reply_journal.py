"""Replies are journalled in the outbox: a crash between the commit and the send delays a reply, never loses it,
and a reply that went out is never sent again by the outbox sender."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.channels.base import Delivery, Result
from bot.outbox import journal
from bot.outbox.sender import OutboxSender
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import migrate, privacy
from bot.store.models import OutboxMessage
from handlers.messages import Incoming, Kind, Outgoing
from tests.pg_hold import holder, stop_while_held, until_a_statement_waits
from tests.test_outbox import Clock, Crash

QUESTION = "quên mật khẩu vneid thì làm sao"


@dataclass
class Platform:
    """Answers with `result`; raises `Crash` on the first `crash_first` sends (kill -9 mid-delivery)."""

    channel: str = "zalo"
    result: Result = Result.SENT
    crash_first: int = 0
    sent: list[Outgoing] = field(default_factory=list)
    calls: int = 0

    async def send(self, message: Outgoing) -> Delivery:
        self.calls += 1
        if self.calls <= self.crash_first:
            raise Crash
        if self.result is Result.SENT:
            self.sent.append(message)
        return Delivery(self.result, retry_after=0.01)


@dataclass
class Process:
    runtime: Runtime
    platform: Platform
    pipeline: Pipeline

    async def ask(self, text: str = QUESTION, user: str = "u1") -> list[Outgoing]:
        return list(await self.pipeline.receive(Incoming("zalo", user, Kind.TEXT, text=text,
                                                         received_at=self.runtime.now())))

    def outbox(self, clock: Clock) -> OutboxSender:
        return OutboxSender(self.runtime, {"zalo": self.platform}, 25.0, clock=clock.monotonic, sleep=clock.sleep)

    async def rows(self) -> list[OutboxMessage]:
        async with self.runtime.sessions() as session:
            return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


@pytest.fixture
async def start(database_url: str) -> AsyncIterator[tuple[Clock, list[Runtime], object]]:
    clock = Clock()
    runtimes: list[Runtime] = []

    async def process(platform: Platform) -> Process:
        runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=database_url))
        runtime.now = clock.now
        if not runtimes:
            await migrate.upgrade(runtime.engine)
        runtimes.append(runtime)
        return Process(runtime, platform, Pipeline(runtime, {"zalo": platform}))

    yield clock, runtimes, process
    for runtime in runtimes:
        await runtime.close()


async def test_a_delivered_reply_is_settled_and_never_sent_again(start: tuple[Clock, list[Runtime], object]) -> None:
    clock, _, process = start
    bot: Process = await process(Platform())  # type: ignore[operator]
    replies = await bot.ask()
    assert replies and bot.platform.sent == replies
    rows = await bot.rows()
    assert [row.payload["text"] for row in rows] == [reply.text for reply in replies]
    assert {row.status for row in rows} == {"sent"} and all(row.sent_at is not None for row in rows)

    clock.t += (journal.REPLY_GRACE * 2).total_seconds()
    assert await bot.outbox(clock).process_batch() == 0
    assert bot.platform.sent == replies  # nothing twice


async def test_a_crash_between_commit_and_send_delays_the_reply_but_loses_nothing(
    start: tuple[Clock, list[Runtime], object],
) -> None:
    clock, _, process = start
    doomed: Process = await process(Platform(crash_first=1))  # type: ignore[operator]
    with pytest.raises(Crash):
        await doomed.ask()
    assert doomed.platform.sent == []
    # The answer was committed (the update counts as handled) and its replies wait in the journal.
    waiting = await doomed.rows()
    assert waiting and {row.status for row in waiting} == {"pending"}

    restarted: Process = await process(Platform())  # type: ignore[operator]
    outbox = restarted.outbox(clock)
    assert await outbox.process_batch() == 0  # not before the grace period: the first process might still send
    clock.t += journal.REPLY_GRACE.total_seconds() + 1
    for _ in range(10):  # the second message to the same chat waits its second (virtual time)
        await outbox.process_batch()
    assert [m.text for m in restarted.platform.sent] == [row.payload["text"] for row in waiting]
    assert {row.status for row in await restarted.rows()} == {"sent"}


async def test_a_reply_still_refused_after_the_retries_is_left_to_the_outbox(
    start: tuple[Clock, list[Runtime], object],
) -> None:
    clock, _, process = start
    bot: Process = await process(Platform(result=Result.RETRY))  # type: ignore[operator]
    await bot.ask("xin chào")
    assert bot.platform.sent == [] and bot.platform.calls == 3
    [row] = await bot.rows()
    assert row.status == "pending"

    bot.platform.result = Result.SENT
    clock.t += journal.REPLY_GRACE.total_seconds() + 1
    assert await bot.outbox(clock).process_batch() == 1
    assert [m.text for m in bot.platform.sent] == [row.payload["text"]]


async def test_outcomes_other_than_sent_are_recorded(start: tuple[Clock, list[Runtime], object]) -> None:
    _, _, process = start
    bot: Process = await process(Platform(result=Result.BLOCKED))  # type: ignore[operator]
    await bot.ask("xin chào")
    [row] = await bot.rows()
    assert row.status == "blocked" and row.sent_at is None and row.last_error


async def test_settled_journal_rows_are_dropped_after_a_day_pending_ones_kept(
    start: tuple[Clock, list[Runtime], object],
) -> None:
    clock, _, process = start
    bot: Process = await process(Platform())  # type: ignore[operator]
    await bot.ask("xin chào", user="u1")
    bot.platform.result = Result.RETRY
    await bot.ask("xin chào", user="u2")
    statuses = sorted(row.status for row in await bot.rows())
    assert statuses == ["pending", "sent"]

    async def retention(at: datetime) -> None:
        async with bot.runtime.sessions() as session, session.begin():
            await privacy.apply_retention(session, at, days=180)

    await retention(clock.now() + timedelta(hours=23))
    assert len(await bot.rows()) == 2
    await retention(clock.now() + privacy.JOURNAL_KEPT + timedelta(minutes=1))
    assert [row.status for row in await bot.rows()] == ["pending"]


async def test_stopping_while_outcomes_are_written_waits_for_them(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM just after a reply went out: the writer is inside its UPDATE (held here by a row lock). Cut there,
    the outcome was lost and asyncpg logged a broken connection."""
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=postgres_url))
    await migrate.upgrade(runtime.engine)
    try:
        async with runtime.sessions() as session, session.begin():
            [row_id] = await journal.journal(session, [Outgoing("zalo", "u1", "Dạ, bác làm thế này ạ.")], [None],
                                             runtime.now())
        async with holder(postgres_url) as held:
            await held.execute("BEGIN; SELECT id FROM outbox FOR UPDATE")
            writer = journal.DeliveryLog(runtime, interval=0.05)
            await writer.start()
            writer.note(row_id, Delivery(Result.SENT))
            await until_a_statement_waits(held, "the writer reached its UPDATE")
            with caplog.at_level(logging.ERROR):
                await stop_while_held(held, writer.stop())
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        async with runtime.sessions() as session:
            row = await session.get(OutboxMessage, row_id)
        assert row is not None and row.status == "sent" and row.sent_at is not None
    finally:
        await runtime.close()
