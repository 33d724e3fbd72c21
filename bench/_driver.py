"""Shared by the webhook benchmarks: a real server in this process, and in two child processes the paced sender
of webhook posts and the fake platform API, so that what this process spends is the server's work alone (its CPU
time per update is reported). Each benchmark supplies how to build one signed post for one update.

Start times (in the load process) and finish times (here) are both `time.monotonic()`, one clock for the whole
machine on Linux, so end-to-end latency can be taken across the processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import func, select

from bot.assembly import assemble
from bot.runtime import Runtime
from bot.server import Server
from bot.settings import load_settings
from bot.store import migrate
from bot.store.models import Message, ProcessedUpdate
from handlers.messages import Incoming, Outgoing
from tests.conftest import free_port

QUESTIONS = [
    "quên mật khẩu vneid phải làm sao", "dang ky tam tru online the nao", "lam the nao de kich hoat vneid",
    "mở tài khoản ngân hàng online cần gì", "chuyen nham tien thi lay lai sao", "đổi thẻ căn cước mất bao nhiêu tiền",
    "xin chào", "tra cuu ho so dich vu cong o dau", "cach nop phat nguoi online", "vneid bao loi dang nhap",
    "ai goi xung cong an bao cai app", "lam khai sinh cho con tren dien thoai", "menu",
]
DUPLICATE_SHARE = 0.02
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}

# (user id, update, question) → (url path, body, headers, the idempotency key the channel will report)
MakePost = Callable[[str, str, str], tuple[str, bytes, dict[str, str], str]]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# One post: (url path, body, headers, the idempotency key the channel will report)
Post = tuple[str, bytes, dict[str, str], str]


@dataclass
class Bench:
    """A server with the channels the settings enable, whose inbox is timed per update."""

    server: Server
    runtime: Runtime
    base: str
    handled: Counter[str] = field(default_factory=Counter)
    finished: dict[str, float] = field(default_factory=dict)

    @classmethod
    async def start(cls, **settings: str) -> Bench:
        workdir = Path(tempfile.mkdtemp(prefix="troly-bench-"))
        port = free_port()
        runtime = Runtime.build(load_settings(
            TROLY_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}", TROLY_HTTP_PORT=str(port),
            TROLY_RATE_LIMIT_PER_MINUTE="100000", TROLY_LOG_LEVEL="ERROR", **settings,
        ))
        await migrate.upgrade(runtime.engine)
        services, mounts = assemble(runtime)
        bench = cls(Server(runtime, services, mounts), runtime, f"http://127.0.0.1:{port}")
        for service in services:
            inbox = getattr(service, "inbox", None)
            if inbox is not None:
                bench._time(inbox)
        await bench.server.start()
        return bench

    def _time(self, inbox: Any) -> None:
        original = inbox.receive

        async def timed(incoming: Incoming, kept: asyncio.Future[None] | None = None) -> list[Outgoing]:
            replies = list(await original(incoming, kept))
            if replies and incoming.update_key:
                self.handled[incoming.update_key] += 1
                self.finished[incoming.update_key] = time.monotonic()
            return replies

        inbox.receive = timed

    async def settle(self) -> None:
        for service in self.server.services:
            join = getattr(service, "join", None)
            if join is not None:
                await join(120)

    async def run(self, make_post: MakePost, updates: int, residents: int, rates: list[float]) -> None:
        unique, keys_seen = await drive(self.base, make_post, updates, residents, rates, self.finished, self.settle)
        async with self.runtime.sessions() as session:
            keys = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
            inbound = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        twice = sum(1 for count in self.handled.values() if count > 1)
        missing = len({keys_seen[k] for k in unique} - set(self.handled))
        print(f"exactly once: {len(unique)} unique updates, {len(self.handled) - twice} handled once, {twice} twice, "
              f"{missing} never; {keys} idempotency keys and {inbound} inbound messages stored")
        print("cpu/upd: this process's CPU time (all its threads) per update offered, from the first post to the "
              "last reply; the load and the fake platform run in other processes")

    async def stop(self) -> None:
        await self.server.stop()


@asynccontextmanager
async def temporary_postgres(prefix: str) -> AsyncIterator[str]:
    """A fresh database on the local PostgreSQL (127.0.0.1:5432, user postgres), dropped afterwards: a
    benchmark never writes into a database it did not create. Yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(database="postgres", **PG)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def drive(base: str, make_post: MakePost, updates: int, residents: int, rates: list[float],
                finished: dict[str, float], settle: Callable[[], Awaitable[None]]) -> tuple[list[str], dict[str, str]]:
    """Post `updates` webhooks to `base`, split evenly over `rates`, and print one row per rate.

    `finished` is filled by the server under test (idempotency key → when its reply was accepted); `settle` waits
    until it has handled what it accepted. Returns the unique update keys and each one's idempotency key."""
    per_phase = max(1, updates // len(rates))
    unique: list[str] = []
    keys_seen: dict[str, str] = {}
    counter = 0
    print(f"{'target/s':>9} {'sent':>6} {'got/s':>7} {'http p50':>9} {'http p99':>9} {'e2e p50':>8} "
          f"{'e2e p99':>8} {'done/s':>7} {'errors':>6} {'cpu/upd':>8}")
    async with _LoadProcess.start(base) as load:
        for rate in rates:
            posts: list[Post] = []
            for _ in range(per_phase):
                if unique and random.random() < DUPLICATE_SHARE:
                    key = random.choice(unique[-200:])  # a redelivery of a recent update
                    user = key.split("-")[0]
                else:
                    counter += 1
                    user = f"{1_000_000 + counter % residents}"
                    key = f"{user}-{counter}"
                    unique.append(key)
                post = make_post(user, key, random.choice(QUESTIONS))
                keys_seen[key] = post[3]
                posts.append(post)
            cpu_before = time.process_time()
            phase = await load.phase(rate, posts)
            await settle()
            cpu = time.process_time() - cpu_before
            started, latency = phase["started"], phase["latency"]
            done_at = max((finished[k] for k in started if k in finished), default=phase["t0"])
            e2e = [finished[k] - started[k] for k in started if finished.get(k, 0) >= started[k]]
            print(f"{rate:9.0f} {len(posts):6d} {len(posts) / phase['elapsed']:7.0f} "
                  f"{percentile(latency, 0.5) * 1000:7.1f}ms {percentile(latency, 0.99) * 1000:7.1f}ms "
                  f"{percentile(e2e, 0.5) * 1000:6.1f}ms {percentile(e2e, 0.99) * 1000:6.1f}ms "
                  f"{len(posts) / max(done_at - phase['t0'], 1e-9):7.0f} {phase['errors']:6d} "
                  f"{cpu / len(posts) * 1000:6.2f}ms")
    return unique, keys_seen


# ---- the child processes ---------------------------------------------------------------------------------------

_SPAWN = multiprocessing.get_context("spawn")


async def _receive(connection: Connection) -> Any:
    """Wait for the child's answer without blocking this loop (the server lives in it)."""
    return await asyncio.get_running_loop().run_in_executor(None, connection.recv)


@dataclass
class _LoadProcess:
    connection: Connection

    @classmethod
    @asynccontextmanager
    async def start(cls, base: str) -> AsyncIterator[_LoadProcess]:
        ours, theirs = _SPAWN.Pipe()
        process = _SPAWN.Process(target=_load_main, args=(theirs, base), daemon=True)
        process.start()
        try:
            yield cls(ours)
        finally:
            ours.send(None)
            process.join(10)

    async def phase(self, rate: float, posts: list[Post]) -> dict[str, Any]:
        self.connection.send((rate, posts))
        return dict(await _receive(self.connection))


def _load_main(connection: Connection, base: str) -> None:
    asyncio.run(_load_loop(connection, base))


async def _load_loop(connection: Connection, base: str) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
        while (work := connection.recv()) is not None:
            rate, posts = work
            started: dict[str, float] = {}
            latency: list[float] = []
            errors = [0]
            tasks = []
            t0 = time.monotonic()
            for i, (path, body, headers, key) in enumerate(posts):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(
                    _post(http, base + path, body, headers, key, started, latency, errors)))
            await asyncio.gather(*tasks)
            connection.send({"started": started, "latency": latency, "errors": errors[0], "t0": t0,
                             "elapsed": time.monotonic() - t0})


async def _post(http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], key: str,
                started: dict[str, float], latency: list[float], errors: list[int]) -> None:
    t0 = time.monotonic()
    started.setdefault(key, t0)
    try:
        async with http.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                errors[0] += 1
    except aiohttp.ClientError:
        errors[0] += 1
    latency.append(time.monotonic() - t0)


@asynccontextmanager
async def platform_process(kind: str) -> AsyncIterator[dict[str, str]]:
    """A fake platform API ("telegram" or "zalo") in a child process. Yields what a process needs to talk to it
    (its settings, and for Zalo the secret to sign webhooks with); after the block, prints how many messages it
    accepted."""
    ours, theirs = _SPAWN.Pipe()
    process = _SPAWN.Process(target=_platform_main, args=(theirs, kind), daemon=True)
    process.start()
    try:
        yield dict(await _receive(ours))
    finally:
        ours.send(None)
        print(f"replies accepted by the fake {kind} API: {await _receive(ours)}")
        process.join(10)


def _platform_main(connection: Connection, kind: str) -> None:
    asyncio.run(_platform_loop(connection, kind))


async def _platform_loop(connection: Connection, kind: str) -> None:
    from tests.fakes.telegram_api import FakeTelegram
    from tests.fakes.zalo_api import FakeZalo

    if kind == "telegram":
        async with FakeTelegram.run() as telegram:
            connection.send(telegram.env())
            await _receive(connection)
            connection.send(len(telegram.sent()))
    else:
        async with FakeZalo.running() as zalo:
            connection.send({**zalo.env(), "oa_secret_key": zalo.oa_secret_key})
            await _receive(connection)
            connection.send(len(zalo.sends))
