"""The floor under `webhook_bench.py`: the same Telegram webhook posts, the same load process and fake Bot API, but
a server that does the least any webhook bot must: check the secret token, parse the JSON, drop a redelivery (a
set in memory), answer 200, and post one reply to the Bot API through one aiohttp client. No python-telegram-bot,
no database, no matching.

What this reaches on a machine is the most that any aiohttp-based implementation could reach there, so it tells
whether a throughput goal is a question of our code or of the machine.

    python bench/floor_bench.py                        # 8,000 updates, rates 250..2000/s
    python bench/floor_bench.py --rates 500,1000
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import random
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._driver import drive, platform_process
from tests.conftest import free_port
from tests.fakes.telegram_api import Updates

SECRET = "bench-webhook-secret"
REPLY = "Lấy lại mật khẩu VNeID\n1. Mở ứng dụng VNeID, bấm \"Quên mật khẩu\".\n2. Nhập số định danh và số điện thoại."


class Floor:
    """A webhook endpoint that answers every update with one sendMessage, and notes when the reply was accepted."""

    def __init__(self, api_url: str, token: str) -> None:
        self.send_url = f"{api_url}{token}/sendMessage"  # TELEGRAM_API_URL ends in "/bot", as PTB expects
        self.finished: dict[str, float] = {}
        self.seen: set[object] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: aiohttp.ClientSession | None = None

    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), SECRET.encode()):
            return web.Response(status=403)
        update = json.loads(await request.read())
        if update["update_id"] in self.seen:
            return web.Response(status=200)
        self.seen.add(update["update_id"])
        task = asyncio.create_task(self.reply(update))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.Response(status=200)

    async def reply(self, update: dict[str, object]) -> None:
        message = update["message"]
        assert isinstance(message, dict) and self.http is not None
        body = {"chat_id": message["chat"]["id"], "text": REPLY}
        async with self.http.post(self.send_url, json=body) as response:
            await response.read()
        if response.status == 200:
            self.finished[str(update["update_id"])] = time.monotonic()

    async def settle(self) -> None:
        while self.tasks:
            await asyncio.wait(set(self.tasks))


async def main(updates: int, residents: int, rates: list[float]) -> None:
    async with platform_process("telegram") as telegram:
        floor = Floor(telegram["TELEGRAM_API_URL"], telegram["TELEGRAM_BOT_TOKEN"])
        app = web.Application()
        app.router.add_post("/telegram/webhook", floor.webhook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        builder = Updates()
        ids: dict[str, int] = {}

        def make_post(user: str, key: str, question: str) -> tuple[str, bytes, dict[str, str], str]:
            update = builder.text(int(user), question)
            update["update_id"] = ids.setdefault(key, len(ids) + 1)
            return ("/telegram/webhook", json.dumps(update).encode(),
                    {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
                    str(update["update_id"]))

        print(f"Floor (aiohttp only, no bot library, no database): {updates} updates from {residents} chats")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
            floor.http = http
            try:
                await drive(f"http://127.0.0.1:{port}", make_post, updates, residents, rates, floor.finished,
                            floor.settle)
            finally:
                await runner.cleanup()
        print("cpu/upd: this process's CPU time per update offered")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=8_000)
    parser.add_argument("--residents", type=int, default=800)
    parser.add_argument("--rates", default="250,500,1000,2000")
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main(args.updates, args.residents, [float(r) for r in args.rates.split(",")]))
