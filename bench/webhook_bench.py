"""Telegram webhook updates end to end on one process with SQLite: verify the secret → parse (python-telegram-bot)
→ match → store → reply to a local fake Bot API, at increasing load.

Columns: target and achieved request rate; webhook answer latency (p50, p99); end-to-end latency from the post to
the reply being accepted by the fake API (p50, p99); handling throughput (done/s); HTTP errors. Then the
exactly-once check (2 % of the posts are redeliveries).

    python bench/webhook_bench.py                      # 8,000 updates, 800 chats, rates 100..1000/s
    python bench/webhook_bench.py --updates 2000 --rates 100,200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._driver import Bench, platform_process
from tests.fakes.telegram_api import Updates

SECRET = "bench-webhook-secret"


async def main(updates: int, residents: int, rates: list[float]) -> None:
    async with platform_process("telegram") as telegram:
        bench = await Bench.start(TROLY_PUBLIC_URL="https://bench.invalid", TELEGRAM_WEBHOOK_SECRET=SECRET,
                                  **telegram)
        print(f"Telegram webhook: {updates} updates from {residents} chats, one process, SQLite")
        builder = Updates()
        bot_id = telegram["TELEGRAM_BOT_TOKEN"].partition(":")[0]  # update keys are per bot
        ids: dict[str, int] = {}

        def make_post(user: str, key: str, question: str) -> tuple[str, bytes, dict[str, str], str]:
            update_id = ids.setdefault(key, len(ids) + 1)
            update = builder.text(int(user), question)
            update["update_id"] = update_id
            return ("/telegram/webhook", json.dumps(update).encode(),
                    {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
                    f"{bot_id}:{update_id}")

        try:
            await bench.run(make_post, updates, residents, rates)
        finally:
            await bench.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=8_000)
    parser.add_argument("--residents", type=int, default=800)
    parser.add_argument("--rates", default="100,250,500,1000")
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main(args.updates, args.residents, [float(r) for r in args.rates.split(",")]))
