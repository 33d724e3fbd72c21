"""What one reply costs to send: the same sendMessage, an answer with the 👍/👎 keyboard every answer carries, to
the local fake Bot API (in a child process), through plain aiohttp and through python-telegram-bot on our aiohttp
transport (`AiohttpRequest`); and python-telegram-bot without the keyboard. CPU time of this process per message.

The difference between the first two rows is what the bot library spends building the request and turning the
answer (which echoes the keyboard) into a `Message`; `webhook_bench.py` pays it once per update.

    python bench/telegram_send_bench.py
    python bench/telegram_send_bench.py --messages 5000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._driver import platform_process
from bot.channels.telegram_http import AiohttpRequest

TEXT = ("Lấy lại mật khẩu VNeID\n1. Mở ứng dụng VNeID, bấm \"Quên mật khẩu\".\n2. Nhập số định danh và số điện "
        "thoại.\n3. Nhập mã OTP gửi về máy.\nNguồn: Bộ Công an (kiểm tra 03/2026).")
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("👍 Có", callback_data="fb:1:vneid.password.forgot"),
                                  InlineKeyboardButton("👎 Chưa", callback_data="fb:0:vneid.password.forgot")]])
IN_FLIGHT = 8
WARM_UP = 500


async def measure(send: Callable[[int], Awaitable[Any]], messages: int) -> tuple[float, float]:
    """(µs of CPU per message, messages per second) for `messages` sends, IN_FLIGHT at a time."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with slots:
            await send(i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(messages)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / messages * 1e6, messages / wall


async def main(messages: int, rounds: int) -> None:
    async with platform_process("telegram") as telegram:
        api, token = telegram["TELEGRAM_API_URL"], telegram["TELEGRAM_BOT_TOKEN"]
        url = f"{api}{token}/sendMessage"  # TELEGRAM_API_URL ends in "/bot", as PTB expects
        keyboard = KEYBOARD.to_dict()

        def chat(i: int) -> int:
            return 1_000_000 + i % 800

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:
            bot = Bot(token, base_url=api, request=AiohttpRequest(limit=256, connect_timeout=5.0, read_timeout=10.0))
            await bot.initialize()

            async def post(body: dict[str, Any]) -> None:
                async with http.post(url, json=body) as response:
                    await response.read()

            ways: dict[str, Callable[[int], Awaitable[Any]]] = {
                "aiohttp, HTML text and keyboard": lambda i: post(
                    {"chat_id": chat(i), "text": TEXT, "parse_mode": "HTML", "reply_markup": keyboard}),
                "python-telegram-bot, text": lambda i: bot.send_message(chat(i), TEXT),
                "python-telegram-bot, HTML text and keyboard": lambda i: bot.send_message(
                    chat(i), TEXT, parse_mode=ParseMode.HTML, reply_markup=KEYBOARD),
            }
            try:
                for send in ways.values():
                    await measure(send, WARM_UP)  # connections opened, code paths warm
                # Rounds interleave the ways, so that a slower moment of the machine does not fall on one of them.
                figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
                for _ in range(rounds):
                    for name, send in ways.items():
                        figures[name].append(await measure(send, messages))
            finally:
                await bot.shutdown()
        print(f"median of {rounds} rounds of {messages} messages, {IN_FLIGHT} in flight")
        for name, runs in figures.items():
            cpu = statistics.median(c for c, _ in runs)
            rate = statistics.median(r for _, r in runs)
            print(f"{name:44} {cpu:5.0f} µs CPU per message   {rate:6.0f} messages/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
