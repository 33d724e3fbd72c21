"""Telegram, on python-telegram-bot 22: updates in (long polling, or the webhook our aiohttp app serves), replies out.

PTB's `Application` is driven by hand inside our server (initialize, start … stop, shutdown; platforms/telegram.md).
Polling: our `Poller` (bot/channels/telegram_polling.py) fetches and hands every update to `_accept`, and confirms
it to Telegram only once it is kept. Webhook: our route checks `X-Telegram-Bot-Api-Secret-Token` in constant time
before it reads the body, parses, calls `_accept` too, and answers 200 once the update is kept. `_accept`
translates the update into an `Incoming` and hands it to the inbox in a tracked task, one at a time per user (in
arrival order) so a quick second message cannot race the first through the user's state.
Deduplicating on `update_id`, storing and deciding replies are the inbox's job.

Outbound: neutral markup rendered as HTML, buttons as an inline keyboard, texts over 4096 characters split, and
every Bot API error mapped to a `Delivery` the pipeline and the outbox act on. No rate limiter here: interactive
replies must not wait behind broadcast pacing, which the outbox does. PTB talks HTTP through `AiohttpRequest`
rather than its httpx default: about three times the replies per second on one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import (
    BotCommand,
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application

from bot.channels.base import Delivery, Inbox, Result, malformed_webhook, refuse_webhook, send_pieces
from bot.channels.inflight import Handling, InFlight
from bot.channels.markup import split, to_html, to_plain
from bot.channels.pacing import WindowPacer
from bot.channels.telegram_http import AiohttpRequest, RequestNotSent, retry_after_seconds
from bot.channels.telegram_polling import Poller
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store import chat_migrations
from handlers.messages import Button, Incoming, Kind, Outgoing

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
MAX_TEXT = 4096  # UTF-16 code units after entity parsing
MAX_CALLBACK_DATA = 64  # bytes
COMMANDS = (
    ("start", "Bắt đầu"),
    ("trogiup", "Hướng dẫn"),
    ("huy", "Ngừng nhận thông báo"),
    ("xoadulieu", "Xoá dữ liệu của tôi"),
    ("gapnguoi", "Gặp người hỗ trợ"),
    ("huyyeucau", "Huỷ yêu cầu gặp người hỗ trợ"),
)
# Server.stop gives a service 4 s: in-flight updates get most of it, the rest is for closing.
STOP_TIMEOUT = 3.0
# Updates in progress at once: being handled, or waiting for their replies to reach the platform (a round trip
# of 50-200 ms to Telegram, so this, not the CPU, would cap throughput if it were small). More wait their turn.
# The database stage has its own queue in the Pipeline.
MAX_CONCURRENT = 512
# How long a webhook post waits for its update to be kept (committed, replies journalled) before answering 200
# anyway. Telegram would wait about 60 s; a kept update normally takes milliseconds, and a longer wait would only
# hold Telegram's connections while the database is stuck.
KEEP_WAIT = 10.0
OPTIONAL_CALL_TIMEOUT = 5.0

MEDIA = (  # checked in this order: an animation also carries `document`, a venue also carries `location`
    ("photo", "photo"),
    ("sticker", "sticker"),
    ("voice", "voice"),
    ("audio", "audio"),
    ("video_note", "video"),
    ("video", "video"),
    ("animation", "gif"),
    ("document", "file"),
    ("venue", "location"),
    ("location", "location"),
    ("contact", "contact"),
    ("poll", "poll"),
    ("dice", "dice"),
)
_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,64})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?P<rest>(?:\s.*)?)$", re.DOTALL)
# Connections to the Bot API for replies (PTB's own default for its httpx pool).
MAX_CONNECTIONS = 256
# Telegram's guidance for one group (platforms/telegram.md): sends and edits to the volunteers' group keep to it.
GROUP_MESSAGES = (20, 60.0)


@dataclass(frozen=True, slots=True)
class Translation:
    """What one update means: the message for the inbox (None: nobody needs to hear of it), the button press to
    acknowledge, and the private chat that may be shown "typing…" while the answer is prepared."""

    incoming: Incoming | None
    callback_query_id: str | None = None
    typing_chat: int | None = None


class TelegramChannel:
    """The Telegram channel: a `Service` (owns PTB's Application and the background tasks) and a `Sender`."""

    name = "telegram"
    channel = "telegram"

    def __init__(
        self,
        settings: Settings,
        inbox: Inbox,
        metrics: Metrics,
        *,
        request_timeout: float = 10.0,
        poll_timeout: float = 10.0,
        typing_after: float = 0.8,
        keep_wait: float = KEEP_WAIT,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        group_messages: tuple[int, float] | None = GROUP_MESSAGES,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.metrics = metrics
        token = settings.telegram_bot_token
        # The part of the token before the colon: the bot's own (public) user id.
        self._bot_id = token.get_secret_value().partition(":")[0] if token is not None else ""
        self._request_timeout = request_timeout
        self._poll_timeout = poll_timeout
        # "typing…" only when an answer is slow: a fast one would arrive before the indicator and leave it
        # showing for five seconds after the reply.
        self._typing_after = typing_after
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._requests: tuple[AiohttpRequest, ...] = ()
        self._polling: asyncio.Task[None] | None = None
        # Updates are taken while running; replies go out from initialize to shutdown, so the updates still being
        # handled during stop() can answer.
        self._accepting = False
        self._sending = False
        self._inflight = InFlight(self.channel, MAX_CONCURRENT)
        self.keep_wait = keep_wait
        # The volunteers' group, if it became a supergroup (ChatMigrated): old id -> new id. Read from the
        # database at start and written there when learnt (without `sessions`, kept in memory only).
        self._migrated: dict[int, int] = {}
        self._sessions = sessions
        # (messages, seconds) allowed to one group; None: no pacing, 429s alone slow us down.
        self._group_pacer = WindowPacer(*group_messages) if group_messages is not None else None

    # ---- Service ------------------------------------------------------------------------------------------

    @property
    def webhook_mode(self) -> bool:
        return self.settings.telegram_webhook_mode

    async def start(self) -> None:
        token = self.settings.telegram_bot_token
        if token is None:
            raise RuntimeError("TELEGRAM_BOT_TOKEN is not set")
        api_url = self.settings.telegram_api_url.rstrip("/")
        connect = min(5.0, self._request_timeout)
        self._requests = (
            AiohttpRequest(limit=MAX_CONNECTIONS, connect_timeout=connect, read_timeout=self._request_timeout),
            AiohttpRequest(limit=2, connect_timeout=connect, read_timeout=self._request_timeout),
        )
        builder = (
            Application.builder()
            .token(token.get_secret_value())
            .base_url(api_url)
            .base_file_url(_file_url(api_url))
            .job_queue(None)  # our scheduler lives elsewhere; PTB's would be one more thread of timers
            .request(self._requests[0])
            .get_updates_request(self._requests[1])
            .updater(None)  # updates come from our aiohttp app (webhook) or our Poller, never PTB's own
        )
        app = builder.build()
        self._app = app
        try:
            try:
                await app.initialize()  # getMe: a wrong token or an unreachable API stops here, loudly
            except InvalidToken:
                raise InvalidToken("the Bot API refused TELEGRAM_BOT_TOKEN") from None  # PTB's message quotes it
            self._sending = True
            await self._recall_migrations()
            if self.webhook_mode:
                await self._set_webhook(app)
            else:
                await app.bot.delete_webhook(drop_pending_updates=False)  # getUpdates is refused while one is set
            await app.start()
            self._accepting = True
            if not self.webhook_mode:
                poller = Poller(app.bot, self._accept, timeout=self._poll_timeout, allowed_updates=ALLOWED_UPDATES)
                self._polling = asyncio.create_task(poller.run(), name="telegram:polling")
        except BaseException:
            self._accepting = False
            await self._close_app()
            raise
        await self._optional("setMyCommands", app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS]))
        log.info("telegram started", extra={"mode": "webhook" if self.webhook_mode else "polling",
                                            "bot": app.bot.username})

    async def _set_webhook(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        public_url, secret = self.settings.public_url, self.settings.telegram_webhook_secret
        assert public_url is not None and secret is not None  # webhook_mode says so
        await app.bot.set_webhook(
            url=public_url.rstrip("/") + WEBHOOK_PATH,
            secret_token=secret.get_secret_value(),
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def stop(self) -> None:
        # New webhook posts get 503 (Telegram retries them), polling stops (what it fetched and is not yet kept
        # stays unconfirmed, so Telegram sends it again), and then the accepted updates are finished.
        self._accepting = False
        await self._stop_polling()
        app = self._app
        if app is not None:
            try:
                if app.running:
                    await app.stop()
            except Exception:
                log.exception("telegram did not stop cleanly")
        await self._inflight.finish(STOP_TIMEOUT)
        await self._close_app()

    async def _stop_polling(self) -> None:
        polling, self._polling = self._polling, None
        if polling is not None:
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)

    async def _close_app(self) -> None:
        self._sending = False
        await self._stop_polling()
        app, self._app = self._app, None
        if app is None:
            return
        try:
            if app.running:
                await app.stop()
            await app.shutdown()
        except Exception:
            log.exception("telegram shutdown failed")
        # PTB skips its shutdown when initialize() failed half way, with the HTTP clients already open.
        for request in self._requests:
            await request.shutdown()
        self._requests = ()

    async def join(self, timeout: float | None = None) -> set[asyncio.Task[None]]:
        """Wait until the updates accepted so far are handled; returns the tasks still running at the timeout."""
        return await self._inflight.join(timeout)

    async def _optional(self, what: str, call: Any) -> None:
        """A call the bot can live without (command menu, chat action): logged when it fails, never raised."""
        try:
            await asyncio.wait_for(call, timeout=OPTIONAL_CALL_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("telegram optional call failed", extra={"call": what, "error": type(exc).__name__})

    # ---- inbound ------------------------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        if self.webhook_mode:
            app.router.add_post(WEBHOOK_PATH, self.webhook)

    async def webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.telegram_webhook_secret
        given = request.headers.get(SECRET_HEADER)
        if not given:
            return self._refuse(401, "missing secret token")
        if secret is None:
            return self._refuse(503, "webhook not configured")
        # Bytes on both sides: compare_digest refuses non-ASCII str, and a header may carry anything.
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret.get_secret_value().encode()):
            return self._refuse(403, "wrong secret token")
        if not self._accepting or self._app is None:
            # Starting or stopping: Telegram retries later, and another process (or our restart) handles it.
            return self._refuse(503, "not ready")
        raw = await request.read()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return self._malformed("not JSON")
        if not isinstance(data, dict) or not _is_update_id(data.get("update_id")):
            return self._malformed("not an update")
        try:
            update = Update.de_json(data, self._app.bot)
            work = self.translate(update)  # refused here, with a 400, when it cannot be understood
        except Exception:
            return self._malformed("not an update")
        handling = self._accept(update, work)
        if handling is not None and not await handling.kept_within(self.keep_wait):
            return self._refuse(503, "not kept")  # Telegram sends it again
        return web.Response(status=200)

    def _refuse(self, status: int, reason: str) -> web.Response:
        return refuse_webhook(self.metrics, self.channel, status, reason)

    def _malformed(self, reason: str) -> web.Response:
        return malformed_webhook(self.metrics, self.channel, reason)

    def _accept(self, update: Update, work: Translation | None = None) -> Handling | None:
        """Translate (unless the webhook already did) and schedule; never raises, never waits. Returns the
        handling of what goes to the inbox (None when nothing does)."""
        if work is None:
            try:
                work = self.translate(update)
            except Exception:
                log.exception("telegram update not understood", extra={"update_id": update.update_id})
                self.metrics.updates.labels(self.channel, "error").inc()
                return None
        if work.callback_query_id is not None:
            # The spinner on the pressed button stops now, not after the user's earlier messages are handled.
            self._inflight.track(self._answer_callback(work.callback_query_id), f"telegram:answer:{update.update_id}")
        incoming = work.incoming
        if incoming is None:
            self.metrics.updates.labels(self.channel, "ignored").inc()
            return None
        typing_chat = work.typing_chat
        return self._inflight.handle(incoming.user_id, lambda kept: self._process(incoming, typing_chat, kept),
                                     f"telegram:{update.update_id}")

    async def _answer_callback(self, query_id: str) -> None:
        app = self._app
        if app is not None:
            await self._optional("answerCallbackQuery", app.bot.answer_callback_query(query_id))

    async def _process(self, incoming: Incoming, typing_chat: int | None, kept: asyncio.Future[None]) -> None:
        typing = (asyncio.get_running_loop().call_later(self._typing_after, self._show_typing, typing_chat)
                  if typing_chat is not None else None)
        try:
            await self.inbox.receive(incoming, kept)
        finally:
            if typing is not None:
                typing.cancel()

    def _show_typing(self, chat_id: int) -> None:
        """The answer is slow in coming: show "typing…" (a timer callback, so a fast answer costs no task)."""
        app = self._app
        if app is not None:
            self._inflight.track(
                self._optional("sendChatAction", app.bot.send_chat_action(chat_id, ChatAction.TYPING)),
                f"telegram:typing:{chat_id}")

    # ---- translating updates ------------------------------------------------------------------------------

    def translate(self, update: Update) -> Translation:
        """What one update means for the inbox (None when nobody needs to hear about it).

        PTB builds objects from whatever JSON it is given; an update missing the fields Telegram always sends
        raises `MalformedUpdate` here, so the webhook can answer 400."""
        try:
            return self._translate(update)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise MalformedUpdate(f"update {update.update_id}: {type(exc).__name__}") from exc

    def _translate(self, update: Update) -> Translation:
        # Per bot, as Telegram's notes ask: a new bot (a token replaced after a leak) counts its update_ids afresh,
        # and they must not meet the old bot's keys, kept for days, as "already handled".
        key = f"{self._bot_id}:{update.update_id}"
        if update.callback_query is not None:
            return self._button(update.callback_query, key)
        if update.message is not None:
            incoming = self._message(update.message, key)
            private_text = incoming is not None and incoming.kind is Kind.TEXT and incoming.chat_id is None
            return Translation(incoming, typing_chat=update.message.chat.id if private_text else None)
        if update.my_chat_member is not None:
            return Translation(_membership(update.my_chat_member, key))
        return Translation(None)  # edits, channel posts and the rest: nothing we answer

    def _group_allowed(self, chat_id: int) -> bool:
        """Only the volunteers' group speaks to the bot: a group someone else added it to stays unheard."""
        configured = self.settings.telegram_volunteer_chat_id
        if configured is None:
            return False
        return chat_id in (configured, self._migrated.get(configured))

    def _button(self, query: CallbackQuery, key: str) -> Translation:
        user = query.from_user
        message = query.message
        if user.is_bot or query.data is None:
            return Translation(None, query.id)
        chat_id: str | None = None
        if message is not None and message.chat.type != ChatType.PRIVATE:
            if not self._group_allowed(message.chat.id):
                return Translation(None, query.id)
            chat_id = str(message.chat.id)
        incoming = Incoming("telegram", str(user.id), Kind.BUTTON, text=query.data,
                            display_name=user.full_name or None, chat_id=chat_id, update_key=key)
        return Translation(incoming, query.id)

    def _message(self, message: Message, key: str) -> Incoming | None:
        user = message.from_user
        chat = message.chat
        if message.migrate_to_chat_id is not None:
            self._learn_migration(chat.id, message.migrate_to_chat_id)
            return None
        if user is None or user.is_bot:
            return None
        private = chat.type == ChatType.PRIVATE
        if not private and not self._group_allowed(chat.id):
            return None
        chat_id = None if private else str(chat.id)
        common: dict[str, Any] = {"display_name": user.full_name or None, "chat_id": chat_id, "update_key": key}
        if message.text is not None:
            text = self._command(message.text, private)
            if text is None:
                return None
            return Incoming("telegram", str(user.id), Kind.TEXT, text=text, **common)
        for attribute, media in MEDIA:
            if getattr(message, attribute, None):
                return Incoming("telegram", str(user.id), Kind.MEDIA, text=message.caption or "", media=media,
                                **common)
        return None  # service messages (members joined, pinned…) and kinds we do not know

    def _command(self, text: str, private: bool) -> str | None:
        """"/huy@TroLyBot" → "/huy"; "/start <deep-link payload>" → "/start"; None for another bot's command."""
        match = _COMMAND.match(text)
        if match is None:
            return text
        addressed = match.group("bot")
        if addressed and not private:
            me = self._app.bot.username if self._app is not None else None
            if me is None or addressed.lower() != me.lower():
                return None  # a group command for another bot
        name = match.group("name")
        if name.lower() == "start":
            return "/start"
        return f"/{name}{match.group('rest')}"

    def _learn_migration(self, old: int, new: int) -> None:
        """The volunteers' group moved to a new id: follow it now, and after a restart."""
        if old != self.settings.telegram_volunteer_chat_id or self._migrated.get(old) == new:
            return  # the bot writes to no other group, and hears none
        self._migrated[old] = new
        log.warning("the volunteers' telegram group became a supergroup; the bot follows it, and "
                    "TELEGRAM_VOLUNTEER_CHAT_ID can be set to the new id",
                    extra={"old_chat_id": old, "new_chat_id": new})
        if self._sessions is not None:
            self._inflight.track(self._store_migration(self._sessions, old, new), "telegram:migration")

    async def _store_migration(self, sessions: async_sessionmaker[AsyncSession], old: int, new: int) -> None:
        try:
            async with sessions() as session, session.begin():
                await chat_migrations.remember(session, old, new, datetime.now(UTC))
        except Exception:
            log.exception("the volunteers' group's new id was not stored: set TELEGRAM_VOLUNTEER_CHAT_ID to it "
                          "before the next restart", extra={"old_chat_id": old, "new_chat_id": new})

    async def _recall_migrations(self) -> None:
        if self._sessions is None:
            return
        try:
            async with self._sessions() as session:
                self._migrated.update(await chat_migrations.load(session))
        except Exception:
            log.exception("telegram group migrations not read; the volunteers' group is followed when it is next "
                          "written to")

    # ---- Sender -------------------------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> Delivery:
        if message.edit_message_id is not None:
            return await self.edit(message.user_id, message.edit_message_id, message.text, message.buttons,
                                   message.row_size)
        app = self._app
        if app is None or not self._sending:
            return Delivery(Result.RETRY, retry_after=5.0, detail="telegram not running")
        pieces = _pieces(message.text.strip())
        if not pieces:
            return Delivery(Result.FAILED, detail="empty message")
        keyboard = keyboard_for(message.buttons, message.row_size)
        target: int | str = self._target(message.user_id)

        async def send_piece(index: int) -> Delivery:
            nonlocal target  # a chat that became a supergroup is followed for the remaining pieces
            markup = keyboard if index == len(pieces) - 1 else None
            delivery, target = await self._deliver(app, target, pieces[index], markup, edit_of=None)
            return delivery

        return await send_pieces(len(pieces), send_piece)

    async def edit(
        self,
        chat_id: str | int,
        message_id: str | int,
        text: str,
        buttons: Sequence[Button] = (),
        row_size: int = 1,
    ) -> Delivery:
        """Replace an earlier message's text and buttons (the volunteer-group post of a ticket)."""
        app = self._app
        if app is None or not self._sending:
            return Delivery(Result.RETRY, retry_after=5.0, detail="telegram not running")
        pieces = _pieces(text.strip())
        if not pieces:
            return Delivery(Result.FAILED, detail="empty message")
        if len(pieces) > 1:
            log.warning("telegram edit text too long; cut to one message", extra={"length": len(text)})
        try:
            target_id = int(message_id)
        except ValueError:
            return Delivery(Result.FAILED, detail="bad message id")
        delivery, _ = await self._deliver(app, self._target(str(chat_id)), pieces[0],
                                          keyboard_for(tuple(buttons), row_size), edit_of=target_id)
        return delivery

    def _target(self, user_id: str) -> int | str:
        try:
            chat = int(user_id)
        except ValueError:
            return user_id  # "@channelusername"
        return self._migrated.get(chat, chat)

    async def _deliver(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        target: int | str,
        piece: str,
        markup: InlineKeyboardMarkup | None,
        *,
        edit_of: int | None,
    ) -> tuple[Delivery, int | str]:
        """One message (or edit), with the one-time fallbacks: to a migrated chat's new id, to plain text."""
        plain = False
        migrated = False
        while True:
            text, mode = (to_plain(piece), None) if plain else (to_html(piece), ParseMode.HTML)
            paced = (self._group_pacer.turn(target) if self._group_pacer is not None and _is_group(target)
                     else contextlib.nullcontext())
            try:
                async with paced:
                    if edit_of is None:
                        sent = await app.bot.send_message(target, text, parse_mode=mode, reply_markup=markup)
                    else:
                        edited = await app.bot.edit_message_text(text, chat_id=target, message_id=edit_of,
                                                                 parse_mode=mode, reply_markup=markup)
                        sent = edited if isinstance(edited, Message) else None
                message_id = str(sent.message_id) if sent is not None else str(edit_of or "")
                return Delivery(Result.SENT, detail=message_id), target
            except ChatMigrated as exc:
                if migrated or not isinstance(target, int):
                    return Delivery(Result.FAILED, detail="chat migrated again"), target
                migrated = True
                self._learn_migration(target, int(exc.new_chat_id))
                target = int(exc.new_chat_id)
            except BadRequest as exc:
                reason = exc.message.lower()
                if "can't parse entities" in reason and not plain:
                    log.warning("telegram refused our HTML; sending plain text", extra={"reason": exc.message})
                    plain = True
                    continue
                if edit_of is not None and "message is not modified" in reason:
                    return Delivery(Result.SENT, detail=str(edit_of)), target
                return _failure(exc), target
            except TelegramError as exc:
                return _failure(exc), target


class MalformedUpdate(ValueError):
    """An update that parsed as JSON but lacks what Telegram always sends."""


# ---- mapping ------------------------------------------------------------------------------------------------


def _failure(exc: TelegramError) -> Delivery:
    """A Bot API error as what the pipeline and the outbox do next."""
    detail = f"{type(exc).__name__}: {exc.message}"[:300]
    if isinstance(exc, RetryAfter):
        return Delivery(Result.RETRY, retry_after=retry_after_seconds(exc), detail=detail)
    if isinstance(exc, Forbidden):
        return Delivery(Result.BLOCKED, detail=detail)  # blocked, deactivated, kicked: never retried
    if isinstance(exc, InvalidToken):
        log.error("telegram refused the bot token")
        return Delivery(Result.FAILED, detail=detail)
    if isinstance(exc, BadRequest):
        return Delivery(Result.FAILED, detail=detail)  # chat not found, too long, bad button…: permanent
    if isinstance(exc, RequestNotSent):
        return Delivery(Result.RETRY, retry_after=2.0, detail=detail)
    if isinstance(exc, TimedOut | NetworkError):
        # The request went out and no proper answer came back (timeout, dropped connection, 5xx): maybe
        # delivered, and there is no idempotency key, so never resend.
        return Delivery(Result.UNCERTAIN, detail=detail)
    return Delivery(Result.FAILED, detail=detail)


def _membership(change: ChatMemberUpdated, key: str) -> Incoming | None:
    """In a private chat the bot's own membership says whether the user blocked (kicked) or unblocked it."""
    if change.chat.type != ChatType.PRIVATE:
        return None
    status = change.new_chat_member.status
    user = change.from_user
    if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        kind = Kind.UNFOLLOW
    elif status == ChatMemberStatus.MEMBER:
        kind = Kind.FOLLOW
    else:
        return None
    return Incoming("telegram", str(user.id), kind, display_name=user.full_name or None, update_key=key)


def _is_group(target: int | str) -> bool:
    """Private chats have positive ids; groups, supergroups and channels negative ones or an @username."""
    return isinstance(target, str) or target < 0


def _is_update_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _file_url(api_url: str) -> str:
    """The file URL beside an API URL: ".../bot" → ".../file/bot" (Telegram's layout, and the Bot API server's)."""
    head, found, tail = api_url.rpartition("/bot")
    return f"{head}/file/bot{tail}" if found else f"{api_url}/file/bot"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _pieces(text: str) -> list[str]:
    """The text cut to Telegram's limit, which counts UTF-16 units: emoji count twice, so cut shorter if needed."""
    limit = MAX_TEXT
    while True:
        pieces = split(text, limit)
        over = max((_utf16_len(to_plain(p)) for p in pieces), default=0) - MAX_TEXT
        if over <= 0:
            return pieces
        limit = max(limit - over, MAX_TEXT // 2)


def _callback_data(button: Button) -> str:
    data = button.payload or button.title
    encoded = data.encode()
    if len(encoded) <= MAX_CALLBACK_DATA:
        return data
    log.warning("telegram button payload cut to 64 bytes", extra={"length": len(encoded)})
    return encoded[:MAX_CALLBACK_DATA].decode(errors="ignore")


def keyboard_for(buttons: Sequence[Button], row_size: int = 1) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard, `row_size` per row; link buttons open their URL."""
    if not buttons:
        return None
    size = max(1, row_size)
    rendered = [
        InlineKeyboardButton(b.title, url=b.url)
        if b.url
        else InlineKeyboardButton(b.title, callback_data=_callback_data(b))
        for b in buttons
    ]
    return InlineKeyboardMarkup([rendered[i:i + size] for i in range(0, len(rendered), size)])
