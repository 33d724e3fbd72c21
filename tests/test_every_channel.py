"""One conversation, four channels: the same resident script through a real server with Telegram (webhook mode,
real python-telegram-bot against the local fake Bot API), Zalo (signed webhooks, local fake OA API), the web chat
API, and the console. Every channel must carry the same answers."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.console import run_console
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from bot.settings import load_settings
from bot.store.models import Feedback, Identity
from tests.fakes.zalo_api import signed_webhook, user_event
from tests.serving import Client, serve_with_fake_platforms

SECRET = "every-channel-secret"
QUESTION = "quen mat khau vneid thi lay lai the nao"
FAQ_ID = "vneid.password.forgot"


def plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).replace("**", "")


class Running(Client):
    async def telegram_says(self, update: dict[str, object]) -> None:
        async with self.http.post(self.served.base + "/telegram/webhook", json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            assert response.status == 200
        await self.served.service(TelegramChannel).join(10)

    async def zalo_says(self, user: str, msg_id: str, text: str) -> None:
        body, headers = signed_webhook(user_event("user_send_text", user, msg_id, text=text, app_id=self.zalo.app_id),
                                       self.zalo.app_id, self.zalo.oa_secret_key)
        async with self.http.post(f"{self.served.base}/zalo/webhook", data=body, headers=headers) as response:
            assert response.status == 200
        await self.served.service(ZaloChannel).join(10)

    async def web_says(self, body: dict[str, str]) -> list[str]:
        async with self.http.post(f"{self.served.base}/chat/api/messages", json=body) as response:
            assert response.status == 200
            return [plain(m["html"]) for m in (await response.json())["messages"]]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with (serve_with_fake_platforms(tmp_path / "all.db", SECRET) as served,
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http):
        yield Running(served, http)


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
