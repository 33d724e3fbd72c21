"""The floor under `webhook_bench.py`: the same Telegram webhook posts, the same load process and fake Bot API, but
a server that does the least any webhook bot must, in four steps, each adding one part the issue prescribes:

- `aiohttp`: check the secret token, parse the JSON, drop a redelivery (a set in memory), answer 200, and post
  one answer with its 👍/👎 keyboard to the Bot API through one aiohttp client;
- `+ptb`: the update parsed, and the answer sent, by python-telegram-bot (on our `AiohttpRequest` transport);
- `+sqlite`: the idempotency key kept in SQLite (one INSERT and COMMIT through SQLAlchemy on our engine) before
  the 200, as the real pipeline keeps it;
- `+match`: the question matched against the real FAQ, and the matched entry's title answered.

No conversation state, no stored messages, no outbox. What a step reaches on a machine is the most that any
implementation with those parts could reach there, so the steps tell whether a throughput goal is a question of
our code, of the parts, or of the machine.

    python bench/floor_bench.py                        # 4,000 updates a step, rates 500 and 1000/s
    python bench/floor_bench.py --steps aiohttp --rates 500,1000,2000
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot, Update
from telegram.constants import ParseMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._driver import drive, platform_process
from bench.telegram_send_bench import KEYBOARD
from bench.telegram_send_bench import TEXT as REPLY
from bot.channels.telegram_http import AiohttpRequest
from bot.store.engine import create_engine
from bot.store.models import ProcessedUpdate
from faq.content import load_content
from faq.matcher import Matcher
from tests.conftest import free_port
from tests.fakes.telegram_api import Updates

SECRET = "bench-webhook-secret"
STEPS = ("aiohttp", "+ptb", "+sqlite", "+match")


class Floor:
    """A webhook endpoint that answers every update with one sendMessage, and notes when the answer was accepted.
    Which parts it uses is given by the step (see the module's text)."""

    def __init__(self, step: str, api_url: str, token: str, engine: AsyncEngine | None,
                 matcher: Matcher | None, answers: dict[str, str]) -> None:
        level = STEPS.index(step)
        self.ptb = level >= 1
        self.engine = engine if level >= 2 else None
        self.matcher = matcher if level >= 3 else None
        self.answers = answers  # entry id → its title
        self.send_url = f"{api_url}{token}/sendMessage"  # TELEGRAM_API_URL ends in "/bot", as PTB expects
        self.bot = Bot(token, base_url=api_url, request=AiohttpRequest(limit=512, connect_timeout=5.0,
                                                                       read_timeout=10.0))
        self.keyboard = KEYBOARD.to_dict()
        self.finished: dict[str, float] = {}
        self.seen: set[object] = set()
        self.serial = asyncio.Lock()  # SQLite's one connection, taken in turn as the pipeline takes it
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: aiohttp.ClientSession | None = None

    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), SECRET.encode()):
            return web.Response(status=403)
        data = json.loads(await request.read())
        if self.ptb:
            update = Update.de_json(data, self.bot)
            assert update.message is not None
            chat_id, text = update.message.chat.id, update.message.text or ""
        else:
            chat_id, text = data["message"]["chat"]["id"], data["message"].get("text", "")
        if not await self.first_time(data["update_id"]):
            return web.Response(status=200)
        task = asyncio.create_task(self.reply(str(data["update_id"]), chat_id, self.answer(text)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.Response(status=200)

    async def first_time(self, update_id: int) -> bool:
        if self.engine is None:
            fresh = update_id not in self.seen
            self.seen.add(update_id)
            return fresh
        keep = sqlite_insert(ProcessedUpdate).values(channel="telegram", update_key=str(update_id))
        async with self.serial, self.engine.begin() as connection:
            result = await connection.execute(keep.on_conflict_do_nothing())
        return bool(result.rowcount)

    def answer(self, text: str) -> str:
        if self.matcher is None:
            return REPLY
        found = self.matcher.match(text).faq_id
        return self.answers[found] if found is not None else "Bác chờ một chút, có người hỗ trợ ngay ạ."

    async def reply(self, key: str, chat_id: int, text: str) -> None:
        if self.ptb:
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=KEYBOARD)
        else:
            assert self.http is not None
            body = {"chat_id": chat_id, "text": text, "parse_mode": "HTML", "reply_markup": self.keyboard}
            async with self.http.post(self.send_url, json=body) as response:
                await response.read()
                if response.status != 200:
                    return
        self.finished[key] = time.monotonic()

    async def settle(self) -> None:
        while self.tasks:
            await asyncio.wait(set(self.tasks))


async def run_step(step: str, telegram: dict[str, str], updates: int, residents: int, rates: list[float]) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='troly-floor-')}/floor.db")
    async with engine.begin() as connection:
        await connection.run_sync(ProcessedUpdate.__table__.create)
    content = load_content()
    floor = Floor(step, telegram["TELEGRAM_API_URL"], telegram["TELEGRAM_BOT_TOKEN"], engine,
                  Matcher.build(content.entries), {entry.id: entry.title for entry in content.entries})
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

    print(f"\n{step}: {updates} updates from {residents} chats")
    await floor.bot.initialize()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
        floor.http = http
        try:
            await drive(f"http://127.0.0.1:{port}", make_post, updates, residents, rates, floor.finished,
                        floor.settle)
        finally:
            await runner.cleanup()
            await floor.bot.shutdown()
            await engine.dispose()


async def main(steps: list[str], updates: int, residents: int, rates: list[float]) -> None:
    async with platform_process("telegram") as telegram:
        for step in steps:
            await run_step(step, telegram, updates, residents, rates)
        print("cpu/upd: this process's CPU time per update offered")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default=",".join(STEPS), help=f"any of {', '.join(STEPS)}")
    parser.add_argument("--updates", type=int, default=4_000)
    parser.add_argument("--residents", type=int, default=800)
    parser.add_argument("--rates", default="500,1000")
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main(args.steps.split(","), args.updates, args.residents,
                     [float(r) for r in args.rates.split(",")]))
