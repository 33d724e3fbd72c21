"""The Zalo OA channel against our real aiohttp app and a local fake of Zalo's OA API and OAuth servers."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels import base, zalo_tokens
from bot.channels.base import Result
from bot.channels.zalo import (
    KEEP_WAIT,
    MAX_AGE_SECONDS,
    MAX_TEXT,
    RATE_LIMITED,
    ZaloChannel,
    promotion_body,
    short_title,
)
from bot.channels.zalo_tokens import CLAIM_STALE, TOKEN_NAME, TokenKeeper, ZaloTokenError, ZaloTokens
from bot.knowledge import Knowledge
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from bot.store.engine import create_engine, session_factory
from bot.store.models import PlatformToken
from bot.store.privacy import UPDATE_KEYS_KEPT
from bot.web.app import build_app
from faq.content import load_content
from handlers.messages import Button, Incoming, Kind, Outgoing
from tests.fakes.zalo_api import FakeZalo, follow_event, now_ms, signed_webhook, user_event


@dataclass
class RecordingInbox:
    """Collects what the channel passes on; optionally slow to keep an event or to answer it, or failing before
    keeping it, to show when the webhook answers."""

    delay: float = 0.0  # after the event is kept (the replies' delivery)
    keep_after: float = 0.0  # before it is kept (the transaction)
    fail: bool = False
    received: list[Incoming] = field(default_factory=list)
    active: int = 0
    most_active: int = 0

    async def receive(self, incoming: Incoming, kept: asyncio.Future[None] | None = None) -> list[Outgoing]:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self.keep_after:
                await asyncio.sleep(self.keep_after)
            if self.fail:
                raise RuntimeError("boom")
            if kept is not None:
                kept.set_result(None)
            if self.delay:
                await asyncio.sleep(self.delay)
            self.received.append(incoming)
        finally:
            self.active -= 1
        return []


@dataclass
class Webhook:
    client: TestClient[Any, Any]
    channel: ZaloChannel
    inbox: RecordingInbox
    zalo: FakeZalo
    settings: Settings

    async def post(self, body: dict[str, Any], *, timestamp: str | None = None, header_timestamp: bool = False,
                   headers: dict[str, str] | None = None) -> int:
        raw, signed = signed_webhook(body, self.zalo.app_id, self.zalo.oa_secret_key, timestamp,
                                     header_timestamp=header_timestamp)
        response = await self.client.post("/zalo/webhook", data=raw, headers={**signed, **(headers or {})})
        return response.status

    async def settled(self) -> list[Incoming]:
        assert not await self.channel.join(timeout=10), "events still being handled"
        return self.inbox.received


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    # Building the matcher takes most of a second; the channel never uses it, so one serves every test.
    return Knowledge(load_content())


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    async with FakeZalo.running() as fake:
        yield fake


@pytest.fixture
async def webhook(sqlite_url: str, zalo: FakeZalo, knowledge: Knowledge) -> AsyncIterator[Webhook]:
    settings = load_settings(TROLY_DATABASE_URL=sqlite_url, **zalo.env())
    engine = create_engine(sqlite_url)
    runtime = Runtime(settings=settings, engine=engine, sessions=session_factory(engine), knowledge=knowledge)
    inbox = RecordingInbox()
    channel = ZaloChannel(settings, inbox, runtime.metrics, ZaloTokens(runtime.sessions, settings))
    await channel.start()
    async with TestClient(TestServer(build_app(runtime, [channel.mount]))) as client:
        yield Webhook(client, channel, inbox, zalo, settings)
        await channel.stop()
    await runtime.close()


# ---- inbound ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header_timestamp", [False, True], ids=["body-timestamp", "header-timestamp"])
async def test_a_signed_text_reaches_the_inbox(webhook: Webhook, header_timestamp: bool) -> None:
    status = await webhook.post(user_event("user_send_text", "u-1", "m-1", text="quên mật khẩu VNeID"),
                                header_timestamp=header_timestamp)
    assert status == 200
    [incoming] = await webhook.settled()
    assert (incoming.channel, incoming.user_id, incoming.kind) == ("zalo", "u-1", Kind.TEXT)
    assert incoming.text == "quên mật khẩu VNeID"
    assert incoming.update_key == "m-1"


async def test_an_unsigned_post_is_401_and_passes_nothing(webhook: Webhook) -> None:
    raw = json.dumps(user_event("user_send_text", "u-1", "m-1", text="xin chào")).encode()
    response = await webhook.client.post("/zalo/webhook", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 401
    assert await webhook.settled() == []


@pytest.mark.parametrize("tamper", ["wrong-key", "body-changed", "not-hex", "no-mac-prefix-wrong"])
async def test_a_wrong_signature_is_403_and_passes_nothing(webhook: Webhook, tamper: str) -> None:
    body = user_event("user_send_text", "u-1", "m-1", text="xin chào")
    if tamper == "wrong-key":
        raw, headers = signed_webhook(body, webhook.zalo.app_id, "another-secret")
    else:
        raw, headers = signed_webhook(body, webhook.zalo.app_id, webhook.zalo.oa_secret_key)
        if tamper == "body-changed":
            raw = raw.replace(b"u-1", b"u-2")
        elif tamper == "not-hex":
            headers["X-ZEvent-Signature"] = "mac=zzz\u00e9"
        else:
            headers["X-ZEvent-Signature"] = "0" * 64
    response = await webhook.client.post("/zalo/webhook", data=raw, headers=headers)
    assert response.status == 403
    assert await webhook.settled() == []


@pytest.mark.parametrize("minutes", [6, -60 * 3, -60 * 24])
async def test_a_stale_or_future_timestamp_is_403(webhook: Webhook, minutes: int) -> None:
    """Older than Zalo's last retry (about 1 h 51 min after the first attempt), or ahead of the clock."""
    stamp = str(int((time.time() + minutes * 60) * 1000))
    for header_timestamp in (False, True):
        status = await webhook.post(user_event("user_send_text", "u-1", "m-1", text="xin chào"), timestamp=stamp,
                                    header_timestamp=header_timestamp)
        assert status == 403
    assert await webhook.settled() == []


async def test_a_timestamp_within_five_minutes_is_accepted(webhook: Webhook) -> None:
    stamp = str(int((time.time() - 4 * 60) * 1000))
    assert await webhook.post(user_event("user_send_text", "u-1", "m-1", text="a"), timestamp=stamp) == 200
    assert len(await webhook.settled()) == 1


async def test_late_zalo_retries_of_an_event_are_accepted_under_its_msg_id(webhook: Webhook) -> None:
    """While we were down, Zalo kept retrying (30 s, 5 min, 15 min, 30 min, 1 h); should its retries carry the
    first attempt's timestamp, the last ones are still taken, under the msg_id the pipeline deduplicates on."""
    first_attempt = time.time() - (60 * 60 + 51 * 60)
    stamp = str(int(first_attempt * 1000))
    event = user_event("user_send_text", "u-1", "m-old", text="xin chào")
    assert await webhook.post(event, timestamp=stamp) == 200
    assert await webhook.post(event, timestamp=stamp) == 200
    assert [incoming.update_key for incoming in await webhook.settled()] == ["m-old", "m-old"]
    # A replay inside the accepted age meets its msg_id still stored.
    assert UPDATE_KEYS_KEPT.total_seconds() > MAX_AGE_SECONDS


def _signed_raw(webhook: Webhook, raw: bytes) -> dict[str, str]:
    """Headers that sign arbitrary bytes, with the timestamp in the header (the body may have none)."""
    import hashlib

    stamp = now_ms()
    zalo = webhook.zalo
    mac = hashlib.sha256(zalo.app_id.encode() + raw + stamp.encode() + zalo.oa_secret_key.encode()).hexdigest()
    return {"X-ZEvent-Signature": f"mac={mac}", "X-ZEvent-Timestamp": stamp, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe",
        b'{"event_name": "user_send_text", "message": {"msg_id": "m", "text": "a"}}',  # no sender
        b'{"event_name": "user_send_text", "sender": {"id": "u"}, "message": {"text": "a"}}',  # no msg_id
        b'{"event_name": "user_send_text", "sender": {"id": "u"}, "message": {"msg_id": "m"}}',  # no text
        b'{"event_name": "user_send_image", "sender": {"id": ""}, "message": {"msg_id": "m"}}',  # empty id
        b'{"event_name": "follow", "oa_id": "1"}',  # no follower
        b'{"sender": {"id": "u"}, "message": {"msg_id": "m", "text": "a"}}',  # no event_name
    ],
)
async def test_malformed_events_with_a_valid_signature_are_400(webhook: Webhook, raw: bytes) -> None:
    response = await webhook.client.post("/zalo/webhook", data=raw, headers=_signed_raw(webhook, raw))
    assert response.status == 400
    assert await webhook.settled() == []


async def test_malformed_json_without_a_header_timestamp_cannot_be_verified(webhook: Webhook) -> None:
    raw = b'{"timestamp": "' + now_ms().encode() + b'", broken'
    headers = _signed_raw(webhook, raw)
    del headers["X-ZEvent-Timestamp"]
    response = await webhook.client.post("/zalo/webhook", data=raw, headers=headers)
    assert response.status == 403
    assert await webhook.settled() == []


@pytest.mark.parametrize("method,data", [("GET", None), ("POST", b"{}"), ("POST", b""), ("POST", b" {}\n")])
async def test_the_registration_probe_gets_200_and_nothing_else(webhook: Webhook, method: str,
                                                                data: bytes | None) -> None:
    response = await webhook.client.request(method, "/zalo/webhook", data=data)
    assert response.status == 200
    assert await response.read() == b""
    assert await webhook.settled() == []


@pytest.mark.parametrize(
    "event_name", ["oa_send_text", "oa_send_image", "user_received_message", "user_seen_message", "user_reacted"]
)
async def test_echoes_receipts_and_other_events_are_ignored(webhook: Webhook, event_name: str) -> None:
    body = user_event("user_send_text", "579745863508352884", "m-echo", text="câu trả lời của OA")
    body["event_name"] = event_name
    assert await webhook.post(body) == 200
    assert await webhook.settled() == []


async def test_follow_and_unfollow(webhook: Webhook) -> None:
    follow = follow_event("follow", "u-9")
    assert await webhook.post(follow) == 200
    assert await webhook.post(follow_event("unfollow", "u-9")) == 200
    first, second = await webhook.settled()
    assert (first.kind, first.user_id) == (Kind.FOLLOW, "u-9")
    assert first.update_key == f"follow:u-9:{follow['timestamp']}"
    assert (second.kind, second.user_id) == (Kind.UNFOLLOW, "u-9")
    assert second.update_key is not None and second.update_key.startswith("unfollow:u-9:")


@pytest.mark.parametrize(
    "event_name,media",
    [("user_send_image", "photo"), ("user_send_sticker", "sticker"), ("user_send_audio", "voice"),
     ("user_send_video", "video"), ("user_send_file", "file"), ("user_send_location", "location"),
     ("user_send_gif", "gif"), ("user_send_link", "link")],
)
async def test_media_events(webhook: Webhook, event_name: str, media: str) -> None:
    assert await webhook.post(user_event(event_name, "u-2", f"m-{media}")) == 200
    [incoming] = await webhook.settled()
    assert (incoming.kind, incoming.media, incoming.user_id, incoming.update_key) == (
        Kind.MEDIA, media, "u-2", f"m-{media}")


async def test_a_pressed_button_arrives_as_text_holding_its_payload(webhook: Webhook) -> None:
    assert await webhook.post(user_event("user_send_text", "u-3", "m-b", text="menu:vneid")) == 200
    [incoming] = await webhook.settled()
    assert (incoming.kind, incoming.text) == (Kind.TEXT, "menu:vneid")


async def test_a_redelivered_msg_id_is_passed_on_with_the_same_key(webhook: Webhook) -> None:
    body = user_event("user_send_text", "u-1", "m-dup", text="xin chào")
    assert await webhook.post(body) == 200
    assert await webhook.post(body, headers={"num_retry": "1"}) == 200
    first, second = await webhook.settled()
    assert first.update_key == second.update_key == "m-dup"


async def test_the_webhook_answers_within_two_seconds_when_the_inbox_is_slow(webhook: Webhook) -> None:
    webhook.inbox.delay = 3.0
    started = time.perf_counter()
    assert await webhook.post(user_event("user_send_text", "u-1", "m-slow", text="xin chào")) == 200
    assert time.perf_counter() - started < 2.0
    assert webhook.inbox.received == []  # still being handled after the answer went back
    assert [m.update_key for m in await webhook.settled()] == ["m-slow"]


async def test_the_webhook_answers_within_two_seconds_even_when_keeping_the_event_is_slow(webhook: Webhook) -> None:
    webhook.inbox.keep_after = 3.0  # a database stuck for 3 s
    started = time.perf_counter()
    assert await webhook.post(user_event("user_send_text", "u-1", "m-stuck", text="xin chào")) == 200
    assert KEEP_WAIT <= time.perf_counter() - started < 2.0
    assert [m.update_key for m in await webhook.settled()] == ["m-stuck"]


async def test_an_event_the_inbox_fails_to_keep_is_503_so_zalo_sends_it_again(webhook: Webhook) -> None:
    webhook.inbox.fail = True
    assert await webhook.post(user_event("user_send_text", "u-1", "m-lost", text="xin chào")) == 503
    assert webhook.inbox.received == []


async def test_one_users_messages_are_handled_one_at_a_time_in_order(webhook: Webhook) -> None:
    webhook.inbox.keep_after = 0.2  # one user's turn lasts until the event is kept
    for index in range(4):
        assert await webhook.post(user_event("user_send_text", "u-1", f"m-{index}", text=str(index))) == 200
    assert [m.update_key for m in await webhook.settled()] == ["m-0", "m-1", "m-2", "m-3"]
    assert webhook.inbox.most_active == 1


async def test_a_users_next_message_does_not_wait_for_the_replies_to_the_one_before(webhook: Webhook) -> None:
    webhook.inbox.delay = 0.5  # the replies' delivery, after the event is kept
    for index in range(2):
        assert await webhook.post(user_event("user_send_text", "u-1", f"m-{index}", text=str(index))) == 200
    assert [m.update_key for m in await webhook.settled()] == ["m-0", "m-1"]
    assert webhook.inbox.most_active == 2  # the second was kept while the first's replies were on their way


async def test_different_users_are_handled_side_by_side(webhook: Webhook) -> None:
    webhook.inbox.delay = 0.3
    for user in ("u-1", "u-2", "u-3"):
        assert await webhook.post(user_event("user_send_text", user, f"m-{user}", text="a")) == 200
    assert len(await webhook.settled()) == 3
    assert webhook.inbox.most_active == 3


async def test_stop_waits_for_events_in_flight_then_refuses_new_ones(webhook: Webhook) -> None:
    webhook.inbox.delay = 0.5
    assert await webhook.post(user_event("user_send_text", "u-1", "m-1", text="a")) == 200
    await webhook.channel.stop()
    assert [m.update_key for m in webhook.inbox.received] == ["m-1"]
    # Stopping: Zalo is told to come back later rather than have the event dropped.
    assert await webhook.post(user_event("user_send_text", "u-1", "m-2", text="b")) == 503


async def test_bodies_over_one_mebibyte_are_refused(webhook: Webhook) -> None:
    body = user_event("user_send_text", "u-1", "m-big", text="x" * (1024 * 1024))
    raw, headers = signed_webhook(body, webhook.zalo.app_id, webhook.zalo.oa_secret_key)
    response = await webhook.client.post("/zalo/webhook", data=io.BytesIO(raw), headers=headers)
    assert response.status == 413
    assert await webhook.settled() == []


# ---- outbound ---------------------------------------------------------------------------------------------------


@dataclass
class Outbound:
    channel: ZaloChannel
    tokens: ZaloTokens
    zalo: FakeZalo
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]

    async def stored(self) -> PlatformToken:
        async with self.sessions() as session:
            row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
        assert row is not None
        return row


@pytest.fixture
async def outbound(migrated_engine: AsyncEngine, zalo: FakeZalo) -> AsyncIterator[Outbound]:
    settings = load_settings(TROLY_DATABASE_URL="sqlite+aiosqlite:///unused.db", **zalo.env())
    sessions = session_factory(migrated_engine)
    tokens = ZaloTokens(sessions, settings)
    channel = ZaloChannel(settings, RecordingInbox(), Metrics(), tokens, send_timeout=1.0)
    await channel.start()
    yield Outbound(channel, tokens, zalo, settings, sessions)
    await channel.stop()


def test_titles_are_cut_on_a_word_break_within_twenty_characters() -> None:
    assert short_title("VNeID") == "VNeID"
    assert short_title("Gặp người hỗ trợ") == "Gặp người hỗ trợ"
    assert short_title("Thanh toán không tiền mặt") == "Thanh toán không…"
    assert short_title("Đăngkýkhaisinhtrựctuyến") == "Đăngkýkhaisinhtrựct…"
    assert short_title("Xem   thêm") == "Xem thêm"
    for title in ("Dịch vụ công trực tuyến mức độ 4", "a" * 40, "Kỹ năng số, an toàn trên mạng"):
        assert len(short_title(title)) <= 20


async def test_text_with_buttons(outbound: Outbound) -> None:
    buttons = (
        Button("VNeID", "menu:vneid"),
        Button("Thanh toán không tiền mặt", "menu:payment"),
        Button("Cổng Dịch vụ công quốc gia", url="https://dichvucong.gov.vn"),
        Button("Kỹ năng số", "menu:skills"),
        Button("Gặp người hỗ trợ", "human"),
        Button("Thứ sáu", "sixth"),
    )
    delivery = await outbound.channel.send(Outgoing("zalo", "u-1", "**Xin chào** bác", buttons))
    assert delivery.result is Result.SENT and delivery.detail
    [sent] = outbound.zalo.sends
    assert sent.user_id == "u-1" and sent.text == "Xin chào bác"
    assert len(sent.buttons) == 5
    assert all(len(b["title"]) <= 20 for b in sent.buttons)
    assert sent.buttons[0] == {"title": "VNeID", "type": "oa.query.hide", "payload": "menu:vneid"}
    assert sent.buttons[1]["title"] == "Thanh toán không…"
    assert sent.buttons[2] == {"title": "Cổng Dịch vụ công…", "type": "oa.open.url",
                               "payload": {"url": "https://dichvucong.gov.vn"}}


async def test_long_text_is_split_at_2000_with_buttons_on_the_last_piece(outbound: Outbound) -> None:
    paragraph = "Bước 1: mở ứng dụng VNeID và chọn mục Thủ tục hành chính. " * 30
    text = "\n\n".join([paragraph.strip()] * 3)
    delivery = await outbound.channel.send(Outgoing("zalo", "u-1", text, (Button("Có", "fb:x:1"),)))
    assert delivery.result is Result.SENT
    pieces = outbound.zalo.sends
    assert len(pieces) >= 3
    assert all(len(p.text) <= MAX_TEXT for p in pieces)
    assert [bool(p.buttons) for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert "".join(p.text for p in pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", "")


async def test_a_later_piece_is_never_sent_twice(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "MAX_PIECE_WAIT", 0.05)
    pieces = [f"Phần {n}: " + "mở ứng dụng VNeID và chọn mục Thủ tục hành chính. " * 35 for n in range(3)]
    text = "\n\n".join(pieces)
    # Rate limited once on the second piece: waited out inside send, since sending the whole message again would
    # repeat the first piece.
    outbound.zalo.inject, outbound.zalo.inject_after = [RATE_LIMITED], 1
    assert (await outbound.channel.send(Outgoing("zalo", "u-1", text))).result is Result.SENT
    assert [p.text.split(":")[0] for p in outbound.zalo.sends] == ["Phần 0", "Phần 1", "Phần 2"]
    # Still limited after the wait: uncertain (some of it arrived), never "retry the whole message".
    outbound.zalo.inject, outbound.zalo.inject_after = [RATE_LIMITED, RATE_LIMITED], 4
    delivery = await outbound.channel.send(Outgoing("zalo", "u-1", text))
    assert delivery.result is Result.UNCERTAIN and "after 1 of 3 pieces" in delivery.detail
    assert len(outbound.zalo.sends) == 4


async def test_an_expired_token_is_refreshed_stored_first_and_the_send_retried_once(
    migrated_engine: AsyncEngine,
) -> None:
    async with FakeZalo.running(first_token_uses=1) as zalo:
        settings = load_settings(**zalo.env())
        sessions = session_factory(migrated_engine)
        channel = ZaloChannel(settings, RecordingInbox(), Metrics(), ZaloTokens(sessions, settings))
        await channel.start()
        seen_in_db: list[tuple[str, str]] = []

        async def look_at_the_database(body: dict[str, Any], token: str) -> None:
            async with sessions() as session:
                row = await session.scalar(select(PlatformToken))
                assert row is not None
                seen_in_db.append((row.access_token, row.refresh_token))

        zalo.on_send = look_at_the_database
        first_pair = (zalo.access_token, zalo.refresh_token)
        try:
            assert (await channel.send(Outgoing("zalo", "u-1", "một"))).result is Result.SENT
            assert (await channel.send(Outgoing("zalo", "u-1", "hai"))).result is Result.SENT
        finally:
            await channel.stop()

        assert zalo.refreshes == 1 and zalo.refused_refreshes == 0
        assert [error for _, error in zalo.attempts] == [0, -216, 0]
        retried = zalo.sends[1]
        assert retried.access_token != first_pair[0]
        # When Zalo saw the retry, the rotated pair was already committed: a crash now would lose nothing.
        assert seen_in_db[1][0] == retried.access_token
        assert seen_in_db[1][1] not in (first_pair[1], "") and seen_in_db[1][1] not in zalo.spent_refresh_tokens
        async with sessions() as session:
            row = await session.scalar(select(PlatformToken))
        assert row is not None and row.expires_at > datetime.now(UTC) + timedelta(hours=24)


async def test_concurrent_sends_on_an_expired_token_cause_one_refresh(migrated_engine: AsyncEngine) -> None:
    async with FakeZalo.running(first_token_uses=0, refresh_delay=0.2) as zalo:
        settings = load_settings(**zalo.env())
        channel = ZaloChannel(settings, RecordingInbox(), Metrics(), ZaloTokens(session_factory(migrated_engine),
                                                                                   settings))
        await channel.start()
        try:
            deliveries = await asyncio.gather(*(channel.send(Outgoing("zalo", f"u-{i}", "xin chào"))
                                                for i in range(5)))
        finally:
            await channel.stop()
        assert [d.result for d in deliveries] == [Result.SENT] * 5
        assert zalo.refreshes == 1 and zalo.refused_refreshes == 0
        assert len(zalo.sends) == 5


async def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    migrated_engine: AsyncEngine, database_url: str
) -> None:
    """Two token stores with their own locks and their own engines (as two processes have) share one row."""
    other_engine = create_engine(database_url)
    async with FakeZalo.running(first_token_uses=0, refresh_delay=0.3) as zalo:
        settings = load_settings(**zalo.env())
        first = ZaloTokens(session_factory(migrated_engine), settings)
        second = ZaloTokens(session_factory(other_engine), settings)
        try:
            rejected = await first.access_token()
            tokens = await asyncio.gather(first.refresh(rejected), second.refresh(rejected))
        finally:
            await first.close()
            await second.close()
            await other_engine.dispose()
        assert zalo.refreshes == 1 and zalo.refused_refreshes == 0
        assert tokens[0] == tokens[1] and tokens[0] in zalo.live_access_tokens


@dataclass
class ExpiredToken:
    """The environment's pair stored and already refused by Zalo: the next use needs a refresh."""

    zalo: FakeZalo
    sessions: async_sessionmaker[AsyncSession]
    tokens: ZaloTokens
    rejected: str


@pytest.fixture
async def expired(migrated_engine: AsyncEngine) -> AsyncIterator[ExpiredToken]:
    async with FakeZalo.running(first_token_uses=0) as zalo:
        sessions = session_factory(migrated_engine)
        tokens = ZaloTokens(sessions, load_settings(**zalo.env()))
        try:
            yield ExpiredToken(zalo, sessions, tokens, await tokens.access_token())
        finally:
            await tokens.close()


async def test_the_database_is_not_held_while_oauth_answers(expired: ExpiredToken) -> None:
    """On SQLite the process has one connection: a refresh holding it would stall every resident meanwhile."""
    expired.zalo.refresh_delay = 1.0
    refreshing = asyncio.create_task(expired.tokens.refresh(expired.rejected))
    while not await _claimed_at(expired.sessions):
        await asyncio.sleep(0.01)
    async with expired.sessions() as session, session.begin():
        session.add(PlatformToken(name="other", access_token="a", refresh_token="r", expires_at=datetime.now(UTC)))
    assert not refreshing.done()  # a write went through while OAuth was still answering
    assert await refreshing in expired.zalo.live_access_tokens
    assert await _claimed_at(expired.sessions) is None


async def test_a_claim_left_by_a_crashed_process_is_taken_over_when_stale(expired: ExpiredToken) -> None:
    await _claim(expired.sessions, datetime.now(UTC) - CLAIM_STALE - timedelta(seconds=1))
    fresh = await expired.tokens.refresh(expired.rejected)
    assert expired.zalo.refreshes == 1 and fresh in expired.zalo.live_access_tokens
    assert await _claimed_at(expired.sessions) is None


async def test_a_process_that_finds_the_row_claimed_waits_and_uses_the_new_pair(expired: ExpiredToken) -> None:
    async def the_other_process_stores_its_pair() -> None:
        await asyncio.sleep(0.5)
        async with expired.sessions() as session, session.begin():
            row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
            assert row is not None
            row.access_token, row.refresh_token = "theirs-access", "theirs-refresh"
            row.expires_at, row.refresh_claimed_at = datetime.now(UTC) + timedelta(hours=25), None

    await _claim(expired.sessions, datetime.now(UTC))
    other = asyncio.create_task(the_other_process_stores_its_pair())
    assert await expired.tokens.refresh(expired.rejected) == "theirs-access"
    await other
    assert expired.zalo.refreshes == 0


async def _claim(sessions: async_sessionmaker[AsyncSession], at: datetime) -> None:
    async with sessions() as session, session.begin():
        row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
        assert row is not None
        row.refresh_claimed_at = at


async def _claimed_at(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    async with sessions() as session:
        return await session.scalar(select(PlatformToken.refresh_claimed_at).where(PlatformToken.name == TOKEN_NAME))


async def test_the_token_is_refreshed_before_it_expires(migrated_engine: AsyncEngine, zalo: FakeZalo) -> None:
    settings = load_settings(**zalo.env())
    sessions = session_factory(migrated_engine)
    seeded = ZaloTokens(sessions, settings)
    assert await seeded.access_token() == zalo.access_token  # seeded from the environment, about an hour left
    later = ZaloTokens(sessions, settings, now=lambda: datetime.now(UTC) + timedelta(minutes=55))
    try:
        fresh = await later.access_token()
    finally:
        await seeded.close()
        await later.close()
    assert fresh != zalo.access_token and zalo.refreshes == 1
    async with sessions() as session:
        row = await session.scalar(select(PlatformToken))
    assert row is not None and row.access_token == fresh


async def test_the_keeper_refreshes_ahead_of_expiry_when_nothing_is_sent(migrated_engine: AsyncEngine,
                                                                          zalo: FakeZalo) -> None:
    """A refresh token unused for months dies: the pair is renewed on time even if the OA never writes."""
    clock = [datetime.now(UTC)]
    tokens = ZaloTokens(session_factory(migrated_engine), load_settings(**zalo.env()), now=lambda: clock[0])
    keeper = TokenKeeper(tokens)
    try:
        await keeper.tick()  # seeds the pair from the environment: about an hour left, nothing to do
        assert zalo.refreshes == 0
        clock[0] += timedelta(minutes=55)
        await keeper.tick()
        assert zalo.refreshes == 1
        await keeper.tick()
        assert zalo.refreshes == 1
    finally:
        await tokens.close()
    assert zalo.sends == []
    async with session_factory(migrated_engine)() as session:
        row = await session.scalar(select(PlatformToken))
    assert row is not None and row.access_token in zalo.live_access_tokens
    assert row.refresh_token not in zalo.spent_refresh_tokens


def _refusing_writes(tokens: ZaloTokens, times: int | None) -> list[int]:
    """Make the database refuse to store a new pair `times` times (None: until told otherwise)."""
    refused = [0]
    real_update = tokens._update

    async def update(**values: Any) -> None:
        if "refresh_token" in values and (times is None or refused[0] < times):
            refused[0] += 1
            raise OperationalError("UPDATE platform_tokens", {}, Exception("database is locked"))
        await real_update(**values)

    tokens._update = update  # type: ignore[method-assign]
    return refused


async def test_a_new_pair_the_database_refuses_for_a_moment_is_stored_on_a_later_try(
        expired: ExpiredToken, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zalo_tokens, "STORE_RETRY_WAITS", (0.01, 0.01, 0.01))
    refused = _refusing_writes(expired.tokens, 2)
    fresh = await expired.tokens.refresh(expired.rejected)
    assert refused == [2]
    async with expired.sessions() as session:
        row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
    assert row is not None and row.access_token == fresh and row.refresh_claimed_at is None
    assert row.refresh_token not in expired.zalo.spent_refresh_tokens


async def test_a_new_pair_the_database_keeps_refusing_is_kept_and_stored_later(
        expired: ExpiredToken, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spent refresh token is dead: throwing the new pair away would leave the OA unreachable for good."""
    monkeypatch.setattr(zalo_tokens, "STORE_RETRY_WAITS", (0.01,))
    refused = _refusing_writes(expired.tokens, None)
    fresh = await expired.tokens.refresh(expired.rejected)
    assert fresh in expired.zalo.live_access_tokens and refused == [2]
    assert await expired.tokens.access_token() == fresh  # still refused: the pair in memory serves meanwhile
    async with expired.sessions() as session:
        row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
    assert row is not None and row.access_token != fresh

    del expired.tokens._update  # the database answers again
    assert await expired.tokens.access_token() == fresh
    async with expired.sessions() as session:
        row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
    assert row is not None and row.access_token == fresh and row.refresh_claimed_at is None
    assert row.refresh_token not in expired.zalo.spent_refresh_tokens


async def test_the_environment_seeds_the_pair_only_when_no_row_exists(migrated_engine: AsyncEngine,
                                                                      zalo: FakeZalo) -> None:
    sessions = session_factory(migrated_engine)
    async with sessions() as session, session.begin():
        session.add(PlatformToken(name=TOKEN_NAME, access_token="rotated-access", refresh_token="rotated-refresh",
                                  expires_at=datetime.now(UTC) + timedelta(hours=20)))
    tokens = ZaloTokens(sessions, load_settings(**zalo.env()))
    assert await tokens.access_token() == "rotated-access"


async def test_without_any_token_sends_fail_politely(migrated_engine: AsyncEngine, zalo: FakeZalo) -> None:
    env = {**zalo.env(), "ZALO_ACCESS_TOKEN": None, "ZALO_REFRESH_TOKEN": None}
    settings = load_settings(**env)
    channel = ZaloChannel(settings, RecordingInbox(), Metrics(), ZaloTokens(session_factory(migrated_engine),
                                                                               settings))
    delivery = await channel.send(Outgoing("zalo", "u-1", "xin chào"))
    await channel.stop()
    assert delivery.result is Result.FAILED and "ZALO_ACCESS_TOKEN" in delivery.detail
    assert zalo.attempts == []


async def test_a_spent_refresh_token_is_reported_not_retried(migrated_engine: AsyncEngine) -> None:
    async with FakeZalo.running(first_token_uses=0) as zalo:
        settings = load_settings(**zalo.env())
        sessions = session_factory(migrated_engine)
        # The env refresh token gets spent, then the stored pair is put back to the spent one (as a crash
        # between receiving and storing a rotated pair would leave it).
        other = ZaloTokens(sessions, settings)
        await other.refresh(await other.access_token())
        await other.close()
        async with sessions() as session, session.begin():
            row = await session.scalar(select(PlatformToken))
            assert row is not None
            row.access_token, row.refresh_token = zalo.access_token, zalo.refresh_token
        channel = ZaloChannel(settings, RecordingInbox(), Metrics(), ZaloTokens(sessions, settings))
        try:
            delivery = await channel.send(Outgoing("zalo", "u-1", "xin chào"))
        finally:
            await channel.stop()
        assert delivery.result is Result.FAILED and "refresh token refused" in delivery.detail
        assert zalo.refreshes == 1 and zalo.refused_refreshes == 1
        assert [error for _, error in zalo.attempts] == [-216]


async def test_a_new_pair_in_the_environment_replaces_a_dead_stored_one(migrated_engine: AsyncEngine) -> None:
    async with FakeZalo.running(first_token_uses=0) as zalo:
        sessions = session_factory(migrated_engine)
        async with sessions() as session, session.begin():
            session.add(PlatformToken(name=TOKEN_NAME, access_token="dead-access", refresh_token="dead-refresh",
                                      expires_at=datetime.now(UTC) + timedelta(hours=20)))
        settings = load_settings(**zalo.env())
        tokens = ZaloTokens(sessions, settings)
        channel = ZaloChannel(settings, RecordingInbox(), Metrics(), tokens)
        try:
            delivery = await channel.send(Outgoing("zalo", "u-1", "xin chào"))
        finally:
            await channel.stop()
        assert delivery.result is Result.SENT
        assert zalo.refreshes == 1 and zalo.refused_refreshes == 1
        async with sessions() as session:
            row = await session.scalar(select(PlatformToken))
        assert row is not None and row.access_token == zalo.sends[0].access_token


async def test_outside_the_window_is_an_outcome_never_retried(outbound: Outbound) -> None:
    outbound.zalo.outside_window.add("u-away")
    delivery = await outbound.channel.send(Outgoing("zalo", "u-away", "Nhắc lịch tiêm chủng"))
    assert delivery.result is Result.OUTSIDE_WINDOW
    assert [error for _, error in outbound.zalo.attempts] == [-230]
    assert outbound.zalo.refreshes == 0 and outbound.zalo.sends == []


REMINDER = "**Phường 7: Ngày hội VNeID**\nSáng thứ Bảy tại nhà văn hoá.\n\n— Gõ /huy để ngừng nhận thông báo."


async def promoting(outbound: Outbound, allowed: bool = True) -> ZaloChannel:
    """The fixture's channel, with the ward's choice about promotion messages."""
    settings = load_settings(TROLY_DATABASE_URL="sqlite+aiosqlite:///unused.db",
                             ZALO_PROMOTION_BROADCASTS=str(allowed).lower(), **outbound.zalo.env())
    return ZaloChannel(settings, RecordingInbox(), Metrics(), outbound.tokens, send_timeout=1.0)


async def test_a_reminder_outside_the_window_goes_as_a_promotion_when_the_ward_allows_it(outbound: Outbound) -> None:
    outbound.zalo.outside_window.add("u-away")
    channel = await promoting(outbound)
    link = Button("Xem chi tiết", url="https://dichvucong.gov.vn")
    try:
        away = await channel.send(Outgoing("zalo", "u-away", REMINDER, (link,), broadcast=True))
        near = await channel.send(Outgoing("zalo", "u-near", REMINDER, (link,), broadcast=True))
    finally:
        await channel.stop()
    assert away.result is Result.SENT and away.detail.startswith("promotion: ")
    [promotion] = outbound.zalo.promotions
    assert promotion.user_id == "u-away"
    assert promotion.text.split("\n", 1) == [
        "Phường 7: Ngày hội VNeID", "Sáng thứ Bảy tại nhà văn hoá.\n\n— Gõ /huy để ngừng nhận thông báo."]
    assert promotion.buttons == [{"title": "Xem chi tiết", "type": "oa.open.url",
                                  "payload": {"url": "https://dichvucong.gov.vn"}}]
    # Within the window the free consultation message is enough.
    assert near.result is Result.SENT and not near.detail.startswith("promotion")
    assert [s.user_id for s in outbound.zalo.sends] == ["u-near"]


@pytest.mark.parametrize("allowed, broadcast", [(False, True), (True, False)], ids=["not-allowed", "a-reply"])
async def test_no_promotion_for_a_reply_or_when_the_ward_has_not_allowed_it(outbound: Outbound, allowed: bool,
                                                                            broadcast: bool) -> None:
    outbound.zalo.outside_window.add("u-away")
    channel = await promoting(outbound, allowed)
    try:
        delivery = await channel.send(Outgoing("zalo", "u-away", REMINDER, broadcast=broadcast))
    finally:
        await channel.stop()
    assert delivery.result is Result.OUTSIDE_WINDOW
    assert outbound.zalo.promotions == []


async def test_a_spent_promotion_quota_is_a_failure_that_says_so(outbound: Outbound) -> None:
    outbound.zalo.outside_window.add("u-away")
    outbound.zalo.promotion_quota = 0
    channel = await promoting(outbound)
    try:
        delivery = await channel.send(Outgoing("zalo", "u-away", REMINDER, broadcast=True))
    finally:
        await channel.stop()
    assert delivery.result is Result.FAILED
    assert delivery.detail.startswith("promotion: zalo error") and "quota" in delivery.detail


def test_a_long_heading_is_cut_for_the_header_and_kept_whole_in_the_text() -> None:
    heading = "Phường 7: " + "Ngày hội đăng ký và kích hoạt tài khoản định danh điện tử mức độ 2 " * 2
    body = promotion_body("u-1", f"**{heading.strip()}**\nMang theo căn cước.", [])
    header, text = body["message"]["attachment"]["payload"]["elements"]
    assert len(header["content"]) <= 100 and header["content"].endswith("…")
    assert text["content"] == f"{heading.strip()}\nMang theo căn cước."
    assert "buttons" not in body["message"]["attachment"]["payload"]


@pytest.mark.parametrize("code", [-232, -230])
async def test_window_codes(outbound: Outbound, code: int) -> None:
    outbound.zalo.inject.append(code)
    assert (await outbound.channel.send(Outgoing("zalo", "u-1", "a"))).result is Result.OUTSIDE_WINDOW
    assert len(outbound.zalo.attempts) == 1


async def test_rate_limited_asks_to_retry_later_with_a_growing_backoff(outbound: Outbound) -> None:
    outbound.zalo.inject.extend([-32, -32])
    first = await outbound.channel.send(Outgoing("zalo", "u-1", "a"))
    second = await outbound.channel.send(Outgoing("zalo", "u-1", "a"))
    assert first.result is second.result is Result.RETRY
    assert 0 < first.retry_after < second.retry_after
    assert len(outbound.zalo.attempts) == 2 and outbound.zalo.sends == []
    assert (await outbound.channel.send(Outgoing("zalo", "u-1", "a"))).result is Result.SENT


async def test_other_errors_fail(outbound: Outbound) -> None:
    outbound.zalo.inject.append(-201)
    delivery = await outbound.channel.send(Outgoing("zalo", "u-1", "a"))
    assert delivery.result is Result.FAILED and "-201" in delivery.detail


async def test_no_answer_after_sending_is_uncertain(outbound: Outbound) -> None:
    outbound.zalo.send_delay = 2.0  # the channel waits 1 s in this fixture
    delivery = await outbound.channel.send(Outgoing("zalo", "u-1", "a"))
    assert delivery.result is Result.UNCERTAIN


async def test_a_refused_connection_is_safe_to_retry(migrated_engine: AsyncEngine, zalo: FakeZalo) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings = load_settings(**{**zalo.env(), "ZALO_API_URL": f"http://127.0.0.1:{closed_port}"})
    channel = ZaloChannel(settings, RecordingInbox(), Metrics(), ZaloTokens(session_factory(migrated_engine),
                                                                               settings))
    try:
        delivery = await channel.send(Outgoing("zalo", "u-1", "a"))
    finally:
        await channel.stop()
    assert delivery.result is Result.RETRY and delivery.retry_after > 0


async def test_an_unreachable_oauth_server_asks_to_retry(migrated_engine: AsyncEngine) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    async with FakeZalo.running(first_token_uses=0) as zalo:
        settings = load_settings(**{**zalo.env(), "ZALO_OAUTH_URL": f"http://127.0.0.1:{closed_port}"})
        tokens = ZaloTokens(session_factory(migrated_engine), settings)
        channel = ZaloChannel(settings, RecordingInbox(), Metrics(), tokens)
        try:
            delivery = await channel.send(Outgoing("zalo", "u-1", "a"))
            with pytest.raises(ZaloTokenError) as raised:
                await tokens.refresh(zalo.access_token)
        finally:
            await channel.stop()
        assert delivery.result is Result.RETRY
        assert raised.value.retryable


# ---- end to end -------------------------------------------------------------------------------------------------


async def test_end_to_end_through_the_real_pipeline(sqlite_url: str, zalo: FakeZalo, knowledge: Knowledge) -> None:
    """As `troly serve` assembles it: webhook → pipeline (dedupe, handlers, store) → Zalo sender → fake API."""
    from bot.assembly import assemble
    from bot.store import migrate

    settings = load_settings(TROLY_DATABASE_URL=sqlite_url, **zalo.env())
    engine = create_engine(sqlite_url)
    runtime = Runtime(settings=settings, engine=engine, sessions=session_factory(engine), knowledge=knowledge)
    await migrate.upgrade(engine)
    services, mounts = assemble(runtime)
    [channel] = [s for s in services if s.name == "zalo"]
    assert isinstance(channel, ZaloChannel)
    [keeper] = [s for s in services if s.name == TokenKeeper.name]
    assert isinstance(keeper, TokenKeeper) and keeper.tokens is channel.tokens
    await channel.start()
    try:
        async with TestClient(TestServer(build_app(runtime, mounts))) as client:
            for body in (follow_event("follow", "u-7"), user_event("user_send_text", "u-7", "m-1", text="vneid")):
                raw, headers = signed_webhook(body, zalo.app_id, zalo.oa_secret_key)
                assert (await client.post("/zalo/webhook", data=raw, headers=headers)).status == 200
                await channel.join(timeout=10)
            answered = len(zalo.sends)
            # Zalo redelivers the same msg_id: the pipeline answers it once.
            assert (await client.post("/zalo/webhook", data=raw, headers=headers)).status == 200
            await channel.join(timeout=10)
    finally:
        await channel.stop()
        await runtime.close()
    assert answered >= 2 and len(zalo.sends) == answered
    greeting = zalo.sends[0]
    assert greeting.user_id == "u-7" and "Trợ lý số" in greeting.text
    assert 0 < len(greeting.buttons) <= 5 and all(len(b["title"]) <= 20 for b in greeting.buttons)
    assert all(b["type"] in ("oa.query.hide", "oa.open.url") for b in greeting.buttons)
