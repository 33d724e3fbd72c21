"""Load on loopback: signed Zalo webhooks from many simulated residents at rising rates, through the real server
(webhook → verify → parse → match → store → reply to a local fake Zalo API) on one process with SQLite.

Prints, per rate: requests/s achieved, webhook answer latency (p50, p99), end-to-end handling latency (p50, p99),
errors, and the exactly-once check (every unique msg_id handled once, every redelivery ignored).

    python bench/load_bench.py                       # 20,000 updates from 2,000 residents, rates 250..2000/s
    python bench/load_bench.py --updates 4000 --residents 400 --rates 200,400
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.assembly import assemble
from bot.channels.zalo import ZaloChannel
from bot.runtime import Runtime
from bot.server import Server
from bot.settings import load_settings
from bot.store import migrate
from bot.store.models import Message, ProcessedUpdate
from handlers.messages import Incoming, Outgoing
from tests.conftest import free_port
from tests.fakes.zalo_api import FakeZalo, signed_webhook, user_event

QUESTIONS = [
    "quên mật khẩu vneid phải làm sao", "dang ky tam tru online the nao", "lam the nao de kich hoat vneid",
    "mở tài khoản ngân hàng online cần gì", "chuyen nham tien thi lay lai sao", "đổi thẻ căn cước mất bao nhiêu tiền",
    "xin chào", "tra cuu ho so dich vu cong o dau", "cach nop phat nguoi online", "vneid bao loi dang nhap",
    "ai goi xung cong an bao cai app", "lam khai sinh cho con tren dien thoai", "menu", "gặp người hỗ trợ",
]
DUPLICATE_SHARE = 0.02


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(updates: int, residents: int, rates: list[float]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="troly-load-"))
    async with FakeZalo.running() as zalo:
        port = free_port()
        settings = load_settings(
            TROLY_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'load.db'}", TROLY_HTTP_PORT=str(port),
            TROLY_RATE_LIMIT_PER_MINUTE="1000", TROLY_LOG_LEVEL="ERROR", **zalo.env(),
        )
        runtime = Runtime.build(settings)
        await migrate.upgrade(runtime.engine)
        services, mounts = assemble(runtime)
        channel = next(s for s in services if isinstance(s, ZaloChannel))
        handled: Counter[str] = Counter()
        finished: dict[str, float] = {}
        inbox = channel.inbox
        original = inbox.receive

        async def timed_receive(incoming: Incoming) -> list[Outgoing]:
            replies = list(await original(incoming))
            if replies and incoming.update_key:
                handled[incoming.update_key] += 1
                finished[incoming.update_key] = time.perf_counter()
            return replies

        inbox.receive = timed_receive  # type: ignore[method-assign]
        server = Server(runtime, services, mounts)
        await server.start()
        url = f"http://127.0.0.1:{port}/zalo/webhook"
        per_phase = max(1, updates // len(rates))
        unique: set[str] = set()
        print(f"{updates} updates from {residents} residents, one process, SQLite ({workdir})")
        print(f"{'target/s':>9} {'sent':>6} {'got/s':>7} {'http p50':>9} {'http p99':>9} {'e2e p50':>8} "
              f"{'e2e p99':>8} {'errors':>6}")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
            counter = 0
            for rate in rates:
                started: dict[str, float] = {}
                http_latency: list[float] = []
                errors = 0
                tasks = []
                phase_start = time.perf_counter()

                async def post(body: bytes, headers: dict[str, str], key: str, started: dict[str, float],
                               http_latency: list[float]) -> None:
                    nonlocal errors
                    t0 = time.perf_counter()
                    started.setdefault(key, t0)
                    try:
                        async with http.post(url, data=body, headers=headers) as response:
                            await response.read()
                            if response.status != 200:
                                errors += 1
                    except aiohttp.ClientError:
                        errors += 1
                    http_latency.append(time.perf_counter() - t0)

                for i in range(per_phase):
                    target = phase_start + i / rate
                    delay = target - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if unique and random.random() < DUPLICATE_SHARE:
                        key = random.choice(sorted(unique)[-200:])  # a redelivery of a recent update
                        user = key.split("-")[0]
                    else:
                        counter += 1
                        user = f"u{counter % residents}"
                        key = f"{user}-m{counter}"
                        unique.add(key)
                    event = user_event("user_send_text", user, key, text=random.choice(QUESTIONS),
                                       app_id=zalo.app_id)
                    body, headers = signed_webhook(event, zalo.app_id, zalo.oa_secret_key)
                    tasks.append(asyncio.create_task(post(body, headers, key, started, http_latency)))
                await asyncio.gather(*tasks)
                sent_elapsed = time.perf_counter() - phase_start
                await channel.join(timeout=120)
                e2e = [finished[k] - started[k] for k in started if k in finished and finished[k] >= started[k]]
                print(f"{rate:9.0f} {len(tasks):6d} {len(tasks) / sent_elapsed:7.0f} "
                      f"{pct(http_latency, 0.5) * 1000:8.1f}ms {pct(http_latency, 0.99) * 1000:8.1f}ms "
                      f"{pct(e2e, 0.5) * 1000:7.1f}ms {pct(e2e, 0.99) * 1000:7.1f}ms {errors:6d}")
        async with runtime.sessions() as session:
            keys = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
            inbound = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        twice = sum(1 for count in handled.values() if count > 1)
        missing = len(unique - set(handled))
        print(f"unique updates {len(unique)}; handled once {len(handled) - twice}; handled twice {twice}; "
              f"never handled {missing}; idempotency keys stored {keys}; inbound messages stored {inbound}; "
              f"replies at the fake {len(zalo.sends)}")
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--residents", type=int, default=2_000)
    parser.add_argument("--rates", default="250,500,1000,2000")
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(run(args.updates, args.residents, [float(r) for r in args.rates.split(",")]))


if __name__ == "__main__":
    main()
