"""Scale-out: 1, 2 and 3 real `troly serve` processes on one PostgreSQL database, one local fake Bot API.

For each process count, on a fresh database (created and dropped on 127.0.0.1:5432 as user postgres):
(a) a broadcast to N Telegram subscribers with TELEGRAM_BROADCAST_RATE set high (the fake enforces no flood
    limit), so what is measured is what the processes manage together under the shared rate slots;
(b) interactive traffic: Telegram webhook posts spread round-robin over the processes, as fast as `--concurrency`
    open requests allow; replies/s are the replies the fake Bot API accepted per second until they stop coming.

    python bench/scale_bench.py                                   # about 3 minutes
    python bench/scale_bench.py --recipients 5000 --updates 4000 --processes 1,3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench._driver import PG, QUESTIONS, percentile, temporary_postgres
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import campaigns, migrate
from tests.conftest import free_port
from tests.fakes.telegram_api import FakeTelegram

SECRET = "scale-bench-secret"
ADMIN_TOKEN = "scale-bench-admin"
FIRST_SUBSCRIBER = 5_000_000
FIRST_RESIDENT = 1_000_000
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Figures:
    processes: int
    broadcast_rate: float
    broadcast_sent: int
    updates_per_s: float
    replies_per_s: float
    replies: int
    http_p50_ms: float
    http_p99_ms: float
    errors: int


async def _prepare(url: str, recipients: int) -> None:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=url))
    try:
        await migrate.upgrade(runtime.engine)
        area = runtime.settings.areas[0]
        rows = [campaigns.SubscriberRow(i + 2, "telegram", str(FIRST_SUBSCRIBER + i), area) for i in range(recipients)]
        async with runtime.sessions() as session, session.begin():
            await campaigns.import_subscribers(session, rows, datetime.now(UTC))
    finally:
        await runtime.close()


async def _healthy(base: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"troly serve exited early with {process.returncode}")
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not become healthy")


async def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    # Poll, never block: the fake Bot API the processes talk to runs in this event loop.
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _until_quiet(count: Callable[[], int], target: int, timeout: float, quiet: float = 1.0) -> float:
    """Wait until `count()` reaches `target` or stops growing for `quiet` seconds; returns when it last grew."""
    deadline = time.perf_counter() + timeout
    last, last_change = count(), time.perf_counter()
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
        now_count = count()
        if now_count != last:
            last, last_change = now_count, time.perf_counter()
        if now_count >= target or time.perf_counter() - last_change > quiet:
            break
    return last_change


async def _interactive(telegram: FakeTelegram, bases: list[str], updates: int, residents: int,
                       concurrency: int) -> tuple[float, float, int, list[float], int]:
    def replies() -> int:
        return sum(1 for m in telegram.sent() if int(m["chat_id"]) < FIRST_SUBSCRIBER)

    before = replies()
    latency: list[float] = []
    errors = [0]
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    update_ids = itertools.count(1)
    for i in range(updates):
        update = telegram.updates.text(FIRST_RESIDENT + i % residents, random.choice(QUESTIONS))
        update["update_id"] = next(update_ids)
        queue.put_nowait((bases[i % len(bases)] + "/telegram/webhook", json.dumps(update).encode()))
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            url, body = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors[0] += 1
            except aiohttp.ClientError:
                errors[0] += 1
            latency.append(time.perf_counter() - t0)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    posted = time.perf_counter() - started
    finished = await _until_quiet(replies, before + updates, timeout=120, quiet=2.0)
    got = replies() - before
    return updates / posted, got / max(finished - started, 1e-9), got, latency, errors[0]


async def one_configuration(telegram: FakeTelegram, count: int, recipients: int, rate: float, updates: int,
                            residents: int, concurrency: int, workdir: Path) -> Figures:
    async with temporary_postgres("troly_scale") as url:
        return await _measure(telegram, url, count, recipients, rate, updates, residents, concurrency, workdir)


async def _measure(telegram: FakeTelegram, url: str, count: int, recipients: int, rate: float, updates: int,
                   residents: int, concurrency: int, workdir: Path) -> Figures:
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await _prepare(url, recipients)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TROLY_", "TELEGRAM_", "ZALO_"))}
        env.update(PYTHONPATH=str(REPO), TROLY_DATABASE_URL=url, TROLY_ADMIN_TOKEN=ADMIN_TOKEN,
                   TELEGRAM_BROADCAST_RATE=str(rate), TROLY_LOG_LEVEL="ERROR",
                   TROLY_RATE_LIMIT_PER_MINUTE="100000", TROLY_PUBLIC_URL="https://bench.invalid",
                   TELEGRAM_WEBHOOK_SECRET=SECRET, **telegram.env())
        bases = []
        for n in range(count):
            port = free_port()
            log = (workdir / f"{url.rsplit('/', 1)[1]}-{n}.log").open("wb")
            processes.append(subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=workdir, stdout=log,
                                              stderr=subprocess.STDOUT, env={**env, "TROLY_HTTP_PORT": str(port)}))
            bases.append(f"http://127.0.0.1:{port}")
            # The first one up leads the scheduler: the campaign is created through it so it fires at once.
            await _healthy(bases[-1], processes[-1])

        def broadcast_sent() -> int:
            return sum(1 for m in telegram.sent() if int(m["chat_id"]) >= FIRST_SUBSCRIBER)

        async with aiohttp.ClientSession() as http, http.post(
            bases[0] + "/api/campaigns", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={"title": "Ngày hội VNeID", "text": "Sáng thứ Bảy tại nhà văn hoá, mang theo CCCD gắn chip."},
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"campaign not created: {response.status} {await response.text()}")
        first_call = len(telegram.calls)
        await _until_quiet(broadcast_sent, recipients, timeout=recipients / 20 + 30, quiet=5.0)
        times = [c.at for c in telegram.calls[first_call:]
                 if c.method == "sendMessage" and int(c.params.get("chat_id", 0)) >= FIRST_SUBSCRIBER]
        sent = broadcast_sent()
        broadcast_rate = (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else 0.0

        ups, rps, got, latency, errors = await _interactive(telegram, bases, updates, residents, concurrency)
        return Figures(count, broadcast_rate, sent, ups, rps, got, percentile(latency, 0.5) * 1000,
                       percentile(latency, 0.99) * 1000, errors)
    finally:
        await _stop(processes)


async def main(counts: list[int], recipients: int, rate: float, updates: int, residents: int,
               concurrency: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="troly-scale-"))
    print(f"PostgreSQL {PG['host']}:{PG['port']}; broadcast: {recipients} recipients, "
          f"TELEGRAM_BROADCAST_RATE={rate:g}; interactive: {updates} Telegram webhook updates from {residents} "
          f"chats, {concurrency} open requests, round-robin; logs in {workdir}")
    rows = []
    for count in counts:
        async with FakeTelegram.run() as telegram:  # a fresh one: its counts are this configuration's
            figures = await one_configuration(telegram, count, recipients, rate, updates, residents, concurrency,
                                              workdir)
        rows.append(figures)
        print(f"  {count} process(es) done", flush=True)
    print(f"{'procs':>5} {'bcast/s':>8} {'bcast sent':>10} {'posts/s':>8} {'replies/s':>9} {'replies':>8} "
          f"{'http p50':>9} {'http p99':>9} {'errors':>6}")
    for f in rows:
        print(f"{f.processes:5d} {f.broadcast_rate:8.1f} {f.broadcast_sent:10d} {f.updates_per_s:8.1f} "
              f"{f.replies_per_s:9.1f} {f.replies:8d} {f.http_p50_ms:7.1f}ms {f.http_p99_ms:7.1f}ms {f.errors:6d}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=1000.0, help="TELEGRAM_BROADCAST_RATE (at most 1000)")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main([int(n) for n in args.processes.split(",")], args.recipients, args.rate, args.updates,
                     args.residents, args.concurrency))
