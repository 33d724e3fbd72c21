"""A broadcast to many Telegram subscribers through the outbox, against a local fake Bot API that enforces the
flood limits (more than the allowed messages in a second, or two to one chat within a second → 429).

Prints: time to enqueue (firing the run writes one outbox row per recipient), sustained send rate as a fraction
of TELEGRAM_BROADCAST_RATE, the 429s met, duplicates (a chat that received the broadcast twice) and silent losses
(a recipient neither sent nor reported as uncertain/failed). With --kill, the sender runs in a child process that
gets SIGKILL part-way through; a second child resumes.

    python bench/broadcast_bench.py                               # 10,000 recipients at 25/s (about 7 minutes)
    python bench/broadcast_bench.py --recipients 2000 --rate 100 --kill
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bot.outbox.sender import OutboxSender
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import campaigns, migrate
from bot.store.campaigns import CampaignSpec, SubscriberRow
from bot.store.models import OutboxMessage
from tests.fakes.telegram_api import FakeTelegram

FIRST_CHAT = 5_000_000


def settings_for(db: Path, telegram_env: dict[str, str], rate: float) -> dict[str, str]:
    return {"TROLY_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "TELEGRAM_BROADCAST_RATE": str(rate),
            "TROLY_LOG_LEVEL": "ERROR", **telegram_env}


async def prepare(env: dict[str, str], recipients: int) -> tuple[float, int]:
    runtime = Runtime.build(load_settings(**env))
    await migrate.upgrade(runtime.engine)
    now = datetime.now(UTC)
    rows = [SubscriberRow(i, "telegram", str(FIRST_CHAT + i), runtime.settings.areas[0]) for i in range(recipients)]
    async with runtime.sessions() as session, session.begin():
        await campaigns.import_subscribers(session, rows, now)
        campaign = await campaigns.create_campaign(
            session, CampaignSpec(title="Ngày hội VNeID", text="Sáng thứ Bảy tại nhà văn hoá.", author="bench"),
            now, runtime.settings.timezone)
    started = time.perf_counter()
    async with runtime.sessions() as session, session.begin():
        campaign = await campaigns.get_campaign(session, campaign.id)  # type: ignore[assignment]
        await campaigns.fire_run(session, campaign, now, now, runtime.settings.commune_name)
    enqueue = time.perf_counter() - started
    await runtime.close()
    return enqueue, campaign.id


async def send_all(env: dict[str, str]) -> None:
    """Drain the outbox with the real sender and the real Telegram channel (what `troly serve` runs)."""
    from bot.channels.telegram import TelegramChannel
    from bot.pipeline import Pipeline

    runtime = Runtime.build(load_settings(**env))
    pipeline = Pipeline(runtime)
    channel = TelegramChannel(runtime.settings, pipeline, runtime.metrics)
    await channel.start()
    sender = OutboxSender(runtime, {"telegram": channel}, rate=runtime.settings.telegram_broadcast_rate)
    await sender.recover()
    try:
        await sender.drain()
    finally:
        await channel.stop()
        await runtime.close()


async def statuses(env: dict[str, str]) -> Counter[str]:
    runtime = Runtime.build(load_settings(**env))
    async with runtime.sessions() as session:
        rows = (await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()
    await runtime.close()
    return Counter({status: count for status, count in rows})


async def main(recipients: int, rate: float, kill: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="troly-broadcast-"))
    async with FakeTelegram.run(flood_limit=30, chat_interval=1.0) as telegram:
        env = settings_for(workdir / "b.db", telegram.env(), rate)
        enqueue, _ = await prepare(env, recipients)
        print(f"{recipients} recipients, TELEGRAM_BROADCAST_RATE={rate:g}/s, fake API limit 30/s and 1/s per chat")
        print(f"enqueue (one outbox row per recipient, one transaction): {enqueue:.2f} s")
        started = time.perf_counter()
        if kill:
            child_env = {**os.environ, "BENCH_CHILD_ENV": json.dumps(env)}
            first = await asyncio.create_subprocess_exec(sys.executable, __file__, "--child", env=child_env)
            await asyncio.sleep(max(2.0, recipients / rate / 2))
            first.send_signal(signal.SIGKILL)
            await first.wait()
            killed_at = len(telegram.sent())
            print(f"kill -9 after {killed_at} messages; restarting")
            second = await asyncio.create_subprocess_exec(sys.executable, __file__, "--child", env=child_env)
            await second.wait()
        else:
            await send_all(env)
        elapsed = time.perf_counter() - started
        received = Counter(int(m["chat_id"]) for m in telegram.sent())
        outcome = await statuses(env)
        duplicates = sum(1 for count in received.values() if count > 1)
        accounted = outcome["sent"] + outcome["uncertain"] + outcome["failed"] + outcome["blocked"]
        losses = recipients - accounted
        sent_rate = len(telegram.sent()) / elapsed
        print(f"sent {len(telegram.sent())} in {elapsed:.1f} s: {sent_rate:.1f}/s = {sent_rate / rate:.3f} of the "
              f"configured rate; 429s met: {telegram.flood_refusals}")
        print(f"outcomes: {dict(outcome)}")
        print(f"duplicates: {duplicates}; silent losses: {losses}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        asyncio.run(send_all(json.loads(os.environ["BENCH_CHILD_ENV"])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--kill", action="store_true", help="kill -9 the sender half-way and restart it")
    args = parser.parse_args()
    asyncio.run(main(args.recipients, args.rate, args.kill))
