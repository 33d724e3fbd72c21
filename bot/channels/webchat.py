"""The chat box on the ward's website: a page at /chat over a small JSON API, sessions by cookie.

`POST /chat/api/messages` takes `{"text": …}` or `{"payload": …}` (a pressed button) and answers with the
replies; `GET /chat/api/messages?after=N` returns what arrived since (a volunteer's answer, a reminder).
"""

from __future__ import annotations

import json
import secrets
from importlib import resources
from typing import Any

from aiohttp import web

from bot.channels.base import Delivery, Inbox, Result
from bot.channels.markup import to_html
from bot.runtime import Runtime
from bot.store import residents
from handlers.messages import Incoming, Kind, Outgoing

COOKIE = "troly_chat"
MAX_TEXT = 2000
MAX_PAYLOAD = 64

ERRORS = {
    "bad_json": "Yêu cầu không hợp lệ: cần một đối tượng JSON.",
    "bad_message": "Yêu cầu không hợp lệ: cần \"text\" (tối đa 2.000 ký tự) hoặc \"payload\".",
}


class WebChatSender:
    """Web replies are returned in the HTTP answer, and stored messages are read by polling: nothing to push."""

    channel = "web"

    async def send(self, message: Outgoing) -> Delivery:
        return Delivery(Result.SENT)


class WebChat:
    def __init__(self, runtime: Runtime, inbox: Inbox) -> None:
        self.runtime = runtime
        self.inbox = inbox
        self.sender = WebChatSender()

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/chat", self.page)
        app.router.add_get("/chat/", self.page)
        app.router.add_post("/chat/api/messages", self.post_message)
        app.router.add_get("/chat/api/messages", self.get_messages)

    async def page(self, request: web.Request) -> web.Response:
        html = resources.files("bot.web").joinpath("static/chat.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "script-src 'self' 'unsafe-inline'; frame-ancestors *",
        })

    def _session(self, request: web.Request) -> tuple[str, bool]:
        token = request.cookies.get(COOKIE, "")
        if 20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
            return token, False
        return secrets.token_urlsafe(24), True

    def _with_cookie(self, response: web.Response, token: str, new: bool) -> web.Response:
        if new:
            secure = (self.runtime.settings.public_url or "").startswith("https://")
            response.set_cookie(COOKIE, token, max_age=180 * 24 * 3600, httponly=True, samesite="Lax",
                                secure=secure, path="/chat")
        return response

    async def post_message(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": ERRORS["bad_json"]}, status=400)
        incoming_fields = _parse(body)
        if incoming_fields is None:
            return web.json_response({"error": ERRORS["bad_message"]}, status=400)
        token, new = self._session(request)
        kind, text = incoming_fields
        replies = await self.inbox.receive(Incoming("web", token, kind, text=text))
        cursor = await self._cursor(token)
        response = web.json_response({"messages": [_render(m) for m in replies], "cursor": cursor})
        return self._with_cookie(response, token, new)

    async def get_messages(self, request: web.Request) -> web.Response:
        token, new = self._session(request)
        after = request.query.get("after", "0")
        if not after.isdigit():
            return web.json_response({"error": "Tham số after phải là số."}, status=400)
        messages: list[dict[str, Any]] = []
        cursor = int(after)
        if not new:
            async with self.runtime.sessions() as session:
                identity = await residents.find_identity(session, "web", token)
                if identity is not None:
                    for row in await residents.messages_after(session, identity.id, int(after), "out"):
                        messages.append({"html": to_html(row.text or ""), "buttons": []})
                        cursor = row.id
        return self._with_cookie(web.json_response({"messages": messages, "cursor": cursor}), token, new)

    async def _cursor(self, token: str) -> int:
        async with self.runtime.sessions() as session:
            identity = await residents.find_identity(session, "web", token)
            if identity is None:
                return 0
            return await residents.last_message_id(session, identity.id, "out")


def _parse(body: Any) -> tuple[Kind, str] | None:
    if not isinstance(body, dict):
        return None
    text, payload = body.get("text"), body.get("payload")
    if isinstance(payload, str) and 0 < len(payload.encode()) <= MAX_PAYLOAD:
        return Kind.BUTTON, payload
    if isinstance(text, str) and 0 < len(text) <= MAX_TEXT:
        return Kind.TEXT, text
    return None


def _render(message: Outgoing) -> dict[str, Any]:
    return {
        "html": to_html(message.text),
        "buttons": [{"title": b.title, "payload": b.payload, "url": b.url} for b in message.buttons],
        "row_size": message.row_size,
    }
