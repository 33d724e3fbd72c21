"""`troly chat`: a resident's conversation in the terminal, on the real handlers and store."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.channels.base import Delivery, Result
from bot.channels.markup import to_plain
from bot.settings import Settings
from handlers.messages import Incoming, Kind, Outgoing


class ConsoleSender:
    """Prints replies; buttons are numbered so the resident can type the number to press one."""

    channel = "console"

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buttons: dict[str, str] = {}

    async def send(self, message: Outgoing) -> Delivery:
        self.out.write("\n" + to_plain(message.text) + "\n")
        if message.buttons:
            self.buttons = {}
            for number, button in enumerate(message.buttons, start=1):
                self.buttons[str(number)] = button.payload
                target = f" ({button.url})" if button.url else ""
                self.out.write(f"  [{number}] {button.title}{target}\n")
        self.out.flush()
        return Delivery(Result.SENT)


async def run_console(settings: Settings, user_id: str = "local", stdin: TextIO | None = None,
                      stdout: TextIO | None = None) -> None:
    from bot.pipeline import Pipeline
    from bot.runtime import Runtime
    from bot.store import migrate

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    runtime = Runtime.build(settings)
    await migrate.upgrade(runtime.engine)
    sender = ConsoleSender(stdout)
    pipeline = Pipeline(runtime, {"console": sender})
    stdout.write("Trợ lý số — gõ câu hỏi rồi Enter; gõ số để bấm nút; Ctrl+D để thoát.\n")
    try:
        await pipeline.receive(Incoming("console", user_id, Kind.FOLLOW))
        while True:
            stdout.write("\n> ")
            stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if sender.buttons.get(text):
                await pipeline.receive(Incoming("console", user_id, Kind.BUTTON, text=sender.buttons[text]))
            else:
                await pipeline.receive(Incoming("console", user_id, Kind.TEXT, text=text))
    finally:
        await runtime.close()
        stdout.write("\nTạm biệt!\n")
