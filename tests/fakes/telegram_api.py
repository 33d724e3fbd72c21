"""A local stand-in for the Telegram Bot API on 127.0.0.1, following platforms/telegram.md.

It serves `/bot<token>/<method>` for the methods our channel calls, decodes what python-telegram-bot sends
(form-encoded bodies whose nested fields, such as `reply_markup`, are JSON-encoded; JSON bodies too), records
every call, and keeps the habits of the real API our code must cope with: `getUpdates` long polling with
`offset` confirming earlier updates, 409 while a webhook is set, the 4096-character text limit counted after
entity parsing, the 64-byte `callback_data` limit, HTML that must parse, and injected faults (429 with
`parameters.retry_after`, 403 blocked, 400 chat not found, 500, slow answers).

    async with FakeTelegram.run() as telegram:
        settings = load_settings(**telegram.env())  # TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL pointing here
        telegram.queue_update(telegram.updates.text(1001, "xin chào"))

Nothing sleeps on the normal path, so benchmarks can drive it hard.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

MAX_TEXT = 4096  # UTF-16 code units, after entity parsing
MAX_CALLBACK_DATA = 64  # bytes
# Tags Telegram's HTML parse mode accepts.
HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                       "tg-spoiler", "span", "blockquote", "tg-emoji"})
# Fields that are plain strings even when they look like JSON ("123" stays the text "123").
TEXT_FIELDS = frozenset({"text", "caption", "url", "secret_token", "parse_mode", "action", "callback_query_id",
                         "description", "short_description", "ip_address"})
CHAT_METHODS = frozenset({"sendMessage", "editMessageText", "sendChatAction"})
UPDATE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
                "my_chat_member", "chat_member", "inline_query", "poll", "poll_answer")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Call:
    """One request as the fake received it: the method, its decoded parameters and when (monotonic seconds)."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass(frozen=True)
class Fault:
    """What an injected failure answers. A `delay` with status 200 is a slow success: the call takes effect
    at once (the message is delivered) and the answer comes late, as when Telegram is slow to reply."""

    status: int = 200
    description: str = ""
    retry_after: int | None = None
    migrate_to_chat_id: int | None = None
    delay: float = 0.0

    @classmethod
    def rate_limited(cls, retry_after: int = 3) -> Fault:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def blocked(cls) -> Fault:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def deactivated(cls) -> Fault:
        return cls(403, "Forbidden: user is deactivated")

    @classmethod
    def chat_not_found(cls) -> Fault:
        return cls(400, "Bad Request: chat not found")

    @classmethod
    def server_error(cls) -> Fault:
        return cls(500, "Internal Server Error")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(200, delay=seconds)

    @classmethod
    def migrated(cls, new_chat_id: int) -> Fault:
        return cls(400, "Bad Request: group chat was upgraded to a supergroup chat",
                   migrate_to_chat_id=new_chat_id)

    @classmethod
    def cannot_parse(cls) -> Fault:
        return cls(400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0")


@dataclass
class _Rule:
    fault: Fault
    method: str | None  # None: any method
    chat_id: int | None  # None: any chat
    remaining: int | None  # None: until cleared
    skip: int = 0  # matching calls that go through first


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class Updates:
    """Builds updates the way Telegram shapes them, each with a fresh `update_id`."""

    def __init__(self, first_update_id: int = 100_000) -> None:
        self._ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def user(user_id: int, first_name: str = "Lan", last_name: str | None = "Nguyễn") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "vi"}
        if last_name:
            user["last_name"] = last_name
        return user

    @staticmethod
    def chat(chat_id: int, user: dict[str, Any] | None = None) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": (user or {}).get("first_name", "Lan")}
        return {"id": chat_id, "type": "supergroup", "title": "Tổ công nghệ số cộng đồng"}

    def message(self, user_id: int, *, chat_id: int | None = None, first_name: str = "Lan",
                last_name: str | None = "Nguyễn", **content: Any) -> dict[str, Any]:
        user = self.user(user_id, first_name, last_name)
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": user,
                   "chat": self.chat(chat_id if chat_id is not None else user_id, user), **content}
        return {"update_id": self.next_id(), "message": message}

    def text(self, user_id: int, text: str, *, chat_id: int | None = None, first_name: str = "Lan",
             last_name: str | None = "Nguyễn") -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        return self.message(user_id, chat_id=chat_id, first_name=first_name, last_name=last_name, **content)

    def photo(self, user_id: int, caption: str | None = None) -> dict[str, Any]:
        sizes = [{"file_id": f"photo-{n}", "file_unique_id": f"u-photo-{n}", "width": w, "height": w}
                 for n, w in enumerate((90, 320, 800))]
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self.message(user_id, **content)

    def media(self, user_id: int, kind: str) -> dict[str, Any]:
        """A message carrying one attachment of `kind` (sticker, voice, audio, video, video_note, document,
        location, contact, animation)."""
        file = {"file_id": f"{kind}-1", "file_unique_id": f"u-{kind}-1"}
        bodies: dict[str, dict[str, Any]] = {
            "sticker": {"sticker": {**file, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                                    "is_video": False}},
            "voice": {"voice": {**file, "duration": 3}},
            "audio": {"audio": {**file, "duration": 120}},
            "video": {"video": {**file, "width": 640, "height": 480, "duration": 5}},
            "video_note": {"video_note": {**file, "length": 240, "duration": 5}},
            "document": {"document": {**file, "file_name": "giay-to.pdf"}},
            "animation": {"animation": {**file, "width": 320, "height": 240, "duration": 2},
                          "document": {**file, "file_name": "a.mp4"}},
            "location": {"location": {"latitude": 21.0285, "longitude": 105.8542}},
            "contact": {"contact": {"phone_number": "0900000000", "first_name": "Hùng"}},
        }
        return self.message(user_id, **bodies[kind])

    def callback(self, user_id: int, data: str, *, chat_id: int | None = None, message_id: int = 1,
                 first_name: str = "Lan", last_name: str | None = "Nguyễn") -> dict[str, Any]:
        user = self.user(user_id, first_name, last_name)
        where = chat_id if chat_id is not None else user_id
        message = {"message_id": message_id, "date": int(time.time()), "chat": self.chat(where, user),
                   "text": "…", "from": {"id": 1, "is_bot": True, "first_name": "Trợ lý số"}}
        query = {"id": f"cq-{self.next_id()}", "from": user, "chat_instance": f"ci-{where}", "data": data,
                 "message": message}
        return {"update_id": self.next_id(), "callback_query": query}

    def chat_member(self, user_id: int, status: str, *, chat_id: int | None = None,
                    old_status: str | None = None) -> dict[str, Any]:
        """`my_chat_member`: the bot's own membership changed (a user blocked it: "kicked"; unblocked: "member")."""
        user = self.user(user_id)
        bot = {"id": 1, "is_bot": True, "first_name": "Trợ lý số", "username": "troly_test_bot"}
        old = old_status or ("member" if status in ("kicked", "left") else "kicked")

        def member(state: str) -> dict[str, Any]:
            return {"status": state, "user": bot, **({"until_date": 0} if state == "kicked" else {})}

        where = chat_id if chat_id is not None else user_id
        changed = {"chat": self.chat(where, user), "from": user, "date": int(time.time()),
                   "old_chat_member": member(old), "new_chat_member": member(status)}
        return {"update_id": self.next_id(), "my_chat_member": changed}


class _HtmlCheck(HTMLParser):
    """Telegram's HTML parse mode: known tags only, properly nested; collects the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'Unexpected end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """What the user would see: the text after entity parsing; raises ApiError where Telegram would."""
    if (parse_mode or "").upper() != "HTML":
        return text
    checker = _HtmlCheck()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    if checker.error:
        raise ApiError(400, f"Bad Request: can't parse entities: {checker.error}")
    return html.unescape("".join(checker.text))


@dataclass
class FakeTelegram:
    token: str = "123456789:AAF-fake-token-for-tests"
    username: str = "troly_test_bot"
    first_name: str = "Trợ lý số"

    calls: list[Call] = field(default_factory=list)
    # (chat_id, message_id) -> the message as sent or last edited
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    # Enforce Telegram's limits on sendMessage like the real flood control: more than `flood_limit` messages in
    # any second, or two to one chat within `chat_interval` seconds, are refused with 429 (retry_after 1).
    flood_limit: float | None = None
    chat_interval: float | None = None
    # (messages, seconds): more than that many sends or edits to one group (a negative chat id) are refused too.
    group_limit: tuple[int, float] | None = None
    flood_refusals: int = 0

    def __post_init__(self) -> None:
        self.updates = Updates()
        self._pending: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._changed = asyncio.Event()
        self._rules: list[_Rule] = []
        self._message_ids = itertools.count(1)
        self._closing = False
        self._accepted: deque[float] = deque()
        self._chat_last: dict[Any, float] = {}
        self._group_sent: dict[Any, deque[float]] = {}

    # ---- driving it -----------------------------------------------------------------------------------------

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    @property
    def api_url(self) -> str:
        """TELEGRAM_API_URL for a bot talking to this fake (PTB appends the token)."""
        return f"{self.url}/bot"

    def env(self) -> dict[str, str]:
        return {"TELEGRAM_BOT_TOKEN": self.token, "TELEGRAM_API_URL": self.api_url}

    def queue_update(self, update: dict[str, Any]) -> int:
        """Make an update available to `getUpdates`; returns its update_id."""
        if "update_id" not in update:
            update = {"update_id": self.updates.next_id(), **update}
        self._pending.append(update)
        self._arrived.set()
        return int(update["update_id"])

    def fail_next(self, fault: Fault, method: str | None = None, times: int = 1, after: int = 0) -> None:
        """The next `times` calls (of `method`, or of any method) answer with `fault`, once `after` such calls
        have gone through normally."""
        self._rules.append(_Rule(fault, method, None, times, after))

    def fail_chat(self, chat_id: int, fault: Fault, method: str | None = None, times: int | None = None) -> None:
        """Calls addressed to `chat_id` answer with `fault`, `times` times or until `clear_faults()`."""
        self._rules.append(_Rule(fault, method, chat_id, times))

    def clear_faults(self) -> None:
        self._rules.clear()

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The accepted sendMessage calls' parameters, in order (optionally to one chat)."""
        return [m for (chat, _), m in self.messages.items()
                if m["_method"] == "sendMessage" and (chat_id is None or chat == chat_id)]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `method` has been called at least `count` times; returns those calls."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := self.calls_to(method)) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"{method} called {len(found)} times, expected {count}")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=remaining)
            except TimeoutError:
                continue
        return found

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    @classmethod
    @asynccontextmanager
    async def run(cls, **options: Any) -> AsyncIterator[FakeTelegram]:
        """Serve a fake on a free port of 127.0.0.1 for the duration of the block (`.url`, `.api_url`)."""
        fake = cls(**options)
        # Cancelled handlers when the client goes away: a long poll PTB abandons must not hold shutdown.
        runner = web.AppRunner(fake.app(), handle_signals=False, shutdown_timeout=1.0, handler_cancellation=True,
                               access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            yield fake
        finally:
            fake._closing = True
            fake._arrived.set()
            await runner.cleanup()

    # ---- the API --------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _decode(request)
        self.calls.append(Call(method, params, time.monotonic()))
        self._changed.set()
        self._changed = asyncio.Event()
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        fault = self._fault(method, params)
        if fault is None and method in ("sendMessage", "editMessageText"):
            fault = self._flood(method, params)
        if fault is not None and fault.status != 200:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            parameters: dict[str, Any] = {}
            if fault.retry_after is not None:
                parameters["retry_after"] = fault.retry_after
            if fault.migrate_to_chat_id is not None:
                parameters["migrate_to_chat_id"] = fault.migrate_to_chat_id
            return _error(fault.status, fault.description, parameters or None)
        try:
            result = await handler(params)
        except ApiError as exc:
            return _error(exc.status, exc.description, exc.parameters)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)  # already done; only the answer is late
        return web.json_response({"ok": True, "result": result})

    def _flood(self, method: str, params: dict[str, Any]) -> Fault | None:
        now = time.monotonic()
        recent = self._accepted
        while recent and now - recent[0] > 1.0:
            recent.popleft()
        chat = params.get("chat_id")
        sending = method == "sendMessage"  # an edit counts only towards a group's limit
        too_fast = sending and self.flood_limit is not None and len(recent) >= self.flood_limit
        chat_busy = (sending and self.chat_interval is not None
                     and now - self._chat_last.get(chat, float("-inf")) < self.chat_interval)
        group = self._group_sent.setdefault(chat, deque()) if _is_group(chat) else None
        if group is not None and self.group_limit is not None:
            while group and now - group[0] >= self.group_limit[1]:
                group.popleft()
        group_full = group is not None and self.group_limit is not None and len(group) >= self.group_limit[0]
        if too_fast or chat_busy or group_full:
            self.flood_refusals += 1
            return Fault.rate_limited(1)
        if sending:
            recent.append(now)
            self._chat_last[chat] = now
        if group is not None:
            group.append(now)
        return None

    def _fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        chat = params.get("chat_id")
        for rule in self._rules:
            if rule.method is not None and rule.method != method:
                continue
            if rule.chat_id is not None and (method not in CHAT_METHODS or chat != rule.chat_id):
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
            return rule.fault
        return None

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return self._bot_user()

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        # An offset confirms every update before it: they are never served again.
        self._pending = [u for u in self._pending if u["update_id"] >= offset and _allowed(u, allowed)]
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._pending and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=remaining)
            except TimeoutError:
                break
            self._pending = [u for u in self._pending if u["update_id"] >= offset and _allowed(u, allowed)]
        return sorted(self._pending, key=lambda u: u["update_id"])[:limit]

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not (1 <= len(str(secret)) <= 256):
            raise ApiError(400, "Bad Request: secret token is invalid")
        self.webhook = dict(params)
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
                "allowed_updates": self.webhook.get("allowed_updates") or []}

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            if not (1 <= len(name) <= 32) or not name.replace("_", "").isalnum() or name.lower() != name:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands = commands
        return True

    async def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        self._chat_id(params)
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        text = self._text(params)
        markup = _check_markup(params.get("reply_markup"))
        message_id = next(self._message_ids)
        self.messages[(chat_id, message_id)] = {**params, "_method": "sendMessage", "_visible": text}
        return self._message(chat_id, message_id, text, markup)

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        chat_id = self._chat_id(params)
        message_id = int(params.get("message_id") or 0)
        text = self._text(params)
        markup = _check_markup(params.get("reply_markup"))
        stored = self.messages.get((chat_id, message_id))
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if stored["_visible"] == text and stored.get("reply_markup") == params.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        # Like Telegram: an edit without reply_markup takes the inline keyboard away.
        self.messages[(chat_id, message_id)] = {**params, "_method": stored["_method"], "_visible": text,
                                                "_edited": True}
        return self._message(chat_id, message_id, text, markup)

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat = params.get("chat_id")
        if isinstance(chat, bool) or not isinstance(chat, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _text(self, params: dict[str, Any]) -> str:
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        text = visible_text(raw, params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    def _message(self, chat_id: int, message_id: int, text: str, markup: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "from": self._bot_user(),
                                   "chat": Updates.chat(chat_id), "text": text}
        if markup:
            message["reply_markup"] = markup
        return message


def _is_group(chat: Any) -> bool:
    try:
        return int(chat) < 0
    except (TypeError, ValueError):
        return isinstance(chat, str)  # "@channelusername"


def _allowed(update: dict[str, Any], allowed: Any) -> bool:
    if not allowed:
        return True
    return any(kind in update for kind in allowed)


def _check_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: field \"inline_keyboard\" must be an "
                            "Array of Arrays")
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not button.get("text"):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in "
                                "the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not (1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA):
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        url = button.get("url")
        if data is None and url is None:
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must have "
                                "exactly one optional field")
        if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
            raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
    return markup


async def _decode(request: web.Request) -> dict[str, Any]:
    """Parameters from a query string, a form (values JSON-encoded unless textual) or a JSON body."""
    params: dict[str, Any] = {}
    pairs: Iterable[tuple[str, Any]] = request.query.items()
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            pairs = [*pairs, *(body.items() if isinstance(body, dict) else [])]
        else:
            form = await request.post()
            pairs = [*pairs, *((key, value) for key, value in form.items() if isinstance(value, str))]
    for key, value in pairs:
        if isinstance(value, str) and key not in TEXT_FIELDS:
            with suppress(ValueError):
                value = json.loads(value)
        params[key] = value
    return params


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
