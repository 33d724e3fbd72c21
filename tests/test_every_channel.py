"""One conversation, four channels: the same resident script through a real server with Telegram (webhook mode,
real python-telegram-bot against the local fake Bot API), Zalo (signed webhooks, local fake OA API), the web chat
API, and the console. Every channel must carry the same answers."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.assembly import assemble
from bot.channels.console import run_console
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from bot.runtime import Runtime
from bot.server import Server
from bot.settings import load_settings
from bot.store import migrate
from bot.store.models import Feedback, Identity
from tests.conftest import free_port
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_api import FakeZalo, signed_webhook, user_event

SECRET = "every-channel-secret"
QUESTION = "quen mat khau vneid thi lay lai the nao"
FAQ_ID = "vneid.password.forgot"


def plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).replace("**", "")


@dataclass
class Running:
    server: Server
    runtime: Runtime
    telegram: FakeTelegram
    zalo: FakeZalo
    base: str
    http: aiohttp.ClientSession

    def channel(self, kind: type) -> object:
        return next(s for s in self.server.services if isinstance(s, kind))

    async def telegram_says(self, update: dict[str, object]) -> None:
        async with self.http.post(f"{self.base}/telegram/webhook", json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            assert response.status == 200
        await self.channel(TelegramChannel).join(10)  # type: ignore[attr-defined]

    async def zalo_says(self, user: str, msg_id: str, text: str) -> None:
        body, headers = signed_webhook(user_event("user_send_text", user, msg_id, text=text, app_id=self.zalo.app_id),
                                       self.zalo.app_id, self.zalo.oa_secret_key)
        async with self.http.post(f"{self.base}/zalo/webhook", data=body, headers=headers) as response:
            assert response.status == 200
        await self.channel(ZaloChannel).join(10)  # type: ignore[attr-defined]

    async def web_says(self, body: dict[str, str]) -> list[str]:
        async with self.http.post(f"{self.base}/chat/api/messages", json=body) as response:
            assert response.status == 200
            return [plain(m["html"]) for m in (await response.json())["messages"]]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with FakeTelegram.run() as telegram, FakeZalo.running() as zalo:
        port = free_port()
        settings = load_settings(
            TROLY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'all.db'}", TROLY_HTTP_PORT=str(port),
            # The platforms would reach us through the ward's HTTPS proxy; the test posts to the port directly.
            TROLY_PUBLIC_URL="https://tro-ly.phuong-hoa-binh.gov.vn", TELEGRAM_WEBHOOK_SECRET=SECRET,
            **telegram.env(), **zalo.env(),
        )
        runtime = Runtime.build(settings)
        await migrate.upgrade(runtime.engine)
        services, mounts = assemble(runtime)
        server = Server(runtime, services, mounts)
        await server.start()
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                yield Running(server, runtime, telegram, zalo, f"http://127.0.0.1:{port}", http)
        finally:
            await server.stop()


async def test_the_same_conversation_on_every_channel(running: Running, tmp_path: Path) -> None:
    entry = running.runtime.content.by_id[FAQ_ID]
    transcripts: dict[str, list[str]] = {}

    # Telegram: a private chat, through the webhook
    tg_user = 700_001
    await running.telegram_says(running.telegram.updates.text(tg_user, "/start"))
    await running.telegram_says(running.telegram.updates.text(tg_user, QUESTION))
    await running.telegram_says(running.telegram.updates.callback(tg_user, f"fb:{FAQ_ID}:1"))
    transcripts["telegram"] = [plain(m["text"]) for m in running.telegram.sent(tg_user)]

    # Zalo: signed webhooks; a pressed button comes back as its payload in a text message
    await running.zalo_says("z-700", "m1", "xin chào")
    await running.zalo_says("z-700", "m2", QUESTION)
    await running.zalo_says("z-700", "m3", f"fb:{FAQ_ID}:1")
    transcripts["zalo"] = [s.text for s in running.zalo.sends if s.user_id == "z-700"]

    # Web chat: the page's JSON API with its cookie session
    transcripts["web"] = (await running.web_says({"text": "/start"}) + await running.web_says({"text": QUESTION})
                          + await running.web_says({"payload": f"fb:{FAQ_ID}:1"}))

    # Console: the terminal, on its own database
    out = io.StringIO()
    await run_console(load_settings(TROLY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"),
                      stdin=io.StringIO(f"{QUESTION}\n1\n"), stdout=out)
    transcripts["console"] = [out.getvalue()]

    for channel, lines in transcripts.items():
        text = "\n".join(lines)
        assert "Xin chào" in text and "Trợ lý số" in text, channel
        assert entry.title in text and "Nguồn:" in text, channel
        assert entry.source.url in text, channel
        assert "Cảm ơn" in text, channel
        assert "Traceback" not in text, channel

    async with running.runtime.sessions() as session:
        voted = set(await session.scalars(
            select(Identity.channel)
            .join(Feedback, Feedback.identity_id == Identity.id)
            .where(Feedback.faq_id == FAQ_ID)
        ))
    assert voted == {"telegram", "zalo", "web"}
    # Telegram got the answer's buttons as an inline keyboard, Zalo as at most five short buttons
    keyboards = [m.get("reply_markup") for m in running.telegram.sent(tg_user) if m.get("reply_markup")]
    assert any(f"fb:{FAQ_ID}:1" in str(k) for k in keyboards)
    zalo_buttons = [b for s in running.zalo.sends for b in s.buttons]
    assert zalo_buttons and all(len(b["title"]) <= 20 for b in zalo_buttons)
