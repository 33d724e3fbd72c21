"""The Telegram channel: the real python-telegram-bot Application against a local fake Bot API server, in polling
mode and in webhook mode through our real aiohttp app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import InvalidToken

from bot.channels.base import Result
from bot.channels.pacing import WindowPacer
from bot.channels.telegram import COMMANDS, MAX_TEXT, TelegramChannel
from bot.knowledge import Knowledge
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from bot.store import chat_migrations, migrate
from bot.store.engine import create_engine, session_factory
from bot.web.app import build_app
from faq.content import load_content
from handlers.messages import Button, Incoming, Kind, Outgoing
from tests.fakes.telegram_api import FakeTelegram, Fault, utf16_len

# PTB's RetryAfter warns about its own coming int -> timedelta change while it is being built (inside PTB, on every
# 429); the channel reads both forms, with that warning silenced.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

USER = 1001
OTHER_USER = 1002
VOLUNTEER_GROUP = -1001234567890
PUBLIC_URL = "https://troly.example.vn"
SECRET = "webhook-secret-Abc_123"


@dataclass
class RecordingInbox:
    """Collects what the channel passes on; optionally slow to keep an update or to answer it, or failing, to
    show how the channel copes."""

    delay: float = 0.0  # after the update is kept (the replies' delivery)
    keep_after: float = 0.0  # before it is kept (the transaction)
    fail_on: str | None = None  # text of an Incoming that makes receive() raise before keeping it
    received: list[Incoming] = field(default_factory=list)
    active: int = 0
    most_active: int = 0
    started: list[Incoming] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()

    async def receive(self, incoming: Incoming, kept: asyncio.Future[None] | None = None) -> list[Outgoing]:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        self.started.append(incoming)
        self._notify()
        try:
            if self.keep_after:
                await asyncio.sleep(self.keep_after)
            if self.fail_on is not None and incoming.text == self.fail_on:
                raise RuntimeError("boom")
            if kept is not None:
                kept.set_result(None)
            if self.delay:
                await asyncio.sleep(self.delay)
            self.received.append(incoming)
        finally:
            self.active -= 1
            self._notify()
        return []

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            remaining = deadline - time.monotonic()
            assert remaining > 0, "timed out waiting for the inbox"
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=remaining)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Incoming]:
        await self.until(lambda: len(self.received) >= count, timeout)
        return self.received


def settings_for(fake: FakeTelegram, **overrides: Any) -> Settings:
    return load_settings(**{"TROLY_DATABASE_URL": "sqlite+aiosqlite:///:memory:",
                            "TELEGRAM_VOLUNTEER_CHAT_ID": str(VOLUNTEER_GROUP), **fake.env(), **overrides})


@dataclass
class Polling:
    channel: TelegramChannel
    inbox: RecordingInbox
    fake: FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram.run() as telegram:
        yield telegram


@pytest.fixture
async def polling(fake: FakeTelegram) -> AsyncIterator[Polling]:
    inbox = RecordingInbox()
    channel = TelegramChannel(settings_for(fake), inbox, Metrics(), request_timeout=2.0)
    await channel.start()
    try:
        yield Polling(channel, inbox, fake)
    finally:
        await channel.stop()


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    # Building the matcher takes most of a second; the channel never uses it, so one serves every test.
    return Knowledge(load_content())


@dataclass
class Webhook:
    client: TestClient[Any, Any]
    channel: TelegramChannel
    inbox: RecordingInbox
    fake: FakeTelegram
    runtime: Runtime

    async def post(self, body: Any, secret: str | None = SECRET, raw: bytes | None = None) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        data = raw if raw is not None else json.dumps(body).encode()
        response = await self.client.post("/telegram/webhook", data=data, headers=headers)
        return response.status

    async def settled(self) -> list[Incoming]:
        assert not await self.channel.join(timeout=5), "updates still being handled"
        return self.inbox.received


@pytest.fixture
async def webhook(fake: FakeTelegram, sqlite_url: str, knowledge: Knowledge) -> AsyncIterator[Webhook]:
    settings = load_settings(TROLY_DATABASE_URL=sqlite_url, TROLY_PUBLIC_URL=PUBLIC_URL,
                             TELEGRAM_WEBHOOK_SECRET=SECRET, TELEGRAM_VOLUNTEER_CHAT_ID=str(VOLUNTEER_GROUP),
                             **fake.env())
    # Runtime.build would load the FAQ again for every test; the shared Knowledge is the same thing, built once.
    engine = create_engine(sqlite_url)
    runtime = Runtime(settings=settings, engine=engine, sessions=session_factory(engine), knowledge=knowledge)
    inbox = RecordingInbox()
    channel = TelegramChannel(settings, inbox, runtime.metrics, request_timeout=2.0)
    await channel.start()
    try:
        async with TestClient(TestServer(build_app(runtime, [channel.mount]))) as client:
            yield Webhook(client, channel, inbox, fake, runtime)
    finally:
        await channel.stop()
        await runtime.close()


def bodies(fake: FakeTelegram, chat_id: int = USER) -> list[dict[str, Any]]:
    return fake.sent(chat_id)


# ---- polling: updates in ----------------------------------------------------------------------------------------


async def test_polling_turns_updates_into_incoming(polling: Polling) -> None:
    fake = polling.fake
    keys = [
        fake.queue_update(fake.updates.text(USER, "vneid quen mk lam sao")),
        fake.queue_update(fake.updates.text(USER, "/huy@troly_test_bot")),
        fake.queue_update(fake.updates.text(USER, "/start chien-dich-42")),
        fake.queue_update(fake.updates.callback(USER, "claim:12")),
        fake.queue_update(fake.updates.photo(USER, caption="ảnh CCCD")),
    ]
    received = await polling.inbox.wait_for(5)
    assert [(i.kind, i.text, i.media) for i in received] == [
        (Kind.TEXT, "vneid quen mk lam sao", None),
        (Kind.TEXT, "/huy", None),
        (Kind.TEXT, "/start", None),
        (Kind.BUTTON, "claim:12", None),
        (Kind.MEDIA, "ảnh CCCD", "photo"),
    ]
    assert [i.update_key for i in received] == [f"{polling.fake.bot_id}:{k}" for k in keys]
    assert {(i.channel, i.user_id, i.chat_id, i.display_name) for i in received} == {
        ("telegram", str(USER), None, "Lan Nguyễn")
    }
    [answer] = await fake.wait_for("answerCallbackQuery")
    assert str(answer.params["callback_query_id"]).startswith("cq-")
    # Only what we handle is asked for.
    polls = fake.calls_to("getUpdates")
    assert set(polls[0].params["allowed_updates"]) == {"message", "callback_query", "my_chat_member"}
    assert fake.calls_to("deleteWebhook"), "polling starts by making sure no webhook is set"


@pytest.mark.parametrize(
    ("kind", "media"),
    [("sticker", "sticker"), ("voice", "voice"), ("audio", "audio"), ("video", "video"), ("video_note", "video"),
     ("document", "file"), ("animation", "gif"), ("location", "location"), ("contact", "contact")],
)
async def test_every_attachment_is_media(polling: Polling, kind: str, media: str) -> None:
    polling.fake.queue_update(polling.fake.updates.media(USER, kind))
    [incoming] = await polling.inbox.wait_for(1)
    assert (incoming.kind, incoming.media, incoming.text) == (Kind.MEDIA, media, "")


async def test_blocking_and_unblocking_the_bot(polling: Polling) -> None:
    fake = polling.fake
    fake.queue_update(fake.updates.chat_member(USER, "kicked"))
    fake.queue_update(fake.updates.chat_member(USER, "member"))
    received = await polling.inbox.wait_for(2)
    assert [(i.kind, i.user_id) for i in received] == [(Kind.UNFOLLOW, str(USER)), (Kind.FOLLOW, str(USER))]


async def test_the_volunteer_group_is_heard_and_other_groups_are_not(polling: Polling) -> None:
    fake = polling.fake
    fake.queue_update(fake.updates.text(USER, "/phieu", chat_id=-100999))  # a group someone added the bot to
    fake.queue_update(fake.updates.callback(USER, "claim:1", chat_id=-100999))
    fake.queue_update(fake.updates.text(USER, "/phieu@another_bot", chat_id=VOLUNTEER_GROUP))
    fake.queue_update(fake.updates.callback(OTHER_USER, "claim:7", chat_id=VOLUNTEER_GROUP, first_name="Hùng",
                                            last_name="Trần"))
    fake.queue_update(fake.updates.text(OTHER_USER, "/phieu@troly_test_bot", chat_id=VOLUNTEER_GROUP,
                                        first_name="Hùng", last_name="Trần"))
    received = await polling.inbox.wait_for(2)
    await fake.wait_for("answerCallbackQuery", 2)  # every press is answered, heard or not
    assert not await polling.channel.join(timeout=5)
    assert [(i.kind, i.text, i.user_id, i.chat_id, i.display_name) for i in received] == [
        (Kind.BUTTON, "claim:7", str(OTHER_USER), str(VOLUNTEER_GROUP), "Hùng Trần"),
        (Kind.TEXT, "/phieu", str(OTHER_USER), str(VOLUNTEER_GROUP), "Hùng Trần"),
    ]


async def test_one_users_updates_stay_in_order_while_users_run_side_by_side(fake: FakeTelegram) -> None:
    inbox = RecordingInbox(keep_after=0.05)  # one user's turn lasts until the update is kept
    channel = TelegramChannel(settings_for(fake), inbox, Metrics())
    await channel.start()
    try:
        for n in range(5):
            fake.queue_update(fake.updates.text(USER, f"tin {n}"))
            fake.queue_update(fake.updates.text(OTHER_USER, f"tin {n}"))
        received = await inbox.wait_for(10)
    finally:
        await channel.stop()
    for user in (USER, OTHER_USER):
        assert [i.text for i in received if i.user_id == str(user)] == [f"tin {n}" for n in range(5)]
    assert inbox.most_active == 2


async def test_a_failing_inbox_is_logged_and_the_next_update_still_arrives(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = RecordingInbox(fail_on="hỏng")
    channel = TelegramChannel(settings_for(fake), inbox, Metrics())
    await channel.start()
    try:
        fake.queue_update(fake.updates.text(USER, "hỏng"))
        fake.queue_update(fake.updates.text(USER, "câu tiếp theo"))
        received = await inbox.wait_for(1)
    finally:
        await channel.stop()
    assert [i.text for i in received] == ["câu tiếp theo"]
    assert "update handling failed" in caplog.text
    assert "hỏng" not in caplog.text, "message texts are never logged"


async def test_stop_finishes_updates_in_flight_and_confirms_them(fake: FakeTelegram) -> None:
    inbox = RecordingInbox(delay=0.5)
    channel = TelegramChannel(settings_for(fake), inbox, Metrics())
    await channel.start()
    update_id = fake.queue_update(fake.updates.text(USER, "đang xử lý"))
    await inbox.until(lambda: inbox.active == 1)
    await channel.stop()
    assert [i.text for i in inbox.received] == ["đang xử lý"]
    # The updater's last getUpdates confirmed it, so a restart does not fetch it again.
    assert fake.calls_to("getUpdates")[-1].params["offset"] == update_id + 1
    assert (await channel.send(Outgoing("telegram", str(USER), "sau khi dừng"))).result is Result.RETRY


def confirmed(fake: FakeTelegram, update_id: int) -> bool:
    """Whether some getUpdates call told Telegram to forget the update (its offset is past it)."""
    return any(int(call.params.get("offset") or 0) > update_id for call in fake.calls_to("getUpdates"))


async def test_polling_confirms_an_update_only_once_it_is_kept(fake: FakeTelegram) -> None:
    inbox = RecordingInbox(keep_after=1.0)
    channel = TelegramChannel(settings_for(fake), inbox, Metrics(), poll_timeout=0.2)
    await channel.start()
    try:
        update_id = fake.queue_update(fake.updates.text(USER, "câu hỏi đang được ghi"))
        await inbox.until(lambda: inbox.active == 1)
        await asyncio.sleep(0.6)  # several short polls' worth: PTB's updater would have confirmed it by now
        assert not confirmed(fake, update_id), "confirmed before it was kept"
        await inbox.wait_for(1)
        await fake.wait_for("getUpdates", len(fake.calls_to("getUpdates")) + 1)
        assert confirmed(fake, update_id)
    finally:
        await channel.stop()


async def test_an_update_cut_off_by_a_stop_before_it_was_kept_comes_again(fake: FakeTelegram) -> None:
    slow = RecordingInbox(keep_after=30.0)  # longer than the stop waits: its handling is cancelled
    channel = TelegramChannel(settings_for(fake), slow, Metrics(), poll_timeout=0.2)
    await channel.start()
    update_id = fake.queue_update(fake.updates.text(USER, "hỏi lúc máy dừng"))
    await slow.until(lambda: slow.active == 1)
    await channel.stop()
    assert slow.received == [] and not confirmed(fake, update_id)

    restarted = RecordingInbox()
    channel = TelegramChannel(settings_for(fake), restarted, Metrics(), poll_timeout=0.2)
    await channel.start()
    try:
        [incoming] = await restarted.wait_for(1)
    finally:
        await channel.stop()
    assert (incoming.text, incoming.update_key) == ("hỏi lúc máy dừng", f"{fake.bot_id}:{update_id}")


async def test_polling_rides_out_errors_of_the_bot_api(fake: FakeTelegram) -> None:
    fake.fail_next(Fault.server_error(), "getUpdates", times=2)
    inbox = RecordingInbox()
    channel = TelegramChannel(settings_for(fake), inbox, Metrics(), poll_timeout=0.2)
    await channel.start()
    try:
        fake.queue_update(fake.updates.text(USER, "vẫn nhận được"))
        [incoming] = await inbox.wait_for(1, timeout=10)
    finally:
        await channel.stop()
    assert incoming.text == "vẫn nhận được"
    assert len(fake.calls_to("getUpdates")) >= 3


async def test_an_answer_ptb_cannot_read_does_not_end_polling(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    channel = TelegramChannel(settings_for(fake), RecordingInbox(), Metrics(), poll_timeout=0.2)
    await channel.start()
    try:
        fake.queue_update({"update_id": fake.updates.next_id(), "message": "không phải một tin nhắn"})
        polls = len(fake.calls_to("getUpdates"))
        await fake.wait_for("getUpdates", polls + 2, timeout=10)  # asked again after the failure
        assert "telegram polling failed" in caplog.text
    finally:
        await channel.stop()


async def test_the_command_menu_is_registered_in_vietnamese(polling: Polling) -> None:
    [call] = polling.fake.calls_to("setMyCommands")
    assert [(c["command"], c["description"]) for c in call.params["commands"]] == list(COMMANDS)
    assert ("xoadulieu", "Xoá dữ liệu của tôi") in list(COMMANDS)


async def test_a_failing_command_menu_does_not_stop_the_bot(fake: FakeTelegram) -> None:
    fake.fail_next(Fault.server_error(), "setMyCommands")
    inbox = RecordingInbox()
    channel = TelegramChannel(settings_for(fake), inbox, Metrics())
    await channel.start()
    try:
        assert len(fake.calls_to("setMyCommands")) == 1
        fake.queue_update(fake.updates.text(USER, "xin chào"))
        [incoming] = await inbox.wait_for(1)
        assert incoming.text == "xin chào"
        assert (await channel.send(Outgoing("telegram", str(USER), "Chào bác"))).result is Result.SENT
    finally:
        await channel.stop()


async def test_a_fast_answer_shows_no_typing(fake: FakeTelegram) -> None:
    inbox = RecordingInbox()
    channel = TelegramChannel(settings_for(fake), inbox, Metrics(), typing_after=0.3)
    await channel.start()
    try:
        fake.queue_update(fake.updates.text(USER, "câu một"))
        await inbox.wait_for(1)
        await asyncio.sleep(0.5)  # past the moment "typing…" would have been shown
        assert fake.calls_to("sendChatAction") == []
    finally:
        await channel.stop()


async def test_typing_is_shown_for_slow_answers_and_its_failure_is_harmless(fake: FakeTelegram) -> None:
    inbox = RecordingInbox(delay=0.2)
    channel = TelegramChannel(settings_for(fake), inbox, Metrics(), typing_after=0.0)
    await channel.start()
    try:
        fake.queue_update(fake.updates.text(USER, "câu một"))
        [action] = await fake.wait_for("sendChatAction")
        assert (action.params["chat_id"], action.params["action"]) == (USER, "typing")
        fake.fail_next(Fault.server_error(), "sendChatAction")
        fake.queue_update(fake.updates.text(USER, "câu hai"))
        received = await inbox.wait_for(2)
        assert len(fake.calls_to("sendChatAction")) == 2
    finally:
        await channel.stop()
    assert [i.text for i in received] == ["câu một", "câu hai"]


async def test_a_wrong_token_fails_start_and_leaves_nothing_running(fake: FakeTelegram) -> None:
    settings = load_settings(TELEGRAM_BOT_TOKEN="999:wrong", TELEGRAM_API_URL=fake.api_url)
    channel = TelegramChannel(settings, RecordingInbox(), Metrics())
    with pytest.raises(InvalidToken) as refused:
        await channel.start()
    assert "999:wrong" not in str(refused.value), "the token never reaches a log"
    assert not fake.calls_to("getUpdates")
    assert (await channel.send(Outgoing("telegram", str(USER), "x"))).result is Result.RETRY
    await channel.stop()  # harmless after a failed start


# ---- webhook: updates in ----------------------------------------------------------------------------------------


async def test_webhook_mode_registers_the_webhook_with_its_secret(webhook: Webhook) -> None:
    [call] = webhook.fake.calls_to("setWebhook")
    assert call.params["url"] == f"{PUBLIC_URL}/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert set(call.params["allowed_updates"]) == {"message", "callback_query", "my_chat_member"}
    assert not webhook.fake.calls_to("getUpdates")
    assert webhook.fake.calls_to("setMyCommands")


async def test_a_webhook_update_with_the_right_secret_reaches_the_inbox(webhook: Webhook) -> None:
    update = webhook.fake.updates.text(USER, "đăng ký khai sinh online")
    assert await webhook.post(update) == 200
    [incoming] = await webhook.settled()
    assert (incoming.kind, incoming.text, incoming.user_id) == (Kind.TEXT, "đăng ký khai sinh online", str(USER))
    assert incoming.update_key == f"{webhook.fake.bot_id}:{update['update_id']}"


def test_update_keys_are_per_bot(fake: FakeTelegram) -> None:
    """Two bots (the ward replaced a leaked token) may send the same update_id: neither is a redelivery of the
    other."""
    from telegram import Bot, Update

    data = fake.updates.text(USER, "xin chào")
    keys = set()
    for token in (fake.token, "987654321:AAF-another-bot-token-for-tests"):
        channel = TelegramChannel(settings_for(fake, TELEGRAM_BOT_TOKEN=token), RecordingInbox(), Metrics())
        incoming = channel.translate(Update.de_json(data, Bot(token))).incoming
        assert incoming is not None
        keys.add(incoming.update_key)
    assert keys == {f"{fake.bot_id}:{data['update_id']}", f"987654321:{data['update_id']}"}


async def test_a_webhook_button_press_is_answered(webhook: Webhook) -> None:
    assert await webhook.post(webhook.fake.updates.callback(USER, "rate:3:5")) == 200
    [incoming] = await webhook.settled()
    assert (incoming.kind, incoming.text) == (Kind.BUTTON, "rate:3:5")
    assert webhook.fake.calls_to("answerCallbackQuery")


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("", 401), ("wrong-secret", 403),
                                                (SECRET + "x", 403), ("bí mật", 403)])
async def test_a_webhook_without_the_right_secret_is_refused(webhook: Webhook, secret: str | None,
                                                             status: int) -> None:
    update = webhook.fake.updates.text(USER, "xin chào")
    assert await webhook.post(update, secret=secret) == status
    # Refused before the body is even looked at: garbage gets the same answer.
    assert await webhook.post(None, secret=secret, raw=b"{not json") == status
    assert await webhook.settled() == []


@pytest.mark.parametrize("raw", [
    b"{not json", b"\xff\xfe", b"[1, 2]", b'"update"', b"{}", b'{"update_id": "7"}', b'{"update_id": true}',
    b'{"update_id": 7, "message": "hi"}', b'{"update_id": 7, "message": {"text": "no chat"}}',
])
async def test_a_malformed_webhook_body_is_400_and_passes_nothing(webhook: Webhook, raw: bytes) -> None:
    assert await webhook.post(None, raw=raw) == 400
    assert await webhook.settled() == []


async def test_updates_we_do_not_answer_are_acknowledged(webhook: Webhook) -> None:
    edited = {"update_id": 5, "edited_message": webhook.fake.updates.text(USER, "sửa")["message"]}
    assert await webhook.post(edited) == 200
    assert await webhook.settled() == []


async def test_the_webhook_answers_before_the_update_is_handled(webhook: Webhook) -> None:
    webhook.inbox.delay = 1.0
    started = time.monotonic()
    assert await webhook.post(webhook.fake.updates.text(USER, "chậm")) == 200
    assert time.monotonic() - started < 0.5
    assert webhook.inbox.received == []
    assert [i.text for i in await webhook.settled()] == ["chậm"]


async def test_an_update_the_inbox_fails_to_keep_is_503_so_telegram_sends_it_again(webhook: Webhook) -> None:
    webhook.inbox.fail_on = "hỏng"
    assert await webhook.post(webhook.fake.updates.text(USER, "hỏng")) == 503
    assert await webhook.settled() == []


async def test_an_update_slow_to_keep_is_answered_200_when_the_wait_is_over(webhook: Webhook) -> None:
    webhook.channel.keep_wait = 0.3
    webhook.inbox.keep_after = 2.0  # a database stuck for 2 s
    started = time.monotonic()
    assert await webhook.post(webhook.fake.updates.text(USER, "kẹt")) == 200
    assert 0.3 <= time.monotonic() - started < 1.5
    assert [i.text for i in await webhook.settled()] == ["kẹt"]


async def test_a_body_over_one_mebibyte_is_413(webhook: Webhook) -> None:
    raw = json.dumps({"update_id": 1, "message": {"text": "x" * (1024 * 1024 + 10)}}).encode()
    assert await webhook.post(None, raw=raw) == 413
    assert await webhook.settled() == []


async def test_after_stop_the_webhook_asks_telegram_to_come_back(webhook: Webhook) -> None:
    await webhook.channel.stop()
    assert await webhook.post(webhook.fake.updates.text(USER, "muộn")) == 503
    assert webhook.inbox.received == []


# ---- sending ----------------------------------------------------------------------------------------------------


async def test_send_renders_html_and_escapes_what_users_wrote(polling: Polling) -> None:
    text = "**Bước 1:** gõ <mã> & bấm Gửi\nXem https://dichvucong.gov.vn/p/home"
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), text))
    assert delivery.result is Result.SENT
    [sent] = bodies(polling.fake)
    assert sent["parse_mode"] == "HTML"
    assert sent["text"].startswith("<b>Bước 1:</b> gõ &lt;mã&gt; &amp; bấm Gửi\n")
    assert '<a href="https://dichvucong.gov.vn/p/home">' in sent["text"]
    assert sent["_visible"] == "Bước 1: gõ <mã> & bấm Gửi\nXem https://dichvucong.gov.vn/p/home"
    assert delivery.detail == str(next(iter(polling.fake.messages))[1]), "the message id comes back"


async def test_buttons_become_an_inline_keyboard(polling: Polling) -> None:
    buttons = (Button("👍 Có", "fb:12:1"), Button("👎 Không", "fb:12:0"),
               Button("Cổng dịch vụ công", url="https://dichvucong.gov.vn"))
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), "Có giúp được bác không?", buttons,
                                                   row_size=2))
    assert delivery.result is Result.SENT
    [sent] = bodies(polling.fake)
    assert sent["reply_markup"] == {"inline_keyboard": [
        [{"text": "👍 Có", "callback_data": "fb:12:1"}, {"text": "👎 Không", "callback_data": "fb:12:0"}],
        [{"text": "Cổng dịch vụ công", "url": "https://dichvucong.gov.vn"}],
    ]}


async def test_a_long_text_is_split_with_the_keyboard_on_the_last_piece(polling: Polling) -> None:
    words = " ".join(f"bước{n:04d}" for n in range(700))  # 5,599 characters
    assert 5000 < len(words) < 8000
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), words, (Button("OK", "ok"),)))
    assert delivery.result is Result.SENT
    first, second = bodies(polling.fake)
    assert "reply_markup" not in first and second["reply_markup"]
    assert all(len(b["_visible"]) <= MAX_TEXT for b in (first, second))
    assert f"{first['_visible']} {second['_visible']}" == words


async def test_a_later_piece_is_never_sent_twice(polling: Polling) -> None:
    words = " ".join(f"bước{n:04d}" for n in range(700))
    # Rate limited on the second piece: waited out inside send, because retrying the whole message would
    # repeat the first piece.
    polling.fake.fail_next(Fault.rate_limited(1), "sendMessage", after=1)
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), words))
    assert delivery.result is Result.SENT
    assert len(polling.fake.calls_to("sendMessage")) == 3 and len(bodies(polling.fake)) == 2
    # Blocked on the second piece: reported as it is, with what got through.
    polling.fake.fail_next(Fault.blocked(), "sendMessage", after=1)
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), words))
    assert delivery.result is Result.BLOCKED
    assert "after 1 of 2 pieces" in delivery.detail


async def test_emoji_count_twice_against_the_limit(polling: Polling) -> None:
    text = " ".join(["😀"] * 3000)  # 5,999 characters but 8,999 UTF-16 units
    assert (await polling.channel.send(Outgoing("telegram", str(USER), text))).result is Result.SENT
    sent = bodies(polling.fake)
    assert len(sent) == 3
    assert all(utf16_len(b["_visible"]) <= MAX_TEXT for b in sent)


@pytest.mark.parametrize(("fault", "result"), [
    (Fault.blocked(), Result.BLOCKED),
    (Fault.deactivated(), Result.BLOCKED),
    (Fault.chat_not_found(), Result.FAILED),
    (Fault.server_error(), Result.UNCERTAIN),
])
async def test_platform_errors_map_to_what_happens_next(polling: Polling, fault: Fault, result: Result) -> None:
    polling.fake.fail_chat(USER, fault)
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), "Thông báo"))
    assert delivery.result is result
    assert bodies(polling.fake) == []
    assert (await polling.channel.send(Outgoing("telegram", str(OTHER_USER), "Thông báo"))).result is Result.SENT


@pytest.mark.parametrize("timedelta_mode", [False, True], ids=["int", "timedelta"])
async def test_429_is_retry_after_the_time_telegram_asks(polling: Polling, monkeypatch: pytest.MonkeyPatch,
                                                         timedelta_mode: bool) -> None:
    if timedelta_mode:
        monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB's coming default: retry_after as a timedelta
    polling.fake.fail_next(Fault.rate_limited(17), "sendMessage")
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), "Nhắc lịch"))
    assert (delivery.result, delivery.retry_after) == (Result.RETRY, 17.0)
    assert (await polling.channel.send(Outgoing("telegram", str(USER), "Nhắc lịch"))).result is Result.SENT


async def test_a_timed_out_send_is_uncertain_and_maybe_delivered(fake: FakeTelegram) -> None:
    channel = TelegramChannel(settings_for(fake), RecordingInbox(), Metrics(), request_timeout=0.3)
    await channel.start()
    try:
        fake.fail_next(Fault.slow(1.0), "sendMessage")
        delivery = await channel.send(Outgoing("telegram", str(USER), "Chậm"))
    finally:
        await channel.stop()
    assert delivery.result is Result.UNCERTAIN
    assert [b["_visible"] for b in bodies(fake)] == ["Chậm"], "it did arrive: resending would duplicate it"


async def test_an_unreachable_api_is_retry() -> None:
    async with FakeTelegram.run() as api:
        # Webhook mode, so no poller keeps knocking while the API is down.
        settings = settings_for(api, TROLY_PUBLIC_URL=PUBLIC_URL, TELEGRAM_WEBHOOK_SECRET=SECRET)
        channel = TelegramChannel(settings, RecordingInbox(), Metrics(), request_timeout=1.0)
        await channel.start()
    try:
        # The API is gone: the connection is refused, nothing left, so trying again later is safe.
        delivery = await channel.send(Outgoing("telegram", str(USER), "Xin chào"))
    finally:
        await channel.stop()
    assert delivery.result is Result.RETRY
    assert api.token not in delivery.detail


async def test_a_migrated_group_is_retried_once_at_its_new_id(polling: Polling) -> None:
    supergroup = -1009876543210
    polling.fake.fail_chat(VOLUNTEER_GROUP, Fault.migrated(supergroup))
    delivery = await polling.channel.send(Outgoing("telegram", str(VOLUNTEER_GROUP), "Phiếu #3 đang chờ"))
    assert delivery.result is Result.SENT
    assert [b["_visible"] for b in bodies(polling.fake, supergroup)] == ["Phiếu #3 đang chờ"]
    # Known from now on: straight to the new id, and the new group's presses are heard.
    await polling.channel.send(Outgoing("telegram", str(VOLUNTEER_GROUP), "Phiếu #4 đang chờ"))
    assert len(bodies(polling.fake, supergroup)) == 2
    assert len(polling.fake.calls_to("sendMessage")) == 3
    polling.fake.queue_update(polling.fake.updates.callback(USER, "claim:4", chat_id=supergroup))
    [incoming] = await polling.inbox.wait_for(1)
    assert incoming.chat_id == str(supergroup)


async def test_posts_to_a_group_keep_to_its_limit_and_private_chats_are_not_held(fake: FakeTelegram) -> None:
    # Telegram's 20 a minute to a group, scaled down: 3 in any 0.6 s.
    fake.group_limit = (3, 0.6)
    channel = TelegramChannel(settings_for(fake), RecordingInbox(), Metrics(), group_messages=(3, 0.6))
    await channel.start()
    try:
        posts = [channel.send(Outgoing("telegram", str(VOLUNTEER_GROUP), f"Phiếu #{n} đang chờ")) for n in range(5)]
        deliveries = await asyncio.gather(*posts)
        private = await asyncio.gather(*(channel.send(Outgoing("telegram", str(USER), f"Câu {n}")) for n in range(5)))
        sent = fake.calls_to("sendMessage")
    finally:
        await channel.stop()
    assert [d.result for d in deliveries + private] == [Result.SENT] * 10
    assert fake.flood_refusals == 0
    group_times = [c.at for c in sent if c.params["chat_id"] == VOLUNTEER_GROUP]
    assert [b["_visible"] for b in bodies(fake, VOLUNTEER_GROUP)] == [f"Phiếu #{n} đang chờ" for n in range(5)]
    assert group_times[3] - group_times[0] >= 0.55, "the fourth post waited for the first to leave the window"
    user_times = [c.at for c in sent if c.params["chat_id"] == USER]
    assert user_times[-1] - user_times[0] < 0.3, "private chats are not paced"


async def test_without_pacing_the_same_group_burst_meets_429(fake: FakeTelegram) -> None:
    fake.group_limit = (3, 0.6)
    channel = TelegramChannel(settings_for(fake), RecordingInbox(), Metrics(), group_messages=None)
    await channel.start()
    try:
        deliveries = [await channel.send(Outgoing("telegram", str(VOLUNTEER_GROUP), f"Phiếu #{n}")) for n in range(5)]
    finally:
        await channel.stop()
    assert [d.result for d in deliveries] == [Result.SENT] * 3 + [Result.RETRY] * 2
    assert fake.flood_refusals == 2


async def test_the_pacer_counts_each_message_from_the_end_of_its_send() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        now[0] += seconds

    pacer = WindowPacer(2, 60.0, clock=lambda: now[0], sleep=sleep)

    async def send(chat: int, taking: float) -> None:
        async with pacer.turn(chat):
            now[0] += taking  # the request on its way: Telegram counts it somewhere in here

    await send(-1, 2.0)  # ends at 102
    now[0] += 10
    await send(-1, 1.0)  # ends at 113
    await send(-2, 0.0)  # another group has its own window
    assert waits == []
    await send(-1, 0.0)
    assert waits == [49.0], "the third waits until the end of the first is a minute old, not its start"
    await send(-1, 0.0)
    assert waits == [49.0, 11.0]


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(sqlite_url)
    await migrate.upgrade(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def restarted(fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession],
                    inbox: RecordingInbox) -> TelegramChannel:
    channel = TelegramChannel(settings_for(fake), inbox, Metrics(), request_timeout=2.0, sessions=sessions)
    await channel.start()
    return channel


async def test_the_volunteer_groups_new_id_is_remembered_across_a_restart(
    fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    supergroup = -1009876543210
    fake.fail_chat(VOLUNTEER_GROUP, Fault.migrated(supergroup))
    before = await restarted(fake, sessions, RecordingInbox())
    try:
        assert (await before.send(Outgoing("telegram", str(VOLUNTEER_GROUP), "Phiếu #3"))).result is Result.SENT
    finally:
        await before.stop()

    inbox = RecordingInbox()
    after = await restarted(fake, sessions, inbox)
    try:
        # Heard before the bot has written to the group again, and written to at its new id straight away.
        fake.queue_update(fake.updates.callback(USER, "claim:3", chat_id=supergroup))
        [incoming] = await inbox.wait_for(1)
        assert incoming.chat_id == str(supergroup)
        assert (await after.send(Outgoing("telegram", str(VOLUNTEER_GROUP), "Phiếu #4"))).result is Result.SENT
    finally:
        await after.stop()
    assert [call.params["chat_id"] for call in fake.calls_to("sendMessage")] == [
        VOLUNTEER_GROUP, supergroup, supergroup]


async def test_the_migration_notice_in_the_volunteer_group_is_remembered_and_other_groups_are_not_followed(
    fake: FakeTelegram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    supergroup, other, others_new = -1009876543210, -4_000_000_001, -1004000000001
    before = await restarted(fake, sessions, RecordingInbox())
    try:
        for old, new in ((VOLUNTEER_GROUP, supergroup), (other, others_new)):
            fake.queue_update(fake.updates.message(USER, chat_id=old, migrate_to_chat_id=new))
        await fake.wait_for("getUpdates", 2)  # fetched; the stop lets PTB hand over what it fetched
    finally:
        await before.stop()
    async with sessions() as session:
        assert await chat_migrations.load(session) == {VOLUNTEER_GROUP: supergroup}

    inbox = RecordingInbox()
    after = await restarted(fake, sessions, inbox)
    try:
        for chat in (others_new, supergroup):
            fake.queue_update(fake.updates.callback(USER, "claim:5", chat_id=chat))
        # In update order: the other group's press, queued first, was passed over before this one arrived.
        await inbox.wait_for(1)
    finally:
        await after.stop()
    assert [i.chat_id for i in inbox.received] == [str(supergroup)]


async def test_html_refused_by_telegram_falls_back_to_plain_text_once(polling: Polling) -> None:
    polling.fake.fail_next(Fault.cannot_parse(), "sendMessage")
    delivery = await polling.channel.send(Outgoing("telegram", str(USER), "**Lưu ý:** mang CCCD"))
    assert delivery.result is Result.SENT
    first, second = polling.fake.calls_to("sendMessage")
    assert first.params["parse_mode"] == "HTML"
    assert "parse_mode" not in second.params
    assert second.params["text"] == "Lưu ý: mang CCCD"
    polling.fake.fail_next(Fault.cannot_parse(), "sendMessage", times=2)
    assert (await polling.channel.send(Outgoing("telegram", str(USER), "x"))).result is Result.FAILED
    assert len(polling.fake.calls_to("sendMessage")) == 4, "plain text is tried once, not again and again"


async def test_the_group_post_is_edited_when_claimed(polling: Polling) -> None:
    channel, fake = polling.channel, polling.fake
    post = await channel.send(Outgoing("telegram", str(VOLUNTEER_GROUP), "Phiếu #5 đang chờ",
                                       (Button("Nhận", "claim:5"),), ref="ticket-post:5"))
    assert post.result is Result.SENT and post.detail.isdigit()
    edit = Outgoing("telegram", str(VOLUNTEER_GROUP), "Phiếu #5: **Hùng** đã nhận", edit_message_id=post.detail)
    assert (await channel.send(edit)).result is Result.SENT
    stored = fake.messages[(VOLUNTEER_GROUP, int(post.detail))]
    assert stored["_visible"] == "Phiếu #5: Hùng đã nhận"
    assert stored.get("reply_markup") is None, "the claim button is gone"
    assert (await channel.send(edit)).result is Result.SENT, "an unchanged edit is not a failure"
    gone = await channel.edit(VOLUNTEER_GROUP, 999, "x")
    assert gone.result is Result.FAILED


async def test_a_button_without_payload_stays_within_64_bytes(polling: Polling) -> None:
    title = "Hướng dẫn kích hoạt tài khoản định danh điện tử mức độ 2 trên VNeID"
    assert len(title.encode()) > 64
    assert (await polling.channel.send(Outgoing("telegram", str(USER), "Chọn", (Button(title),)))).result \
        is Result.SENT
    [sent] = bodies(polling.fake)
    data = sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(data.encode()) <= 64 and title.startswith(data)


async def test_an_empty_message_is_not_sent(polling: Polling) -> None:
    assert (await polling.channel.send(Outgoing("telegram", str(USER), "  \n "))).result is Result.FAILED
    assert not polling.fake.calls_to("sendMessage")


# ---- the fake keeps the real API's limits ---------------------------------------------------------------------------


async def test_the_fake_refuses_what_telegram_refuses(fake: FakeTelegram) -> None:
    url = f"{fake.api_url}{fake.token}/sendMessage"
    long_data = json.dumps({"inline_keyboard": [[{"text": "x", "callback_data": "đ" * 33}]]})
    async with aiohttp.ClientSession() as http:
        cases = [
            ({"chat_id": "1", "text": "x" * (MAX_TEXT + 1)}, "Bad Request: message is too long"),
            ({"chat_id": "1", "text": "ok", "reply_markup": long_data}, "Bad Request: BUTTON_DATA_INVALID"),
            ({"chat_id": "1", "text": "<b>x", "parse_mode": "HTML"}, "can't parse entities"),
        ]
        for form, description in cases:
            async with http.post(url, data=form) as response:
                body = await response.json()
                assert (response.status, body["ok"]) == (400, False)
                assert description in body["description"]
        async with http.post(url, json={"chat_id": 1, "text": "x" * MAX_TEXT}) as response:
            assert response.status == 200
        async with http.post(f"{fake.api_url}0:bad/getMe") as response:
            assert response.status == 401


async def test_an_update_missing_what_telegram_always_sends_is_400(webhook: Webhook) -> None:
    # Found by the fuzzer: PTB builds a ChatMemberUpdated from {} that our translation cannot read.
    assert await webhook.post(None, raw=b'{"update_id": 9, "my_chat_member": {}}') == 400
    assert await webhook.settled() == []
