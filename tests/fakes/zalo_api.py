"""A local stand-in for Zalo's OA OpenAPI and OAuth v4 servers, on 127.0.0.1, following platforms/zalo.md.

One aiohttp app serves `POST /v3.0/oa/message/cs`, `POST /v3.0/oa/message/promotion` and
`POST /v4/oa/access_token`, so ZALO_API_URL and ZALO_OAUTH_URL can both point at it. It keeps Zalo's habits that
our code must cope with: errors with HTTP 200 and a JSON `error`, an access token that dies (-216), single-use
refresh tokens, users outside the interaction window (-230), rate limiting (-32), slow answers and a promotion
quota.

    async with FakeZalo.running(first_token_uses=2) as zalo:
        settings = load_settings(**zalo.env())  # ZALO_* pointing at the fake, with its first token pair

`signed_webhook()` builds the signed webhook posts Zalo would send to us.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SEND_PATH = "/v3.0/oa/message/cs"
PROMOTION_PATH = "/v3.0/oa/message/promotion"
MAX_HEADER = 100
# The code for a spent promotion quota is not documented where we could read it: any unknown code must do.
QUOTA_SPENT = -1001
OAUTH_PATH = "/v4/oa/access_token"
MAX_TEXT = 2000
MAX_BUTTONS = 5
MAX_TITLE = 20

SendHook = Callable[[dict[str, Any], str], Awaitable[None]]


@dataclass
class Send:
    """One accepted message, as Zalo received it."""

    user_id: str
    text: str
    buttons: list[dict[str, Any]]
    access_token: str
    body: dict[str, Any]


@dataclass
class FakeZalo:
    app_id: str = "1234567890"
    app_secret: str = "fake-app-secret"
    oa_secret_key: str = "fake-oa-secret-key"
    # The first access token answers this many sends, then -216 (expired); None means it never expires.
    first_token_uses: int | None = None
    # Users who have not written to the OA within the window: -230.
    outside_window: set[str] = field(default_factory=set)
    # Error codes returned by the next sends, one each, before any other check (e.g. [-32]), once
    # `inject_after` sends have been accepted.
    inject: list[int] = field(default_factory=list)
    inject_after: int = 0
    # Seconds every send (and refresh) waits before answering.
    send_delay: float = 0.0
    refresh_delay: float = 0.0
    # Called with (request body, access token) when a send is about to be accepted: tests look at our
    # database at exactly that moment.
    on_send: SendHook | None = None
    # Promotion messages the OA may still send (they reach followers outside the window); None: unlimited.
    promotion_quota: int | None = None

    sends: list[Send] = field(default_factory=list)
    # Accepted promotion messages; `text` is the header and the text elements, one per line.
    promotions: list[Send] = field(default_factory=list)
    attempts: list[tuple[str, int]] = field(default_factory=list)  # (access token, error answered)
    refreshes: int = 0
    refused_refreshes: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self._counter = itertools.count(1)
        self.access_token = self._new_token("access")
        self.refresh_token = self._new_token("refresh")
        # token -> remaining uses (None: until replaced by a refresh)
        self._access: dict[str, int | None] = {self.access_token: self.first_token_uses}
        self._refresh: set[str] = {self.refresh_token}
        self.spent_refresh_tokens: set[str] = set()

    def _new_token(self, kind: str) -> str:
        return f"{kind}-{next(self._counter)}-{secrets.token_hex(6)}"

    def env(self) -> dict[str, str]:
        """Settings overrides for a Zalo-enabled process talking to this fake."""
        return {
            "ZALO_APP_ID": self.app_id,
            "ZALO_APP_SECRET": self.app_secret,
            "ZALO_OA_SECRET_KEY": self.oa_secret_key,
            "ZALO_ACCESS_TOKEN": self.access_token,
            "ZALO_REFRESH_TOKEN": self.refresh_token,
            "ZALO_API_URL": self.url,
            "ZALO_OAUTH_URL": self.url,
        }

    @property
    def live_access_tokens(self) -> set[str]:
        return {token for token, uses in self._access.items() if uses is None or uses > 0}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(SEND_PATH, self._send)
        app.router.add_post(PROMOTION_PATH, self._promotion)
        app.router.add_post(OAUTH_PATH, self._oauth)
        return app

    @classmethod
    @asynccontextmanager
    async def running(cls, **options: Any) -> AsyncIterator[FakeZalo]:
        """Start a fake on a free port of 127.0.0.1 for the duration of the block."""
        fake = cls(**options)
        runner = web.AppRunner(fake.app(), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        fake.url = f"http://127.0.0.1:{port}"
        try:
            yield fake
        finally:
            await runner.cleanup()

    # ---- OA API -----------------------------------------------------------------------------------------------

    def _answer(self, token: str, error: int, message: str, data: dict[str, Any] | None = None) -> web.Response:
        self.attempts.append((token, error))
        payload: dict[str, Any] = {"error": error, "message": message}
        if data is not None:
            payload["data"] = data
        return web.json_response(payload)  # Zalo answers 200 even for errors

    def _live(self, token: str) -> bool:
        uses = self._access.get(token, 0)
        return token in self._access and (uses is None or uses > 0)

    def _spend(self, token: str) -> None:
        """One accepted message: a first token with limited uses has one fewer."""
        uses = self._access[token]
        if uses is not None:
            self._access[token] = uses - 1

    async def _send(self, request: web.Request) -> web.Response:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        token = request.headers.get("access_token", "")
        if self.inject and len(self.sends) >= self.inject_after:
            return self._answer(token, self.inject.pop(0), "injected error")
        if not self._live(token):
            return self._answer(token, -216, "Access token is invalid")
        try:
            body = json.loads(await request.read())
            user_id = str(body["recipient"]["user_id"])
            message = body["message"]
            text = message["text"]
            buttons = _buttons(message.get("attachment"))
        except (ValueError, KeyError, TypeError):
            return self._answer(token, -201, "Parameters are invalid")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT or buttons is None:
            return self._answer(token, -201, "Parameters are invalid")
        if user_id in self.outside_window:
            return self._answer(token, -230, "User has not interacted with the OA in the last 7 days")
        self._spend(token)
        if self.on_send is not None:
            await self.on_send(body, token)
        self.sends.append(Send(user_id, text, buttons, token, body))
        return self._answer(token, 0, "Success", {"message_id": secrets.token_hex(16), "user_id": user_id})

    async def _promotion(self, request: web.Request) -> web.Response:
        token = request.headers.get("access_token", "")
        if not self._live(token):
            return self._answer(token, -216, "Access token is invalid")
        try:
            body = json.loads(await request.read())
            user_id = str(body["recipient"]["user_id"])
            attachment = body["message"]["attachment"]
            payload = attachment["payload"]
            lines = _promotion_lines(attachment)
            buttons = _buttons(attachment) if "buttons" in payload else []
        except (ValueError, KeyError, TypeError):
            return self._answer(token, -201, "Parameters are invalid")
        if lines is None or buttons is None:
            return self._answer(token, -201, "Parameters are invalid")
        if self.promotion_quota is not None:
            if self.promotion_quota <= 0:
                return self._answer(token, QUOTA_SPENT, "The OA has no promotion quota left")
            self.promotion_quota -= 1
        self._spend(token)
        self.promotions.append(Send(user_id, "\n".join(lines), buttons, token, body))
        return self._answer(token, 0, "Success", {"message_id": secrets.token_hex(16), "user_id": user_id})

    # ---- OAuth v4 ---------------------------------------------------------------------------------------------

    async def _oauth(self, request: web.Request) -> web.Response:
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        form = await request.post()
        if request.headers.get("secret_key") != self.app_secret or form.get("app_id") != self.app_id:
            self.refused_refreshes += 1
            return web.json_response({"error": -14002, "error_name": "invalid_client",
                                      "error_description": "app_id or secret_key is invalid"})
        refresh_token = form.get("refresh_token")
        if form.get("grant_type") != "refresh_token" or refresh_token not in self._refresh:
            self.refused_refreshes += 1
            # Single use: a spent (or unknown) refresh token is refused, with HTTP 200 like everything else.
            return web.json_response({"error": -14014, "error_name": "invalid_grant",
                                      "error_description": "Invalid refresh token"})
        assert isinstance(refresh_token, str)
        self._refresh.discard(refresh_token)
        self.spent_refresh_tokens.add(refresh_token)
        self.refreshes += 1
        access, new_refresh = self._new_token("access"), self._new_token("refresh")
        # The old access token keeps working until it expires on its own (as far as sources say).
        self._access[access] = None
        self._refresh.add(new_refresh)
        return web.json_response({"access_token": access, "refresh_token": new_refresh, "expires_in": "90000"})


def _promotion_lines(attachment: Any) -> list[str] | None:
    """The header and text contents of a promotion template, or None when Zalo would refuse it."""
    if not isinstance(attachment, dict) or attachment.get("type") != "template":
        return None
    payload = attachment.get("payload")
    if not isinstance(payload, dict):
        return None
    elements = payload.get("elements")
    if payload.get("template_type") != "promotion" or not isinstance(elements, list) or not elements:
        return None
    if [e.get("type") for e in elements].count("header") != 1 or elements[0].get("type") != "header":
        return None
    lines = []
    for element in elements:
        limit = MAX_HEADER if element.get("type") == "header" else MAX_TEXT
        content = element.get("content")
        if element.get("type") not in ("header", "text") or not isinstance(content, str):
            return None
        if not 0 < len(content) <= limit:
            return None
        lines.append(content)
    return lines


def _buttons(attachment: Any) -> list[dict[str, Any]] | None:
    """The template buttons of a message, or None when Zalo would refuse them."""
    if attachment is None:
        return []
    if not isinstance(attachment, dict) or attachment.get("type") != "template":
        return None
    buttons = attachment.get("payload", {}).get("buttons")
    if not isinstance(buttons, list) or not 0 < len(buttons) <= MAX_BUTTONS:
        return None
    for button in buttons:
        title, kind, payload = button.get("title"), button.get("type"), button.get("payload")
        if not isinstance(title, str) or not 0 < len(title) <= MAX_TITLE:
            return None
        if kind in ("oa.query.hide", "oa.query.show"):
            if not isinstance(payload, str) or not payload:
                return None
        elif kind == "oa.open.url":
            if not isinstance(payload, dict) or not str(payload.get("url", "")).startswith(("http://", "https://")):
                return None
        else:
            return None
    return buttons


# ---- webhook posts ----------------------------------------------------------------------------------------------


def now_ms() -> str:
    return str(int(time.time() * 1000))


def signed_webhook(
    body: dict[str, Any],
    app_id: str,
    oa_secret_key: str,
    timestamp: str | None = None,
    *,
    header_timestamp: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a webhook post signed as Zalo signs it.

    The timestamp (Unix ms, a string) goes into the body's `timestamp` field, and also into an
    `X-ZEvent-Timestamp` header when `header_timestamp` is set (sources disagree on where Zalo puts it).
    """
    stamp = timestamp or str(body.get("timestamp") or now_ms())
    raw = json.dumps({**body, "timestamp": stamp}, ensure_ascii=False).encode()
    mac = hashlib.sha256(app_id.encode() + raw + stamp.encode() + oa_secret_key.encode()).hexdigest()
    headers = {"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={mac}"}
    if header_timestamp:
        headers["X-ZEvent-Timestamp"] = stamp
    return raw, headers


def user_event(
    event_name: str, user_id: str, msg_id: str, *, text: str | None = None, app_id: str = "1234567890",
    oa_id: str = "579745863508352884",
) -> dict[str, Any]:
    """A `user_send_*` event as Zalo shapes it (media events carry attachments)."""
    message: dict[str, Any] = {"msg_id": msg_id}
    if text is not None:
        message["text"] = text
    if event_name != "user_send_text":
        message["attachments"] = [{"type": event_name.removeprefix("user_send_"), "payload": {"url": "https://x"}}]
    return {
        "app_id": app_id, "user_id_by_app": f"app-{user_id}", "event_name": event_name, "timestamp": now_ms(),
        "sender": {"id": user_id}, "recipient": {"id": oa_id}, "message": message,
    }


def follow_event(event_name: str, user_id: str, *, app_id: str = "1234567890",
                 oa_id: str = "579745863508352884") -> dict[str, Any]:
    """`follow` / `unfollow`: no `sender`, the user is `follower.id`."""
    return {"app_id": app_id, "oa_id": oa_id, "user_id_by_app": f"app-{user_id}", "event_name": event_name,
            "timestamp": now_ms(), "source": "oa_profile", "follower": {"id": user_id}}
