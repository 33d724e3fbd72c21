"""The inbox alone: deduplicate → identify → match → answer → store → journal, with a sender that answers at once.

No HTTP on either side, so this is the part of an update's cost that is ours rather than the platform library's
or the web server's; `webhook_bench.py` measures the whole way. Residents are created first, then each update
is one question from one of them, handled one after another.

    python bench/pipeline_bench.py               # SQLite in a temporary directory
    python bench/pipeline_bench.py --postgres    # a database created (and dropped) on 127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._driver import QUESTIONS, percentile, temporary_postgres
from bot.channels.base import Delivery, Result
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import migrate
from bot.store.sqlite_inline import checkpointer_for
from handlers.messages import Incoming, Kind, Outgoing


class Instant:
    """A platform that accepts every message at once."""

    channel = "telegram"

    async def send(self, message: Outgoing) -> Delivery:
        return Delivery(Result.SENT, detail="1")


async def main(updates: int, residents: int, postgres: bool) -> None:
    if postgres:
        async with temporary_postgres("troly_pipeline_bench") as url:
            await measure(updates, residents, url)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="troly-bench-"))
        await measure(updates, residents, f"sqlite+aiosqlite:///{workdir / 'bench.db'}")


async def measure(updates: int, residents: int, url: str) -> None:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=url, TROLY_RATE_LIMIT_PER_MINUTE="100000",
                                          TROLY_LOG_LEVEL="ERROR"))
    await migrate.upgrade(runtime.engine)
    pipeline = Pipeline(runtime, {"telegram": Instant()})
    # The services `troly serve` runs beside the inbox: the journal's outcome writer and, on SQLite, the
    # checkpointer (a worker thread; its CPU counts in the figure below, but not on the loop).
    services = [pipeline.delivery_log, *filter(None, [checkpointer_for(runtime.engine)])]
    for service in services:
        await service.start()
    try:
        for user in range(residents):
            await pipeline.receive(Incoming("telegram", str(user), Kind.TEXT, text="xin chào", update_key=f"w{user}"))
        latencies = []
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for n in range(updates):
            started = time.perf_counter()
            await pipeline.receive(Incoming("telegram", str(n % residents), Kind.TEXT, text=random.choice(QUESTIONS),
                                            update_key=f"u{n}"))
            latencies.append(time.perf_counter() - started)
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    finally:
        for service in reversed(services):
            await service.stop()
        await runtime.close()
    print(f"{runtime.engine.dialect.name}: {updates} updates from {residents} residents, one after another")
    print(f"CPU {cpu / updates * 1000:.2f} ms per update; wall {wall / updates * 1000:.2f} ms "
          f"(p50 {percentile(latencies, 0.5) * 1000:.2f} ms, p99 {percentile(latencies, 0.99) * 1000:.2f} ms); "
          f"{updates / wall:.0f} updates/s on one core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=5_000)
    parser.add_argument("--residents", type=int, default=800)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main(args.updates, args.residents, args.postgres))
