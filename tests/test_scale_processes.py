"""Three real `troly serve` processes on one PostgreSQL database and one fake Bot API (tests/fakes/telegram_api.py),
no mocks:

- a broadcast to 10,000 survives kill -9 of one of them: nobody twice, nobody silently lost, the platform never sees
  more than the shared rate, and the dead process's rows go to the others once its outbox lease
  (TROLY_OUTBOX_LEASE_SECONDS, short here) runs out;
- in webhook mode, volunteers pressing "Nhận hỗ trợ" at the same moment on different processes: one owner, the
  winner told so, every other told who has it;
- kill -9 of the scheduler leader before a campaign is due: another process leads within 30 s (the
  `troly_scheduler_leader` gauge) and the campaign fires once, to every subscriber once.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import campaigns, migrate, roles
from bot.store.models import AuditEntry, CampaignRun, OutboxMessage, OutboxWorker, Ticket
from tests.conftest import free_port
from tests.fakes.telegram_api import FakeTelegram

TROLY = [sys.executable, "-m", "bot", "serve"]
ADMIN_TOKEN = "ma-quan-tri-thu-nghiem"
REPO = Path(__file__).resolve().parent.parent
# Short, so a dead process's rows are taken over within seconds rather than the default minute.
LEASE_SECONDS = 10
FIRST_CHAT = 7_000_000

# ---- the processes ---------------------------------------------------------------------------------------------


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any `window` seconds."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` (sync or async) until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(every)


async def _exited(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    """Wait without blocking the loop: the fake Bot API the process is talking to lives in it."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return process.poll()


@dataclass
class Serve:
    """One `troly serve` process: its HTTP port, its log, and the id its outbox worker beats under."""

    index: int
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    worker: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Cluster:
    db: Runtime  # the test's own view of the database (the processes have theirs)
    telegram: FakeTelegram
    http: aiohttp.ClientSession
    tmp_path: Path
    env: dict[str, str]
    serves: list[Serve] = field(default_factory=list)

    async def start(self, count: int = 3) -> None:
        """Start the processes one after the other, each healthy with its outbox worker beating."""
        for index in range(count):
            port = free_port()
            log = self.tmp_path / f"serve{index}.log"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TROLY_", "TELEGRAM_", "ZALO_"))}
            env.update(PYTHONPATH=str(REPO), TROLY_DATABASE_URL=self.db.settings.database_url,
                       TROLY_HTTP_PORT=str(port), TROLY_ADMIN_TOKEN=ADMIN_TOKEN, TROLY_LOG_LEVEL="WARNING",
                       TROLY_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS), **self.telegram.env(), **self.env)
            with log.open("wb") as out:  # the child keeps its own descriptor
                process = subprocess.Popen(TROLY, cwd=self.tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env)
            serve = Serve(index, port, process, log)
            self.serves.append(serve)
            known = {s.worker for s in self.serves}
            await until(lambda s=serve: self._healthy(s), 30, f"serve{index} healthy")
            serve.worker = await until(lambda k=known: self._new_worker(k), 10, f"serve{index}'s outbox worker")

    async def _healthy(self, serve: Serve) -> bool:
        assert serve.alive, f"serve{serve.index} exited early with {serve.process.returncode}:\n{self.logs(serve)}"
        try:
            async with self.http.get(serve.base + "/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def _new_worker(self, known: set[str]) -> str | None:
        async with self.db.sessions() as session:
            ids = set((await session.scalars(select(OutboxWorker.id))).all()) - known
        return ids.pop() if len(ids) == 1 else None

    def logs(self, serve: Serve) -> str:
        return serve.log.read_text(errors="replace")

    async def kill(self, serve: Serve) -> None:
        serve.process.send_signal(signal.SIGKILL)
        assert await _exited(serve.process, 5) == -signal.SIGKILL

    async def stop(self) -> None:
        """SIGTERM every survivor: each stops cleanly, and none logged a traceback."""
        survivors = [s for s in self.serves if s.alive]
        for serve in survivors:
            serve.process.send_signal(signal.SIGTERM)
        for serve in survivors:
            assert await _exited(serve.process, 15) == 0, f"serve{serve.index}:\n{self.logs(serve)}"
        for serve in survivors:
            assert "Traceback" not in self.logs(serve), f"serve{serve.index}:\n{self.logs(serve)}"

    def close(self) -> None:
        for serve in self.serves:
            if serve.alive:
                serve.process.kill()
                serve.process.wait()

    async def leader(self, serve: Serve) -> bool:
        """What the process's /metrics says: does it run the campaign scheduler?"""
        async with self.http.get(serve.base + "/metrics") as response:
            assert response.status == 200
            found = re.search(r"^troly_scheduler_leader (\S+)$", await response.text(), re.MULTILINE)
        assert found, f"no troly_scheduler_leader gauge on serve{serve.index}"
        return float(found.group(1)) == 1.0

    async def leaders(self) -> list[Serve]:
        alive = [s for s in self.serves if s.alive]
        flags = await asyncio.gather(*(self.leader(s) for s in alive))
        return [s for s, flag in zip(alive, flags, strict=True) if flag]

    async def webhook(self, serve: Serve, update: dict[str, Any]) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.env["TELEGRAM_WEBHOOK_SECRET"]}
        async with self.http.post(serve.base + "/telegram/webhook", json=update, headers=headers) as response:
            return response.status

    async def create_campaign(self, serve: Serve, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(serve.base + "/api/campaigns", json=body,
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
            assert response.status == 201, await response.text()
            created: dict[str, Any] = await response.json()
        return created

    async def open_rows(self) -> int:
        async with self.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status.in_(("pending", "sending")))) or 0)


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=postgres_url))
    await migrate.upgrade(runtime.engine)
    try:
        yield runtime
    finally:
        await runtime.close()


@asynccontextmanager
async def cluster(db: Runtime, tmp_path: Path, *, fake: dict[str, Any] | None = None,
                  **env: str) -> AsyncIterator[Cluster]:
    """A fake Bot API and three `troly serve` processes talking to it; whatever is still running is killed after."""
    async with FakeTelegram.run(**(fake or {})) as telegram, aiohttp.ClientSession() as http:
        running = Cluster(db, telegram, http, tmp_path, env)
        try:
            await running.start()
            yield running
        finally:
            running.close()


async def subscribe(db: Runtime, count: int) -> set[int]:
    area = db.settings.areas[0]
    rows = [campaigns.SubscriberRow(i + 2, "telegram", str(FIRST_CHAT + i), area) for i in range(count)]
    async with db.sessions() as session, session.begin():
        await campaigns.import_subscribers(session, rows, datetime.now(UTC))
    return set(range(FIRST_CHAT, FIRST_CHAT + count))


def received(telegram: FakeTelegram) -> Counter[int]:
    return Counter(int(m["chat_id"]) for m in telegram.sent())


async def _no_open_rows(procs: Cluster) -> bool:
    return await procs.open_rows() == 0


async def _runs_done(db: Runtime) -> bool:
    async with db.sessions() as session:
        runs = list((await session.scalars(select(CampaignRun.status))).all())
    return bool(runs) and set(runs) == {"done"}


# ---- a broadcast through a kill -9 -------------------------------------------------------------------------------

RECIPIENTS = 10_000
# Three processes on a 2-core machine reach about this, so the shared limit really binds (about 80 s for 10,000).
RATE = 150.0


async def test_three_serve_processes_broadcast_once_each_within_the_shared_rate_despite_kill_9(
    db: Runtime, tmp_path: Path,
) -> None:
    everyone = await subscribe(db, RECIPIENTS)
    # The platform refuses (429) more than 10 % over the rate in any second, and a second message to a chat within 1 s.
    async with cluster(db, tmp_path, fake={"flood_limit": RATE * 1.1, "chat_interval": 1.0},
                       TELEGRAM_BROADCAST_RATE=str(RATE)) as procs:
        telegram, doomed = procs.telegram, procs.serves[1]
        started = time.monotonic()
        await procs.create_campaign(procs.serves[0], {
            "title": "Ngày hội VNeID", "text": "Sáng thứ Bảy tại nhà văn hoá, mang theo CCCD."})

        await until(lambda: len(telegram.messages) >= RECIPIENTS * 0.3, 60, "30 % sent", every=0.2)
        await procs.kill(doomed)
        killed = time.monotonic()
        async with db.sessions() as session:
            held = int(await session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.claimed_by == doomed.worker, OutboxMessage.status.in_(("pending", "sending")))) or 0)

        # Its heartbeat goes stale: after the lease, and at the survivors' next beat (a quarter of the lease), its
        # claimed rows are theirs and its message in flight is `uncertain`.
        async def released() -> bool:
            async with db.sessions() as session:
                return not await session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.claimed_by == doomed.worker, OutboxMessage.status.in_(("pending", "sending"))))

        await until(released, LEASE_SECONDS * 2 + 10, "the dead worker's rows taken over", every=0.1)
        takeover = time.monotonic() - killed
        await until(lambda: _no_open_rows(procs), 240, "every row final", every=0.5)
        await until(lambda: _runs_done(db), 15, "the run finished")
        elapsed = time.monotonic() - started

        got = received(telegram)
        async with db.sessions() as session:
            rows = (await session.execute(
                select(OutboxMessage.recipient, OutboxMessage.status, OutboxMessage.claimed_by))).all()
        statuses = Counter(status for _, status, _ in rows)
        uncertain = {int(recipient) for recipient, status, _ in rows if status == "uncertain"}
        attempts = sorted(call.at for call in telegram.calls_to("sendMessage"))
        peak = max_in_window(attempts)
        by_worker = Counter(worker for _, status, worker in rows if status == "sent")
        print(f"\nbroadcast: {len(got)} received in {elapsed:.1f} s, {statuses}, peak {peak}/s (limit {RATE:.0f}), "
              f"mean {len(attempts) / (attempts[-1] - attempts[0]):.1f}/s, dead worker held {held} rows, taken over "
              f"{takeover:.1f} s after the kill, sends by worker {sorted(by_worker.values())}")

        assert len(rows) == RECIPIENTS
        assert [chat for chat, count in got.items() if count > 1] == []  # nobody twice
        assert everyone - set(got) - uncertain == set()  # no silent loss: received, or reported uncertain
        assert set(got) <= everyone
        assert set(statuses) <= {"sent", "uncertain"}, statuses
        assert statuses["uncertain"] <= 1  # at most the dead process's one message in flight
        assert by_worker[doomed.worker] > 0 and len(by_worker) == 3  # all three took part
        # The platform never saw more than the configured rate (10 % for network jitter) and never refused one.
        assert peak <= RATE * 1.1
        assert telegram.flood_refusals == 0
        # The lease, not the test, freed the dead worker's rows: not before its last heartbeat went stale.
        if held:
            assert LEASE_SECONDS * 0.75 - 1 <= takeover <= LEASE_SECONDS * 1.25 + 5, takeover
        await procs.stop()


# ---- volunteers racing for a ticket across processes -------------------------------------------------------------

GROUP = -1001234567890
PUBLIC_URL = "https://troly.example.vn"
SECRET = "bi-mat-webhook-Abc_123"
# (user id, first name, last name) as Vietnamese users often fill them in: the given name last.
VOLUNTEERS = ((6001, "Nguyễn Văn", "An"), (6002, "Trần Thị", "Bình"), (6003, "Lê Văn", "Cường"),
              (6004, "Phạm Thị", "Dung"))
ROUNDS = 5


async def test_volunteers_pressing_claim_at_once_on_different_processes_get_one_owner_and_are_all_told(
    db: Runtime, tmp_path: Path,
) -> None:
    async with db.sessions() as session, session.begin():
        for user_id, _, _ in VOLUNTEERS:
            await roles.grant(session, "volunteer", f"telegram:{user_id}", "test")
    async with cluster(db, tmp_path, TROLY_PUBLIC_URL=PUBLIC_URL, TELEGRAM_WEBHOOK_SECRET=SECRET,
                       TELEGRAM_VOLUNTEER_CHAT_ID=str(GROUP)) as procs:
        telegram, serves = procs.telegram, procs.serves
        hooks = [call.params for call in telegram.calls_to("setWebhook")]
        assert [(h["url"], h["secret_token"]) for h in hooks] == [(f"{PUBLIC_URL}/telegram/webhook", SECRET)] * 3
        assert not telegram.calls_to("getUpdates")  # webhook mode: nobody polls
        winners: list[int] = []
        started = time.monotonic()
        for round_ in range(ROUNDS):
            # A resident asks for a person (through any process): a ticket, posted in the volunteers' group.
            resident = 8001 + round_
            update = telegram.updates.text(resident, "gặp người hỗ trợ", first_name="Đỗ Thị", last_name="Hoa")
            assert await procs.webhook(serves[round_ % 3], update) == 200
            ticket = await until(lambda r=round_: _ticket_posted(db, r), 15, f"round {round_}: the group post")
            post = telegram.messages[(GROUP, ticket.group_message_id)]
            buttons = [b for row in post["reply_markup"]["inline_keyboard"] for b in row]
            assert [(b["text"], b["callback_data"]) for b in buttons] == [("Nhận hỗ trợ", f"claim:{ticket.id}")]

            # Everyone presses it at the same moment, on different processes.
            presses = [telegram.updates.callback(user_id, f"claim:{ticket.id}", chat_id=GROUP,
                                                 message_id=ticket.group_message_id, first_name=first,
                                                 last_name=last)
                       for user_id, first, last in VOLUNTEERS]
            targets = [serves[(n + round_) % 3] for n in range(len(presses))]
            statuses = await asyncio.gather(*(procs.webhook(s, u) for s, u in zip(targets, presses, strict=True)))
            assert statuses == [200] * len(presses)

            def told(ticket_id: int = ticket.id) -> dict[int, list[str]] | None:
                about = re.compile(rf"\b[Pp]hiếu #{ticket_id}\b")
                said = {user_id: [m["_visible"] for m in telegram.sent(user_id) if about.search(m["_visible"])]
                        for user_id, _, _ in VOLUNTEERS}
                return said if all(said.values()) else None

            said = await until(told, 15, f"round {round_}: every volunteer told")
            await until(lambda p=presses: _all_answered(telegram, p), 10, f"round {round_}: every press answered")
            await asyncio.sleep(0.3)  # time for a second "you have it", a second edit, if anything would send one

            async with db.sessions() as session:
                claimed = await session.get(Ticket, ticket.id)
                claims = await session.scalar(select(func.count()).select_from(AuditEntry).where(
                    AuditEntry.action == "ticket.claim", AuditEntry.target == f"ticket:{ticket.id}"))
            assert claimed is not None and claimed.status == "claimed"
            owner = claimed.owner
            assert owner in {f"telegram:{user_id}" for user_id, _, _ in VOLUNTEERS}
            assert claims == 1  # exactly one owner, ever
            winner = int(owner.partition(":")[2])
            winners.append(winner)
            first, last = next((f, la) for u, f, la in VOLUNTEERS if u == winner)
            for user_id, _, _ in VOLUNTEERS:
                [text] = said[user_id]  # one answer each
                if user_id == winner:
                    assert text.startswith(f"Anh/chị đã nhận phiếu #{ticket.id}."), text
                else:  # told who has it, by name
                    assert text.startswith(f"Phiếu #{ticket.id} đã được {first} {last} nhận rồi"), text
            # The group post now says who took it (edited once, by the winner's process); the resident hears once.
            edits = [c for c in telegram.calls_to("editMessageText")
                     if c.params.get("chat_id") == GROUP and c.params.get("message_id") == ticket.group_message_id]
            assert len(edits) == 1 and f"{first} {last}" in telegram.messages[(GROUP, ticket.group_message_id)][
                "_visible"]
            connected = [m for m in telegram.sent(resident) if "đã nhận câu hỏi" in m["_visible"]]
            assert len(connected) == 1 and f"Tình nguyện viên {last} " in connected[0]["_visible"]
        print(f"\nclaim race: {ROUNDS} rounds of {len(VOLUNTEERS)} presses over 3 processes in "
              f"{time.monotonic() - started:.1f} s; winners {winners}")
        await procs.stop()


async def _ticket_posted(db: Runtime, round_: int) -> Ticket | None:
    """The round's ticket once its group post is delivered (its message id recorded)."""
    async with db.sessions() as session:
        tickets = list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())
    if len(tickets) == round_ + 1 and tickets[-1].group_message_id is not None:
        return tickets[-1]
    assert len(tickets) <= round_ + 1
    return None


def _all_answered(telegram: FakeTelegram, presses: list[dict[str, Any]]) -> bool:
    answered = Counter(c.params.get("callback_query_id") for c in telegram.calls_to("answerCallbackQuery"))
    return all(answered[p["callback_query"]["id"]] == 1 for p in presses)


# ---- the scheduler leader dies before a campaign is due ----------------------------------------------------------

SUBSCRIBERS = 300


async def test_killing_the_scheduler_leader_hands_over_within_30_s_and_the_campaign_fires_once(
    db: Runtime, tmp_path: Path,
) -> None:
    everyone = await subscribe(db, SUBSCRIBERS)
    async with cluster(db, tmp_path, TELEGRAM_BROADCAST_RATE="100") as procs:
        [leader] = await until(procs.leaders, 15, "a scheduler leader")
        assert len(await procs.leaders()) == 1

        send_at = datetime.now(UTC) + timedelta(seconds=8)
        created = await procs.create_campaign(leader, {
            "title": "Tiêm chủng", "text": "Tiêm chủng mở rộng sáng Chủ nhật tại trạm y tế.",
            "send_at": send_at.isoformat()})
        assert created["status"] == "scheduled" and created["runs"] == []
        await procs.kill(leader)
        killed, margin = time.monotonic(), (send_at - datetime.now(UTC)).total_seconds()
        async with db.sessions() as session:
            assert not await session.scalar(select(func.count()).select_from(CampaignRun))  # not fired yet
        assert margin > 0

        successors = await until(procs.leaders, 30, "a new scheduler leader", every=0.1)
        takeover = time.monotonic() - killed
        assert len(successors) == 1 and successors[0] is not leader and takeover <= 30
        successor = successors[0]

        await until(lambda: _runs_done(db), 30, "the campaign's run finished")
        await until(lambda: len(procs.telegram.sent()) >= SUBSCRIBERS, 10, "every subscriber reached")
        await asyncio.sleep(1.0)  # time for a second firing, if anything would do one
        async with db.sessions() as session:
            runs = list((await session.scalars(select(CampaignRun))).all())
        got = received(procs.telegram)
        assert len(runs) == 1  # fired exactly once
        [run] = runs
        assert run.scheduled_for == send_at and run.fired_at is not None
        print(f"\nleader failover: serve{leader.index} killed {margin:.1f} s before the campaign's time; "
              f"serve{successor.index} led {takeover:.1f} s after the kill; "
              f"the run fired {(run.fired_at - send_at).total_seconds():+.2f} s after its time")
        assert run.fired_at >= run.scheduled_for  # not early
        assert got == Counter(dict.fromkeys(everyone, 1))  # every subscriber, once
        assert len(await procs.leaders()) == 1
        await procs.stop()
