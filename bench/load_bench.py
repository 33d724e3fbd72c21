"""Load on loopback: signed Zalo webhooks from many simulated residents at rising rates, through the real server
(verify the signature → parse → match → store → reply to a local fake Zalo OA API) on one process with SQLite.

Prints per rate: requests/s achieved, webhook answer latency (p50, p99), end-to-end handling latency (p50, p99),
handling throughput and errors; then the exactly-once check (every unique msg_id handled once, every redelivery
ignored).

    python bench/load_bench.py                       # 20,000 updates from 2,000 residents
    python bench/load_bench.py --updates 4000 --residents 400 --rates 100,200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._driver import Bench, platform_process
from tests.fakes.zalo_api import signed_webhook, user_event


async def main(updates: int, residents: int, rates: list[float]) -> None:
    async with platform_process("zalo") as zalo:
        secret = zalo.pop("oa_secret_key")
        bench = await Bench.start(**zalo)
        print(f"Zalo webhook: {updates} updates from {residents} residents, one process, SQLite")

        def make_post(user: str, key: str, question: str) -> tuple[str, bytes, dict[str, str], str]:
            event = user_event("user_send_text", user, key, text=question, app_id=zalo["ZALO_APP_ID"])
            body, headers = signed_webhook(event, zalo["ZALO_APP_ID"], secret)
            return "/zalo/webhook", body, headers, key

        try:
            await bench.run(make_post, updates, residents, rates)
        finally:
            await bench.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--residents", type=int, default=2_000)
    parser.add_argument("--rates", default="100,200,400,800")
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main(args.updates, args.residents, [float(r) for r in args.rates.split(",")]))
