"""The broadcast delivery engine: pacing, 429 and 403 handling, bounded retries, crash and resume, cancel and
opt-out mid-send, the author's report. Real SQLite and PostgreSQL; the platform is a recording `Sender` whose
answers the test programs; time is virtual (the sender's clock and sleep are injected)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bot.channels.base import Delivery, Result
from bot.outbox.sender import MAX_ATTEMPTS, OutboxSender
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import campaigns, migrate, residents
from bot.store.models import Campaign, CampaignRun, Identity, OutboxMessage, Ticket
from handlers.messages import Outgoing

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 08:00 in Hà Nội


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs (it is not an Exception, so no handler records anything)."""


class Clock:
    """Virtual time shared by the sender's pacing clock and the runtime's wall clock."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


@dataclass
class Platform:
    """A recording sender: answers SENT unless a rule says otherwise; `received` holds what was delivered."""

    channel: str
    clock: Clock
    rules: list[Callable[[Outgoing, int], Delivery | None]] = field(default_factory=list)
    attempts: list[tuple[float, str]] = field(default_factory=list)
    received: list[tuple[float, Outgoing]] = field(default_factory=list)
    before_send: Callable[[Outgoing, int], Any] | None = None

    async def send(self, message: Outgoing) -> Delivery:
        number = len(self.attempts)
        self.attempts.append((self.clock.t, message.user_id))
        if self.before_send is not None:
            outcome = self.before_send(message, number)
            if asyncio.iscoroutine(outcome):
                await outcome
        for rule in self.rules:
            delivery = rule(message, number)
            if delivery is not None:
                if delivery.result in (Result.SENT, Result.UNCERTAIN):
                    self.received.append((self.clock.t, message))
                return delivery
        self.received.append((self.clock.t, message))
        return Delivery(Result.SENT, detail=str(number))

    def users(self) -> Counter[str]:
        return Counter(m.user_id for _, m in self.received)


@dataclass
class World:
    runtime: Runtime
    clock: Clock
    telegram: Platform
    zalo: Platform

    def sender(self, rate: float = 25.0, **kwargs: Any) -> OutboxSender:
        return OutboxSender(self.runtime, {"telegram": self.telegram, "zalo": self.zalo}, rate,
                            clock=self.clock.monotonic, sleep=self.clock.sleep, **kwargs)

    async def subscribe(self, rows: list[tuple[str, ...]]) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await campaigns.import_subscribers(
                session, [campaigns.SubscriberRow(i, c, u, a) for i, (c, u, a) in enumerate(rows, 2)], self.clock.now()
            )

    async def wrote_recently(self, *users: str) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(update(Identity).where(Identity.external_id.in_(users))
                                  .values(last_inbound_at=self.clock.now()))

    async def campaign(self, **fields: Any) -> int:
        spec = campaigns.CampaignSpec(**{"title": "Ngày đăng ký VNeID", "text": "Mang theo CCCD gắn chip.",
                                         "author": "telegram:staff1", **fields})
        async with self.runtime.sessions() as session, session.begin():
            zone = self.runtime.settings.timezone
            campaign = await campaigns.create_campaign(session, spec, self.runtime.now(), zone)
            return campaign.id

    async def fire(self, campaign_id: int, when: datetime | None = None, zalo_promotion: bool = False) -> int | None:
        async with self.runtime.sessions() as session, session.begin():
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            now = self.runtime.now()
            run = await campaigns.fire_run(session, campaign, when or now, now, "Phường 7",
                                           zalo_promotion=zalo_promotion)
            return run.id if run else None

    async def statuses(self) -> dict[str, str]:
        async with self.runtime.sessions() as session:
            rows = (await session.execute(select(OutboxMessage.recipient, OutboxMessage.status))).all()
        return {recipient: status for recipient, status in rows}

    async def counts(self, campaign_id: int) -> dict[str, int]:
        async with self.runtime.sessions() as session:
            return await campaigns.campaign_counts(session, campaign_id)

    async def campaign_status(self, campaign_id: int) -> str:
        async with self.runtime.sessions() as session:
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            return campaign.status


async def build_world(database_url: str, **settings: Any) -> World:
    clock = Clock()
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=database_url, TROLY_COMMUNE_NAME="Phường 7", **settings))
    runtime.now = clock.now
    await migrate.upgrade(runtime.engine)
    return World(runtime, clock, Platform("telegram", clock), Platform("zalo", clock))


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    w = await build_world(database_url)
    try:
        yield w
    finally:
        await w.runtime.close()


def people(count: int, area: str = "Thôn 1", channel: str = "telegram", prefix: str = "u") -> list[tuple[str, ...]]:
    return [(channel, f"{prefix}{i}", area) for i in range(count)]


async def test_a_broadcast_reaches_everyone_once_then_the_author_gets_a_report(world: World) -> None:
    await world.subscribe(people(30))
    campaign_id = await world.campaign(link_url="https://vneid.gov.vn", link_title="Mở VNeID")
    assert await world.fire(campaign_id) is not None
    await world.sender().drain()

    broadcast = [m for _, m in world.telegram.received if m.user_id != "staff1"]
    assert Counter(m.user_id for m in broadcast) == Counter({f"u{i}": 1 for i in range(30)})
    first = broadcast[0]
    assert first.text.startswith("**Phường 7: Ngày đăng ký VNeID**\nMang theo CCCD gắn chip.")
    assert first.text.endswith("Gõ /huy để ngừng nhận thông báo.")
    assert first.buttons[0].url == "https://vneid.gov.vn" and first.buttons[0].title == "Mở VNeID"
    assert set((await world.statuses()).values()) == {"sent"}
    assert await world.campaign_status(campaign_id) == "done"
    reports = [m for _, m in world.telegram.received if m.user_id == "staff1"]
    assert len(reports) == 1
    assert "Đã gửi: 30/30" in reports[0].text and "tin/giây" in reports[0].text


async def test_pacing_keeps_the_overall_rate_and_one_message_per_chat_per_second(world: World) -> None:
    await world.subscribe(people(100))
    campaign_id = await world.campaign(author="api")
    await world.fire(campaign_id)
    # Two interactive replies to one chat, queued behind nothing: they must be a second apart.
    async with world.runtime.sessions() as session, session.begin():
        for text in ("một", "hai"):
            session.add(OutboxMessage(channel="telegram", recipient="chatty", priority=0,
                                      payload=Outgoing("telegram", "chatty", text).to_json(),
                                      next_attempt_at=world.clock.now()))
    await world.sender(rate=25).drain()

    times = [t for t, _ in world.telegram.attempts]
    assert len(times) == 102
    # 25/s: any 25 consecutive sends span at least 0.96 s, and the whole lot takes about 102/25 s.
    assert all(times[i + 25] - times[i] >= 0.999 for i in range(len(times) - 25))
    assert 102 / 25 - 1 <= times[-1] <= 102 / 25 + 1
    chatty = [t for t, m in world.telegram.received if m.user_id == "chatty"]
    assert [m.text for _, m in world.telegram.received if m.user_id == "chatty"] == ["một", "hai"]
    assert chatty[1] - chatty[0] >= 1.0
    # Interactive replies (priority 0) went before the broadcast that was queued first.
    assert world.telegram.attempts[0][1] == "chatty"


async def test_a_429_pauses_the_whole_channel_and_nobody_receives_twice(world: World) -> None:
    await world.subscribe(people(40))
    campaign_id = await world.campaign()
    await world.fire(campaign_id)
    flood = {"left": 1}

    def rule(message: Outgoing, number: int) -> Delivery | None:
        if number == 10 and flood["left"]:
            flood["left"] -= 1
            return Delivery(Result.RETRY, retry_after=7.0, detail="429")
        return None

    world.telegram.rules.append(rule)
    await world.sender().drain()

    flood_at = world.telegram.attempts[10][0]
    assert not [t for t, _ in world.telegram.attempts if flood_at < t < flood_at + 7.0]
    assert [t for t, _ in world.telegram.attempts if t >= flood_at + 7.0]
    assert world.telegram.users() - Counter({"staff1": 1}) == Counter({f"u{i}": 1 for i in range(40)})
    assert (await world.counts(campaign_id))["sent"] == 40


async def test_rate_limits_do_not_use_up_a_messages_attempts(world: World) -> None:
    """Told to wait more times than the retry bound allows, the message still goes out after the waits."""
    await world.subscribe(people(2))
    campaign_id = await world.campaign(author="api")
    await world.fire(campaign_id)
    floods = {"left": MAX_ATTEMPTS + 2}

    def rule(message: Outgoing, number: int) -> Delivery | None:
        if message.user_id == "u0" and floods["left"]:
            floods["left"] -= 1
            return Delivery(Result.RETRY, retry_after=3.0, detail="429")
        return None

    world.telegram.rules.append(rule)
    await world.sender().drain()

    assert [u for _, u in world.telegram.attempts].count("u0") == MAX_ATTEMPTS + 3
    assert world.telegram.users() == Counter({"u0": 1, "u1": 1})
    assert (await world.counts(campaign_id))["sent"] == 2


async def test_403_marks_blocked_and_inactive_so_the_next_campaign_skips_them(world: World) -> None:
    await world.subscribe(people(5))
    world.telegram.rules.append(
        lambda m, n: Delivery(Result.BLOCKED, detail="403") if m.user_id == "u2" else None
    )
    first = await world.campaign(author="api")
    await world.fire(first)
    await world.sender().drain()
    assert (await world.statuses())["u2"] == "blocked"
    async with world.runtime.sessions() as session:
        identity = await residents.find_identity(session, "telegram", "u2")
        assert identity is not None and identity.active is False

    world.telegram.attempts.clear()
    second = await world.campaign(author="api", title="Lần 2")
    await world.fire(second)
    await world.sender().drain()
    assert sorted(u for _, u in world.telegram.attempts) == ["u0", "u1", "u3", "u4"]
    assert (await world.counts(first))["blocked"] == 1


async def test_retries_are_bounded_and_every_outcome_is_counted(world: World) -> None:
    await world.subscribe([*people(3), ("zalo", "z1", "Thôn 1"), ("zalo", "z2", "Thôn 1")])
    world.telegram.rules.append(lambda m, n: Delivery(Result.RETRY, detail="502") if m.user_id == "u0" else None)
    world.telegram.rules.append(lambda m, n: Delivery(Result.FAILED, detail="400") if m.user_id == "u1" else None)
    world.telegram.rules.append(
        lambda m, n: Delivery(Result.UNCERTAIN, detail="timeout") if m.user_id == "u2" else None
    )
    await world.wrote_recently("z1", "z2")  # inside our idea of Zalo's window; z1's the platform still refuses
    world.zalo.rules.append(lambda m, n: Delivery(Result.OUTSIDE_WINDOW) if m.user_id == "z1" else None)
    campaign_id = await world.campaign(author="api")
    await world.fire(campaign_id)
    await world.sender().drain()

    assert [u for _, u in world.telegram.attempts].count("u0") == 5
    counts = await world.counts(campaign_id)
    assert counts == {"pending": 0, "sent": 1, "blocked": 0, "outside_window": 1, "failed": 2, "uncertain": 1,
                      "cancelled": 0}
    assert [u for _, u in world.telegram.attempts].count("u2") == 1  # uncertain is never resent


async def test_after_a_crash_rows_left_sending_are_uncertain_and_the_rest_is_sent_once(world: World) -> None:
    await world.subscribe(people(20))
    campaign_id = await world.campaign(author="telegram:staff1")
    await world.fire(campaign_id)

    def crash(message: Outgoing, number: int) -> None:
        if number == 7:
            raise Crash

    world.telegram.before_send = crash
    first = world.sender()
    with pytest.raises(Crash):
        await first.drain()
    statuses = await world.statuses()
    assert Counter(statuses.values()) == Counter({"sent": 7, "sending": 1, "pending": 12})

    world.telegram.before_send = None
    world.clock.t += 30  # the restart
    second = world.sender()
    assert await second.recover() == 1
    await second.drain()
    statuses = await world.statuses()
    crashed = world.telegram.attempts[7][1]
    assert statuses[crashed] == "uncertain"
    assert Counter(statuses.values()) == Counter({"sent": 19, "uncertain": 1})
    attempts = Counter(u for _, u in world.telegram.attempts if u != "staff1")
    assert attempts == Counter({f"u{i}": 1 for i in range(20)})  # nobody twice, nobody dropped
    assert await world.campaign_status(campaign_id) == "done"
    report = [m.text for _, m in world.telegram.received if m.user_id == "staff1"]
    assert len(report) == 1 and "Đã gửi: 19/20" in report[0]
    # In the words of the dashboard and the reports
    assert "Không chắc đã nhận: 1 · Đã huỷ: 0" in report[0] and "Ngoài thời hạn tương tác: 0" in report[0]


async def test_cancel_mid_send_stops_what_has_not_left(world: World) -> None:
    await world.subscribe(people(20))
    campaign_id = await world.campaign(author="api")
    await world.fire(campaign_id)

    async def cancel_at_five(message: Outgoing, number: int) -> None:
        if number == 5:
            async with world.runtime.sessions() as session, session.begin():
                await campaigns.cancel_campaign(session, campaign_id, "test", world.clock.now())

    world.telegram.before_send = cancel_at_five
    await world.sender().drain()
    assert len(world.telegram.attempts) == 6  # the one in flight when cancelled still finished
    counts = await world.counts(campaign_id)
    assert counts["sent"] == 6 and counts["cancelled"] == 14 and counts["pending"] == 0
    assert await world.campaign_status(campaign_id) == "cancelled"


async def test_a_resident_who_unsubscribes_after_firing_gets_nothing(world: World) -> None:
    await world.subscribe(people(3))
    campaign_id = await world.campaign(author="api")
    await world.fire(campaign_id)
    async with world.runtime.sessions() as session, session.begin():
        identity = await residents.find_identity(session, "telegram", "u1")
        assert identity is not None
        who = residents.Who(identity.resident_id, identity.id, "telegram", "u1")
        await residents.unsubscribe(session, who)
    await world.sender().drain()
    assert sorted(world.telegram.users()) == ["u0", "u2"]
    assert (await world.statuses())["u1"] == "cancelled"


async def test_the_service_recovers_at_start_and_sends_when_woken(world: World) -> None:
    # Real time here: the service loop runs as it does in `troly serve`.
    world.runtime.now = lambda: datetime.now(UTC)
    await world.subscribe(people(3))
    campaign_id = await world.campaign(author="api")
    async with world.runtime.sessions() as session, session.begin():
        session.add(OutboxMessage(channel="telegram", recipient="ghost", priority=0, status="sending",
                                  claimed_by="dead-process", payload=Outgoing("telegram", "ghost", "x").to_json()))
    service = OutboxSender(world.runtime, {"telegram": world.telegram}, rate=200, poll_interval=30)
    await service.start()
    try:
        assert (await world.statuses())["ghost"] == "uncertain"
        await world.fire(campaign_id, datetime.now(UTC))
        service.wake()
        for _ in range(600):  # a generous bound: a loaded CI machine is slow, this is no timing test
            if await world.campaign_status(campaign_id) == "done":
                break
            await asyncio.sleep(0.05)
        assert sorted(world.telegram.users()) == ["u0", "u1", "u2"]
        assert await world.campaign_status(campaign_id) == "done"
    finally:
        await service.stop()
    async with world.runtime.sessions() as session:
        run = await session.scalar(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id))
        assert run is not None and run.status == "done" and run.finished_at is not None
        assert await session.scalar(select(Identity.active).where(Identity.external_id == "u0")) is True


async def test_stopping_lets_the_message_in_flight_finish_and_leaves_the_rest_pending(world: World) -> None:
    world.runtime.now = lambda: datetime.now(UTC)
    await world.subscribe(people(5))
    campaign_id = await world.campaign(author="api")
    in_flight = asyncio.Event()

    async def slow(message: Outgoing, number: int) -> None:
        in_flight.set()
        await asyncio.sleep(0.3)

    world.telegram.before_send = slow
    await world.fire(campaign_id, datetime.now(UTC))
    service = OutboxSender(world.runtime, {"telegram": world.telegram}, rate=1000, poll_interval=30)
    await service.start()
    await asyncio.wait_for(in_flight.wait(), timeout=5)
    await service.stop()
    statuses = Counter((await world.statuses()).values())
    assert statuses == Counter({"sent": 1, "pending": 4})  # nothing left `sending`, so nothing uncertain


async def test_zalo_subscribers_outside_the_window_are_reported_without_a_send(world: World) -> None:
    await world.subscribe([("zalo", "z-old", "Thôn 1"), ("zalo", "z-new", "Thôn 1")])
    await world.wrote_recently("z-new")
    campaign_id = await world.campaign(author="api")
    await world.fire(campaign_id)
    await world.sender().drain()
    assert [u for _, u in world.zalo.attempts] == ["z-new"]
    counts = await world.counts(campaign_id)
    assert (counts["sent"], counts["outside_window"]) == (1, 1)


async def test_with_promotion_messages_allowed_zalo_subscribers_outside_the_window_are_tried(world: World) -> None:
    await world.subscribe([("zalo", "z-old", "Thôn 1"), ("zalo", "z-new", "Thôn 1")])
    await world.wrote_recently("z-new")
    campaign_id = await world.campaign(author="api")
    await world.fire(campaign_id, zalo_promotion=True)
    await world.sender().drain()
    assert sorted(u for _, u in world.zalo.attempts) == ["z-new", "z-old"]
    async with world.runtime.sessions() as session:
        payloads = list(await session.scalars(select(OutboxMessage.payload)))
    assert all(Outgoing.from_json(p).broadcast for p in payloads), "the channel must know it is a reminder"
    assert (await world.counts(campaign_id))["sent"] == 2


async def test_a_fired_run_is_invisible_to_others_until_its_rows_are_written(world: World) -> None:
    """Regression: on SQLite the run's SAVEPOINT used to commit on release, so the sender could see (and finish)
    a run with no outbox rows yet, leaving its campaign `sending` for ever."""
    await world.subscribe(people(2))
    campaign_id = await world.campaign(author="api")
    # Another process's view: its own engine (on SQLite this process has one connection, so no other session
    # of ours could even start before the commit).
    observer = create_async_engine(world.runtime.engine.url)
    try:
        async with world.runtime.sessions() as session, session.begin():
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            now = world.runtime.now()
            assert await campaigns.fire_run(session, campaign, now, now, "Phường 7") is not None
            async with AsyncSession(observer) as other:
                assert (await other.scalars(select(CampaignRun))).all() == []
        async with AsyncSession(observer) as other:
            assert len((await other.scalars(select(CampaignRun))).all()) == 1
    finally:
        await observer.dispose()


async def test_a_ticket_post_sent_through_the_outbox_stays_editable(world: World) -> None:
    """A ticket's group post recovered from the reply journal: its message id is kept like a direct send's."""
    now = world.clock.now()
    async with world.runtime.sessions() as session, session.begin():
        arrival = await residents.identify(session, "zalo", "z1", "Bà Lan", now, since=now)
        ticket = Ticket(resident_id=arrival.who.resident_id, identity_id=arrival.who.identity_id, status="waiting",
                        reason="asked", created_at=now)
        session.add(ticket)
        await session.flush()
        post = Outgoing("telegram", "-100200", f"Phiếu #{ticket.id}", ref=f"ticket-post:{ticket.id}")
        other = Outgoing("telegram", "-100200", "không phải phiếu", ref="something-else:1")
        session.add_all([OutboxMessage(channel="telegram", recipient="-100200", payload=m.to_json(), priority=0)
                         for m in (other, post)])
        ticket_id = ticket.id
    world.clock.t += 2  # the second message to that chat waits its second
    sender = world.sender()
    while await sender.process_batch():
        pass
    world.clock.t += 2
    await sender.process_batch()
    assert [m.ref for _, m in world.telegram.received] == ["something-else:1", f"ticket-post:{ticket_id}"]
    async with world.runtime.sessions() as session:
        stored = await session.get(Ticket, ticket_id)
    assert stored is not None and stored.group_message_id == 1  # the platform's id for the second send
