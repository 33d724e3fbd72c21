"""Shared by the webhook benchmarks: a real server on loopback, a paced sender of webhook posts, and the
exactly-once accounting. Each benchmark supplies how to build one signed post for one update."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
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

# (user id, update, question) → (url path, body, headers, the idempotency key the channel will report)
MakePost = Callable[[str, str, str], tuple[str, bytes, dict[str, str], str]]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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

        async def timed(incoming: Incoming) -> list[Outgoing]:
            replies = list(await original(incoming))
            if replies and incoming.update_key:
                self.handled[incoming.update_key] += 1
                self.finished[incoming.update_key] = time.perf_counter()
            return replies

        inbox.receive = timed

    async def settle(self) -> None:
        for service in self.server.services:
            join = getattr(service, "join", None)
            if join is not None:
                await join(120)

    async def run(self, make_post: MakePost, updates: int, residents: int, rates: list[float]) -> None:
        per_phase = max(1, updates // len(rates))
        unique: list[str] = []
        keys_seen: dict[str, str] = {}
        counter = 0
        print(f"{'target/s':>9} {'sent':>6} {'got/s':>7} {'http p50':>9} {'http p99':>9} {'e2e p50':>8} "
              f"{'e2e p99':>8} {'done/s':>7} {'errors':>6}")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
            for rate in rates:
                started: dict[str, float] = {}
                latency: list[float] = []
                errors = [0]
                tasks = []
                phase_start = time.perf_counter()
                for i in range(per_phase):
                    delay = phase_start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if unique and random.random() < DUPLICATE_SHARE:
                        key = random.choice(unique[-200:])  # a redelivery of a recent update
                        user = key.split("-")[0]
                    else:
                        counter += 1
                        user = f"{1_000_000 + counter % residents}"
                        key = f"{user}-{counter}"
                        unique.append(key)
                    path, body, headers, update_key = make_post(user, key, random.choice(QUESTIONS))
                    keys_seen[key] = update_key
                    tasks.append(asyncio.create_task(
                        _post(http, self.base + path, body, headers, update_key, started, latency, errors)))
                await asyncio.gather(*tasks)
                sent_elapsed = time.perf_counter() - phase_start
                await self.settle()
                done_elapsed = max((self.finished[k] for k in started if k in self.finished), default=phase_start)
                e2e = [self.finished[k] - started[k] for k in started if self.finished.get(k, 0) >= started[k]]
                print(f"{rate:9.0f} {len(tasks):6d} {len(tasks) / sent_elapsed:7.0f} "
                      f"{percentile(latency, 0.5) * 1000:7.1f}ms {percentile(latency, 0.99) * 1000:7.1f}ms "
                      f"{percentile(e2e, 0.5) * 1000:6.1f}ms {percentile(e2e, 0.99) * 1000:6.1f}ms "
                      f"{len(tasks) / max(done_elapsed - phase_start, 1e-9):7.0f} {errors[0]:6d}")
        async with self.runtime.sessions() as session:
            keys = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
            inbound = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        twice = sum(1 for count in self.handled.values() if count > 1)
        missing = len({keys_seen[k] for k in unique} - set(self.handled))
        print(f"exactly once: {len(unique)} unique updates, {len(self.handled) - twice} handled once, {twice} twice, "
              f"{missing} never; {keys} idempotency keys and {inbound} inbound messages stored")

    async def stop(self) -> None:
        await self.server.stop()


async def _post(http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], key: str,
                started: dict[str, float], latency: list[float], errors: list[int]) -> None:
    t0 = time.perf_counter()
    started.setdefault(key, t0)
    try:
        async with http.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                errors[0] += 1
    except aiohttp.ClientError:
        errors[0] += 1
    latency.append(time.perf_counter() - t0)
