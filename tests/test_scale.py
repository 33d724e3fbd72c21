"""Several processes on one PostgreSQL database: outbox claims, the shared rate, dead-worker recovery and the
scheduler leader. Each "process" is its own Runtime with its own engine (its own connections), in real time;
the platform is a recording `Sender`."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from bot.channels.base import Delivery, Result
from bot.outbox.sender import OutboxSender
from bot.runtime import Runtime
from bot.scheduler.campaigns import CampaignScheduler
from bot.settings import load_settings
from bot.store import campaigns, migrate
from bot.store.models import Campaign, CampaignRun, OutboxMessage, OutboxWorker
from handlers.messages import Outgoing

RATE = 60.0


class Crash(BaseException):
    """Stands for kill -9 of one process (not an Exception: nothing records anything after it)."""


@dataclass
class Platform:
    """What the platform saw: (monotonic time, worker, user) per send attempt, from every process."""

    attempts: list[tuple[float, str, str]] = field(default_factory=list)

    def sender(self, worker: str, crash_at: int | None = None) -> PlatformSender:
        return PlatformSender(self, worker, crash_at)


@dataclass
class PlatformSender:
    platform: Platform
    worker: str
    crash_at: int | None = None
    channel: str = "telegram"
    count: int = 0

    async def send(self, message: Outgoing) -> Delivery:
        if self.crash_at is not None and self.count == self.crash_at:
            self.platform.attempts.append((time.monotonic(), self.worker, message.user_id))
            raise Crash
        self.count += 1
        self.platform.attempts.append((time.monotonic(), self.worker, message.user_id))
        await asyncio.sleep(0.002)  # a network round trip
        return Delivery(Result.SENT)


@pytest.fixture
async def processes(postgres_url: str) -> AsyncIterator[list[Runtime]]:
    runtimes = [
        Runtime.build(load_settings(TROLY_DATABASE_URL=postgres_url, TROLY_COMMUNE_NAME="Phường 7"))
        for _ in range(3)
    ]
    await migrate.upgrade(runtimes[0].engine)
    try:
        yield runtimes
    finally:
        for runtime in runtimes:
            await runtime.close()


async def broadcast(runtime: Runtime, count: int) -> int:
    now = runtime.now()
    async with runtime.sessions() as session, session.begin():
        await campaigns.import_subscribers(
            session, [campaigns.SubscriberRow(i + 2, "telegram", f"u{i}", "Thôn 1") for i in range(count)], now
        )
        spec = campaigns.CampaignSpec("Ngày đăng ký VNeID", "Mang theo CCCD gắn chip.", "api")
        campaign = await campaigns.create_campaign(session, spec, now, runtime.settings.timezone)
        run = await campaigns.fire_run(session, campaign, now, now, "Phường 7")
        assert run is not None
        return run.id


async def statuses(runtime: Runtime) -> Counter[str]:
    async with runtime.sessions() as session:
        return Counter((await session.scalars(select(OutboxMessage.status))).all())


async def run_status(runtime: Runtime, run_id: int) -> str | None:
    async with runtime.sessions() as session:
        return await session.scalar(select(CampaignRun.status).where(CampaignRun.id == run_id))


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_three_senders_drain_one_broadcast_once_each_within_one_shared_rate(processes: list[Runtime]) -> None:
    run_id = await broadcast(processes[0], 240)
    async with processes[0].sessions() as session, session.begin():
        for text_ in ("một", "hai", "ba"):  # one chat, three replies: one a second, whichever process sends them
            session.add(OutboxMessage(channel="telegram", recipient="chatty", priority=0,
                                      payload=Outgoing("telegram", "chatty", text_).to_json()))
    platform = Platform()
    senders = [OutboxSender(runtime, {"telegram": platform.sender(f"w{i}")}, rate=RATE, worker_id=f"w{i}")
               for i, runtime in enumerate(processes)]
    for sender in senders:
        await sender.heartbeat()

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(sender.drain() for sender in senders)), timeout=60)
    elapsed = time.monotonic() - started

    users = Counter(user for _, _, user in platform.attempts)
    assert users == Counter({**{f"u{i}": 1 for i in range(240)}, "chatty": 3})  # everyone, once
    by_worker = Counter(worker for _, worker, _ in platform.attempts)
    assert len(by_worker) == 3 and min(by_worker.values()) >= 20  # all three really shared the work
    # The platform sees the configured rate, not three times it (a little slack for event-loop jitter).
    assert max_in_window([t for t, _, _ in platform.attempts]) <= RATE * 1.1
    assert elapsed >= 243 / RATE - 1.5
    chatty = sorted(t for t, _, user in platform.attempts if user == "chatty")
    assert chatty[1] - chatty[0] >= 0.9 and chatty[2] - chatty[1] >= 0.9
    assert await statuses(processes[0]) == Counter({"sent": 243})
    assert await run_status(processes[0], run_id) == "done"


async def test_a_killed_worker_loses_nothing_and_only_its_own_rows_become_uncertain(
    processes: list[Runtime],
) -> None:
    run_id = await broadcast(processes[0], 150)
    platform = Platform()
    doomed = OutboxSender(processes[0], {"telegram": platform.sender("dead", crash_at=10)}, rate=200,
                          worker_id="dead")
    survivors = [OutboxSender(runtime, {"telegram": platform.sender(f"w{i}")}, rate=200, worker_id=f"w{i}")
                 for i, runtime in enumerate(processes[1:], 1)]
    for sender in (doomed, *survivors):
        await sender.heartbeat()

    with pytest.raises(Crash):
        await doomed.drain()
    crashed = platform.attempts[-1][2]
    async with processes[0].sessions() as session:
        held = await session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.claimed_by == "dead", OutboxMessage.status == "pending")
        )
    assert held and held > 0  # it died holding a claimed batch

    drains = [asyncio.create_task(sender.drain()) for sender in survivors]
    # While its heartbeat is fresh the dead worker counts as alive: its row in flight is not touched.
    assert await survivors[0].recover() == 0
    assert (await statuses(processes[0]))["sending"] == 1
    # The lease runs out (its heartbeat stops): the others take its rows over.
    async with processes[0].sessions() as session, session.begin():
        await session.execute(update(OutboxWorker).where(OutboxWorker.id == "dead")
                              .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=2)))
    assert await survivors[0].recover() == 1
    await asyncio.wait_for(asyncio.gather(*drains), timeout=60)
    await survivors[1].finish_runs()

    attempts = Counter(user for _, _, user in platform.attempts)
    assert attempts == Counter({f"u{i}": 1 for i in range(150)})  # nobody twice, nobody dropped
    async with processes[0].sessions() as session:
        row = (await session.execute(select(OutboxMessage.status).where(OutboxMessage.recipient == crashed))).one()
    assert row.status == "uncertain"
    assert await statuses(processes[0]) == Counter({"sent": 149, "uncertain": 1})
    assert await run_status(processes[0], run_id) == "done"


async def test_one_scheduler_leader_and_a_failover_that_fires_the_run_once(processes: list[Runtime]) -> None:
    first, second = (CampaignScheduler(runtime, leader_retry_seconds=0.2) for runtime in processes[:2])
    await first.start()
    await second.start()
    try:
        assert first.is_leader and not second.is_leader
        now = datetime.now(UTC)
        async with processes[0].sessions() as session, session.begin():
            spec = campaigns.CampaignSpec("Tiêm chủng", "Mang sổ tiêm.", "api", send_at=now + timedelta(seconds=2))
            campaign = await campaigns.create_campaign(session, spec, now, processes[0].settings.timezone)
            campaign_id = campaign.id
        await first.refresh(campaign_id)
        await second.refresh(campaign_id)  # a follower told of a change fires nothing that is not due
        assert first.planned and not second.is_leader

        # The leader's process dies: its connection goes, and with it the advisory lock.
        async with processes[2].engine.connect() as connection:
            pids = (await connection.scalars(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ))).all()
            assert len(pids) == 1
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
            await connection.commit()

        for _ in range(100):
            if second.is_leader and not first.is_leader:
                break
            await asyncio.sleep(0.1)
        assert second.is_leader and not first.is_leader  # well within the 30 s promised

        async with processes[0].sessions() as session:
            for _ in range(100):
                if await session.scalar(select(func.count()).select_from(CampaignRun)):
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # time for a second firing, if anything would do one
        async with processes[0].sessions() as session:
            runs = (await session.scalars(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id))).all()
            assert len(runs) == 1
            assert await session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) == "sending"
        assert second.is_leader and not first.is_leader  # the old leader came back as a follower
    finally:
        await first.stop()
        await second.stop()


async def test_sqlite_is_always_its_own_leader(sqlite_url: str) -> None:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=sqlite_url))
    await migrate.upgrade(runtime.engine)
    scheduler = CampaignScheduler(runtime)
    try:
        await scheduler.start()
        assert scheduler.is_leader
    finally:
        await scheduler.stop()
        await runtime.close()
