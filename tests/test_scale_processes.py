"""Three real `troly serve` processes on one PostgreSQL database and one fake Bot API: a broadcast survives
kill -9 of one of them with no duplicate, no silent loss, and the platform never sees more than the shared rate."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import func, select, text

from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import campaigns, migrate
from bot.store.models import OutboxMessage, OutboxWorker
from tests.conftest import free_port
from tests.fakes.telegram_api import FakeTelegram

TROLY = [sys.executable, "-m", "bot", "serve"]
RECIPIENTS = 1_000
RATE = 100.0
FIRST_CHAT = 7_000_000
ADMIN_TOKEN = "ma-quan-tri-thu-nghiem"
REPO = Path(__file__).resolve().parent.parent


def max_in_window(times: list[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TROLY_", "TELEGRAM_", "ZALO_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


async def _healthy(base: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"troly serve exited early with {process.returncode}"
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} did not become healthy within {seconds}s")


async def _exited(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    """Wait without blocking the loop: the fake Bot API the process is talking to lives in it."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return process.poll()


async def _prepare(url: str) -> None:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=url))
    try:
        await migrate.upgrade(runtime.engine)
        area = runtime.settings.areas[0]
        rows = [campaigns.SubscriberRow(i + 2, "telegram", str(FIRST_CHAT + i), area) for i in range(RECIPIENTS)]
        async with runtime.sessions() as session, session.begin():
            await campaigns.import_subscribers(session, rows, datetime.now(UTC))
    finally:
        await runtime.close()


async def test_three_serve_processes_broadcast_once_each_within_the_shared_rate_despite_kill_9(
    postgres_url: str, tmp_path: Path,
) -> None:
    await _prepare(postgres_url)
    # The test's own view of the database (the processes have theirs).
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=postgres_url))
    processes: list[subprocess.Popen[bytes]] = []
    async with FakeTelegram.run(flood_limit=RATE * 1.1, chat_interval=1.0) as telegram:
        try:
            ports = [free_port() for _ in range(3)]
            for n, port in enumerate(ports):
                log = (tmp_path / f"serve{n}.log").open("wb")
                processes.append(subprocess.Popen(
                    TROLY, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                    env=_env(TROLY_DATABASE_URL=postgres_url, TROLY_HTTP_PORT=str(port),
                             TROLY_ADMIN_TOKEN=ADMIN_TOKEN, TELEGRAM_BROADCAST_RATE=str(RATE),
                             TROLY_LOG_LEVEL="WARNING", **telegram.env()),
                ))
                # The first one up holds the scheduler lock: the campaign is created through it so it fires at once.
                await _healthy(f"http://127.0.0.1:{port}", processes[-1])
            async with runtime.sessions() as session:
                workers = list((await session.scalars(
                    select(OutboxWorker.id).order_by(OutboxWorker.started_at))).all())
            assert len(workers) == 3
            doomed_worker = workers[1]

            async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{ports[0]}/api/campaigns", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                json={"title": "Ngày hội VNeID", "text": "Sáng thứ Bảy tại nhà văn hoá, mang theo CCCD."},
            ) as response:
                assert response.status == 201, await response.text()

            deadline = time.monotonic() + 20
            while len(telegram.sent()) < RECIPIENTS * 0.3:
                assert time.monotonic() < deadline, f"only {len(telegram.sent())} sent after 20 s"
                await asyncio.sleep(0.05)
            processes[1].send_signal(signal.SIGKILL)
            assert await _exited(processes[1], 5) == -signal.SIGKILL
            # What 60 s without a heartbeat would do (the lease), without spending the minute: the survivors
            # take over its claimed rows at their next batch and mark its in-flight row uncertain at their
            # next beat (within 15 s).
            async with runtime.sessions() as session, session.begin():
                await session.execute(
                    text("UPDATE outbox_workers SET heartbeat_at = heartbeat_at - interval '1 hour' WHERE id = :id"),
                    {"id": doomed_worker},
                )

            deadline = time.monotonic() + 40
            while True:
                async with runtime.sessions() as session:
                    open_rows = await session.scalar(select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.status.in_(("pending", "sending"))))
                if open_rows == 0:
                    break
                assert time.monotonic() < deadline, f"{open_rows} rows still open 40 s after the kill"
                await asyncio.sleep(0.25)

            received = Counter(int(m["chat_id"]) for m in telegram.sent())
            async with runtime.sessions() as session:
                rows = (await session.execute(
                    select(OutboxMessage.recipient, OutboxMessage.status, OutboxMessage.claimed_by))).all()
            statuses = Counter(status for _, status, _ in rows)
            uncertain = {int(recipient) for recipient, status, _ in rows if status == "uncertain"}
            everyone = set(range(FIRST_CHAT, FIRST_CHAT + RECIPIENTS))

            assert len(rows) == RECIPIENTS
            assert [chat for chat, count in received.items() if count > 1] == []  # nobody twice
            assert everyone - set(received) - uncertain == set()  # no silent loss
            assert set(received) <= everyone
            assert set(statuses) <= {"sent", "uncertain"}, statuses
            assert statuses["uncertain"] <= 5  # at most the doomed process's message in flight
            by_worker = Counter(worker for _, status, worker in rows if status == "sent")
            assert by_worker[doomed_worker] > 0 and len(by_worker) == 3  # all three took part
            attempts = [call.at for call in telegram.calls_to("sendMessage")]
            assert max_in_window(attempts) <= RATE * 1.1

            for process in (processes[0], processes[2]):
                process.send_signal(signal.SIGTERM)
            for process in (processes[0], processes[2]):
                assert await _exited(process, 15) == 0
            for n in (0, 2):
                assert "Traceback" not in (tmp_path / f"serve{n}.log").read_text()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            await runtime.close()
