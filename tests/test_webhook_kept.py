"""A webhook's 200 means the update is kept: what it changed is committed and its replies are journalled before the
platform hears back. A crash after the 200 then delays the replies and never loses them (the journal's own tests,
tests/test_reply_journal.py, show the outbox sending them); a stop before it answers 503, and the platform's
redelivery is answered once. Real server, real SQLite, both webhook channels against their local fakes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels import telegram as telegram_module
from bot.channels import zalo as zalo_module
from bot.channels.telegram import TelegramChannel
from bot.channels.zalo import ZaloChannel
from bot.store.models import Message, OutboxMessage, ProcessedUpdate
from tests.fakes.telegram_api import Fault
from tests.fakes.zalo_api import signed_webhook, user_event
from tests.serving import Client, serve_with_fake_platforms

SECRET = "kept-secret"
QUESTION = "quên mật khẩu vneid thì làm sao"
TELEGRAM_USER = 710_001
ZALO_USER = "z-710"


class Stored(Client):
    async def stored(self, channel: str) -> tuple[list[str], int, list[str]]:
        """The update keys, inbound messages and journalled replies' statuses stored for `channel`."""
        async with self.runtime.sessions() as session:
            keys = (await session.scalars(select(ProcessedUpdate.update_key)
                                          .where(ProcessedUpdate.channel == channel))).all()
            inbound = (await session.scalars(select(Message.id).where(Message.direction == "in"))).all()
            replies = (await session.scalars(select(OutboxMessage.status)
                                             .where(OutboxMessage.channel == channel))).all()
        return list(keys), len(inbound), list(replies)


@dataclass
class Channel:
    """One webhook channel as these tests drive it."""

    name: str
    kind: type
    module: Any
    post: Callable[..., Awaitable[tuple[int, float]]]  # (served, update key[, text]) → (status, seconds)
    hold_replies: Callable[[Client], None]  # the platform takes no reply for the next 3 seconds
    answered: Callable[[Client], int]  # messages the platform accepted for the resident
    said: Callable[[Client], list[str]]  # their texts, in the order accepted
    key: Callable[[Client, str], str]  # the idempotency key stored for an update posted with this key


def _telegram_post(served: Client, key: str, text: str = QUESTION) -> Awaitable[tuple[int, float]]:
    update = served.telegram.updates.text(TELEGRAM_USER, text)
    update["update_id"] = int(key)
    return served.post("/telegram/webhook", json.dumps(update).encode(),
                       {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})


def _zalo_post(served: Client, key: str, text: str = QUESTION) -> Awaitable[tuple[int, float]]:
    body, headers = signed_webhook(user_event("user_send_text", ZALO_USER, key, text=text,
                                              app_id=served.zalo.app_id),
                                   served.zalo.app_id, served.zalo.oa_secret_key)
    return served.post("/zalo/webhook", body, headers)


def _hold_zalo(served: Client) -> None:
    served.zalo.send_delay = 3.0


CHANNELS = [
    Channel("telegram", TelegramChannel, telegram_module, _telegram_post,
            lambda s: s.telegram.fail_chat(TELEGRAM_USER, Fault.rate_limited(3), method="sendMessage", times=1),
            lambda s: len(s.telegram.sent(TELEGRAM_USER)),
            lambda s: [str(m.get("text", "")) for m in s.telegram.sent(TELEGRAM_USER)],
            lambda s, key: f"{s.telegram.bot_id}:{key}"),
    Channel("zalo", ZaloChannel, zalo_module, _zalo_post, _hold_zalo,
            lambda s: sum(1 for send in s.zalo.sends if send.user_id == ZALO_USER),
            lambda s: [send.text for send in s.zalo.sends if send.user_id == ZALO_USER], lambda s, key: key),
]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Stored]:
    async with serve_with_fake_platforms(tmp_path / "kept.db", SECRET) as process, aiohttp.ClientSession() as http:
        yield Stored(process, http)


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_the_200_comes_once_the_update_and_its_replies_are_stored(served: Client, channel: Channel) -> None:
    channel.hold_replies(served)
    # While a test session holds the process's one SQLite connection, nothing can be stored: the answer waits.
    async with served.runtime.sessions() as session, session.begin():
        await session.execute(select(1))
        posting = asyncio.create_task(channel.post(served, "4242"))
        await asyncio.sleep(0.3)
        assert not posting.done(), "the platform heard 200 before the update was stored"
    status, _ = await posting
    assert status == 200
    # Stored and journalled, though the platform has not yet accepted a single reply.
    keys, inbound, replies = await served.stored(channel.name)
    assert keys == [channel.key(served, "4242")] and inbound == 1
    assert replies and set(replies) == {"pending"}
    assert channel.answered(served) == 0
    assert not await served.service(channel.kind).join(10)
    assert channel.answered(served) == len(replies)


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_the_200_does_not_wait_for_the_replies(served: Client, channel: Channel) -> None:
    channel.hold_replies(served)
    status, seconds = await channel.post(served, "4343")
    assert status == 200 and seconds < 2.0  # the platform answers our sends only after 3 s
    assert channel.answered(served) == 0
    assert not await served.service(channel.kind).join(10)
    assert channel.answered(served) > 0


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_the_next_message_is_kept_while_the_replies_before_it_are_held(served: Client, channel: Channel) -> None:
    """A reply the platform holds back (a 429, a slow API) delays the resident's later replies, never the keeping
    of their next message: the platform hears 200 for it at once, and the replies go out in order."""
    channel.hold_replies(served)
    assert (await channel.post(served, "4545"))[0] == 200
    status, seconds = await channel.post(served, "4546", "cảm ơn")
    assert status == 200 and seconds < 1.0  # not after the 3 s the first reply is held
    keys, inbound, _ = await served.stored(channel.name)
    assert channel.key(served, "4546") in keys and inbound == 2
    assert channel.answered(served) == 0
    assert not await served.service(channel.kind).join(20)
    said = channel.said(served)
    assert "Nguồn:" in said[0] and "không có gì" in said[-1]  # the answer, then the reply to the thanks


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_a_stop_before_the_update_is_kept_answers_503_and_the_redelivery_is_answered_once(
    served: Client, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel.module, "STOP_TIMEOUT", 0.2)
    service = served.service(channel.kind)
    async with served.runtime.sessions() as session, session.begin():
        await session.execute(select(1))
        posting = asyncio.create_task(channel.post(served, "4444"))
        await asyncio.sleep(0.3)
        await service.stop()  # the update is still waiting for the database: it is cancelled
        status, _ = await posting
    assert status == 503
    assert await served.stored(channel.name) == ([], 0, [])
    assert channel.answered(served) == 0

    await service.start()  # the process is back; the platform sends the update again, twice
    for _ in range(2):
        status, _ = await channel.post(served, "4444")
        assert status == 200
    assert not await service.join(10)
    keys, inbound, replies = await served.stored(channel.name)
    assert keys == [channel.key(served, "4444")] and inbound == 1
    assert channel.answered(served) == len(replies) > 0
