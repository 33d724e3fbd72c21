"""The chat box on the ward's website: a page at /chat over a small JSON API, sessions by cookie.

- `POST /chat/api/messages` takes `{"text": …}` or `{"payload": …}` (a pressed button), and optionally
  `"after"`: the page's cursor. It answers `{"messages": [...], "cursor": N}`: the turn's replies, preceded by
  what was stored for the resident after `after` (a volunteer's answer that came since the last poll) and followed
  by anything stored for them while the turn ran. Poll after `cursor` next.
- `GET /chat/api/messages?after=N` returns what was stored for the resident since (a volunteer's answer, a
  broadcast), and the new cursor.
- `GET /chat/api/history` returns the recent conversation (the resident's own typed questions too), for a page
  that opens: a returning resident sees what arrived while the page was closed, and is not greeted again. Empty
  (and cursor 0) on a first visit, which the page greets with "/start".

A message is `{"html", "buttons": [{"title", "payload", "url"}]}`, plus `"from"` ("bot", or "me" for the
resident's own words in the history) and, when read back from storage, `"id"` (the page keeps those past its
cursor only, so nothing shows twice). Stored messages have no buttons; a broadcast's link is kept as a line.

The page has no push: it shows the HTTP answer to its own request and polls what is stored. So there are two
senders. `WebChatSender` is the pipeline's: a turn's replies go back in the HTTP answer (to the resident writing)
or were stored by the pipeline (a volunteer's answer), so it stores nothing. `WebChatOutboxSender` is the
outbox's (broadcasts, delivery reports): nothing stored them, so it stores each in the resident's conversation.
For a chat that was erased or never opened, both answer BLOCKED (the resident is gone), never SENT.

The cookie is the secret that opens a conversation, so it is never stored or shown: the chat's id everywhere else
(identities, outbox, audit log, exports, the dashboard) is `external_id(cookie)`, a one-way hash. `DELETE
/chat/api/session` (the page's "Xoá cuộc trò chuyện trên máy này", for a shared phone) expires the cookie, so the
next person starts a new conversation; the old one stays stored (see `WebChat.forget`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from bot.channels.base import Delivery, Inbox, Result
from bot.channels.markup import to_html
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import residents
from bot.store.models import Message
from handlers.handoff import CANCEL_BUTTONS
from handlers.messages import Incoming, Kind, Outgoing

COOKIE = "troly_chat"
COOKIE_PATH = "/chat"
# Starts every hashed id. A cookie token is URL-safe base64, which has no ".": a hashed id can never be taken for a
# cookie, and migration 0008 tells the ids it already rewrote from raw tokens.
ID_PREFIX = "h."
MAX_TEXT = 2000
MAX_PAYLOAD = 64
HISTORY = 40  # messages a reopened page shows: enough to pick up where the resident left off

ERRORS = {
    "bad_json": "Yêu cầu không hợp lệ: cần một đối tượng JSON.",
    "bad_message": "Yêu cầu không hợp lệ: cần \"text\" (tối đa 2.000 ký tự) hoặc \"payload\".",
    "bad_after": "Yêu cầu không hợp lệ: \"after\" phải là số nguyên không âm.",
}

SENT = Delivery(Result.SENT)
GONE = Delivery(Result.BLOCKED, detail="no such web chat: erased, or never opened")
NO_STORE = {"Cache-Control": "no-store"}  # a shared phone's browser cache must not keep anyone's conversation


def external_id(token: str) -> str:
    """The chat's id in storage, logs and exports: the first 128 bits of the cookie's SHA-256, URL-safe.

    One-way, so an audit file or a copy of the database does not open anyone's conversation; 128 bits, so two
    sessions never share an id in practice. Migration 0008 holds a frozen copy of this function."""
    digest = hashlib.sha256(token.encode()).digest()[:16]
    return ID_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


_EXTERNAL_ID = re.compile(re.escape(ID_PREFIX) + r"[A-Za-z0-9_-]{22}")  # 16 bytes in unpadded URL-safe base64


def is_external_id(user_id: str) -> bool:
    """Whether `user_id` has the shape `external_id` gives (and so could be a web chat's id)."""
    return _EXTERNAL_ID.fullmatch(user_id) is not None


@dataclass(frozen=True)
class ChatSession:
    token: str  # the cookie's value: only ever sent back to the browser
    user_id: str  # external_id(token): what the rest of the product knows the chat by
    new: bool  # no valid cookie came: the response sets this one


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=NO_STORE)


class WebChatSender:
    """The pipeline's sender: a turn's replies are already where the page reads them; it only says whether so."""

    channel = "web"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # The chat whose HTTP request this task is answering: its replies go back in that answer, even when
        # nothing of theirs is stored (they just erased their data, or the turn failed).
        self.answering: ContextVar[str | None] = ContextVar("webchat_answering", default=None)

    async def send(self, message: Outgoing) -> Delivery:
        if self.answering.get() == message.user_id:
            return SENT
        # Anyone else's (a volunteer's answer) was stored by the pipeline if, and only if, the chat exists.
        async with self.runtime.sessions() as session:
            found = await residents.find_identity(session, "web", message.user_id)
        return SENT if found is not None else GONE


class WebChatOutboxSender:
    """The outbox's sender: stores the message in the resident's conversation, where the page's polling finds it.

    The outbox sends a turn's reply only when the process died before the reply's outcome was written (see
    bot/outbox/journal.py): then, as on every channel, that reply may appear twice."""

    channel = "web"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def send(self, message: Outgoing) -> Delivery:
        async with self.runtime.sessions() as session, session.begin():
            stored = await residents.store_outbound(session, "web", message.user_id, _as_stored(message),
                                                    self.runtime.now())
        return SENT if stored else GONE


class WebChat:
    def __init__(self, runtime: Runtime, inbox: Inbox) -> None:
        self.runtime = runtime
        self.inbox = inbox
        self.sender = WebChatSender(runtime)
        self.outbox_sender = WebChatOutboxSender(runtime)
        self.html = _page(runtime.settings)  # the settings do not change while the process runs

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/chat", self.page)
        app.router.add_get("/chat/", self.page)
        app.router.add_post("/chat/api/messages", self.post_message)
        app.router.add_get("/chat/api/messages", self.get_messages)
        app.router.add_get("/chat/api/history", self.get_history)
        app.router.add_delete("/chat/api/session", self.forget)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=self.html, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "script-src 'self' 'unsafe-inline'; frame-ancestors *",
        })

    def _session(self, request: web.Request) -> ChatSession:
        token = request.cookies.get(COOKIE, "")
        if 20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
            return ChatSession(token, external_id(token), False)
        token = secrets.token_urlsafe(24)
        return ChatSession(token, external_id(token), True)

    def _secure(self) -> bool:
        return (self.runtime.settings.public_url or "").startswith("https://")

    def _with_cookie(self, response: web.Response, chat: ChatSession) -> web.Response:
        if chat.new:
            response.set_cookie(COOKIE, chat.token, max_age=180 * 24 * 3600, httponly=True, samesite="Lax",
                                secure=self._secure(), path=COOKIE_PATH)
        return response

    async def post_message(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _json({"error": ERRORS["bad_json"]}, status=400)
        incoming_fields = _parse(body)
        if incoming_fields is None:
            return _json({"error": ERRORS["bad_message"]}, status=400)
        try:
            after = _after(body)
        except ValueError:
            return _json({"error": ERRORS["bad_after"]}, status=400)
        chat = self._session(request)
        user_id = chat.user_id
        kind, text = incoming_fields
        before = 0 if chat.new else await self._cursor(user_id)
        answering = self.sender.answering.set(user_id)
        try:
            replies = await self.inbox.receive(Incoming("web", user_id, kind, text=text))
        finally:
            self.sender.answering.reset(answering)
        # Only what is addressed to this chat: a turn may also post to the volunteers' group.
        mine = [m for m in replies if (m.channel, m.user_id) == ("web", user_id)]
        stored, cursor = await self._stored_after(user_id, before if after is None else min(after, before))
        earlier = [row for row in stored if row.id <= before]
        meanwhile = _not_replies([row for row in stored if row.id > before], mine)
        messages = _shown(earlier) + [_render(m) for m in mine] + _shown(meanwhile)
        return self._with_cookie(_json({"messages": messages, "cursor": cursor}), chat)

    async def get_messages(self, request: web.Request) -> web.Response:
        chat = self._session(request)
        after = request.query.get("after", "0")
        if not after.isdigit():
            return _json({"error": "Tham số after phải là số."}, status=400)
        stored, cursor = ([], int(after)) if chat.new else await self._stored_after(chat.user_id, int(after))
        return self._with_cookie(_json({"messages": _shown(stored), "cursor": cursor or int(after)}), chat)

    async def get_history(self, request: web.Request) -> web.Response:
        chat = self._session(request)
        rows: list[Message] = []
        if not chat.new:
            async with self.runtime.sessions() as session:
                identity = await residents.find_identity(session, "web", chat.user_id)
                if identity is not None:
                    rows = await residents.recent_messages(session, identity.id, HISTORY)
        messages = [item for row in rows if (item := _history_item(row)) is not None]
        # Every later outbound message has a greater id than the window's newest row, whatever its direction.
        cursor = rows[-1].id if rows else 0
        return self._with_cookie(_json({"messages": messages, "cursor": cursor}), chat)

    async def forget(self, request: web.Request) -> web.Response:
        """Detach this device from its conversation: the page's "Xoá cuộc trò chuyện trên máy này", for a shared
        phone. The HttpOnly cookie can only be expired from here.

        The conversation stays stored: the commune's figures stay whole, and the retention job clears the texts in
        time; a resident who wants it gone types /xoadulieu first. Nobody can open it again, so an open request
        for a person is withdrawn as if the resident had pressed "Huỷ yêu cầu" (its volunteer is told, and answers
        nobody would read are not written), and the chat is marked inactive, as for a resident who left: no more
        broadcasts are kept in it, and campaign counts say so instead of "sent".

        DELETE, not POST: another site's form cannot send it, and its scripts cannot without our CORS consent."""
        chat = self._session(request)
        if not chat.new:
            async with self.runtime.sessions() as session:
                identity = await residents.find_identity(session, "web", chat.user_id)
                waiting = await residents.open_ticket(session, identity.resident_id) if identity is not None else None
            if waiting is not None:
                await self.inbox.receive(Incoming("web", chat.user_id, Kind.BUTTON, text=CANCEL_BUTTONS[0].payload))
            async with self.runtime.sessions() as session, session.begin():
                await residents.deactivate(session, "web", chat.user_id)
        response = _json({"forgotten": True})
        response.del_cookie(COOKIE, path=COOKIE_PATH, secure=self._secure(), httponly=True, samesite="Lax")
        return response

    async def _cursor(self, user_id: str) -> int:
        async with self.runtime.sessions() as session:
            identity = await residents.find_identity(session, "web", user_id)
            if identity is None:
                return 0
            return await residents.last_message_id(session, identity.id, "out")

    async def _stored_after(self, user_id: str, after: int) -> tuple[list[Message], int]:
        """The messages stored for this chat after `after`, and the cursor past them (0: no such chat)."""
        async with self.runtime.sessions() as session:
            identity = await residents.find_identity(session, "web", user_id)
            if identity is None:
                return [], 0  # erased (perhaps by this very turn), or never stored
            rows = list(await residents.messages_after(session, identity.id, after, "out"))
        return rows, rows[-1].id if rows else after


def _parse(body: Any) -> tuple[Kind, str] | None:
    if not isinstance(body, dict):
        return None
    text, payload = body.get("text"), body.get("payload")
    if isinstance(payload, str) and 0 < len(payload.encode()) <= MAX_PAYLOAD:
        return Kind.BUTTON, payload
    if isinstance(text, str) and 0 < len(text) <= MAX_TEXT:
        return Kind.TEXT, text
    return None


def _after(body: dict[str, Any]) -> int | None:
    """The page's cursor sent with a message; None when absent (an older page). ValueError when malformed."""
    after = body.get("after")
    if after is None:
        return None
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError(after)
    return after


def _not_replies(rows: Sequence[Message], replies: Sequence[Outgoing]) -> list[Message]:
    """Rows stored while the turn ran that are not its own replies (those go out rendered, with their buttons)."""
    pending = Counter(reply.text for reply in replies)
    others: list[Message] = []
    for row in rows:
        if pending[row.text or ""] > 0:
            pending[row.text or ""] -= 1
        else:
            others.append(row)
    return others


def _render(message: Outgoing) -> dict[str, Any]:
    return {
        "from": "bot",
        "html": to_html(message.text),
        "buttons": [{"title": b.title, "payload": b.payload, "url": b.url} for b in message.buttons],
        "row_size": message.row_size,
    }


def _shown(rows: Sequence[Message]) -> list[dict[str, Any]]:
    """Stored bot messages as the page shows them (a text cleared by the retention job is left out)."""
    return [{"id": row.id, "from": "bot", "html": to_html(row.text), "buttons": []} for row in rows if row.text]


def _history_item(row: Message) -> dict[str, Any] | None:
    """One row of a reopened page: the bot's messages and what the resident typed; not their commands ("/start")
    or the payloads of buttons they pressed, which would read as code."""
    if not row.text:
        return None
    if row.direction == "out":
        return {"id": row.id, "from": "bot", "html": to_html(row.text), "buttons": []}
    if row.author == "resident" and row.kind == Kind.TEXT.value and not row.text.startswith("/"):
        return {"id": row.id, "from": "me", "html": html.escape(row.text, quote=False), "buttons": []}
    return None


def _as_stored(message: Outgoing) -> str:
    """The text kept for the page to read: a stored message has no buttons, so a link keeps its address."""
    links = [f"{button.title}: {button.url}" for button in message.buttons if button.url]
    return "\n\n".join([message.text, "\n".join(links)]) if links else message.text


def _page(settings: Settings) -> str:
    """chat.html with the commune's name and the term of address, escaped."""
    term = settings.term_of_address
    values = {
        "commune": settings.commune_name,
        "term": term,
        "Term": term[:1].upper() + term[1:],
        "elsewhere": _elsewhere(settings),
    }
    page = resources.files("bot.web").joinpath("static/chat.html").read_text(encoding="utf-8")
    for name, value in values.items():
        page = page.replace("{{" + name + "}}", html.escape(value))
    return page


def _elsewhere(settings: Settings) -> str:
    """Where else to ask when the page cannot run: the commune's other channels, or its office."""
    channels = [name for name, enabled in (("Zalo", settings.zalo_enabled), ("Telegram", settings.telegram_enabled))
                if enabled]
    office = f"đến Trung tâm phục vụ hành chính công của {settings.commune_name} để được hỗ trợ trực tiếp"
    if not channels:
        return office
    return f"nhắn cho {settings.commune_name} qua {' hoặc '.join(channels)}, hoặc {office}"
