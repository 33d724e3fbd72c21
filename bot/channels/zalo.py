"""Zalo Official Account: the signed webhook at /zalo/webhook, and replies through OpenAPI v3.

Inbound: the signature (`X-ZEvent-Signature: mac=sha256(app_id + raw body + timestamp + OA secret key)`) is
checked on the raw bytes before any field of the event is acted on. Zalo gets its 200 once the event is kept
(committed, its replies journalled: bot/channels/inflight.py), in milliseconds, and the replies go out after
it; Zalo retries (and may disable the webhook) when an answer takes more than about 2 seconds, so the answer
never waits longer than `KEEP_WAIT`. Deduplicating on `msg_id`, storing and deciding replies are the inbox's job.

Outbound: `POST /v3.0/oa/message/cs` with the access token from `ZaloTokens`. Zalo answers HTTP 200 even on
errors, so the JSON `error` field decides the outcome. A campaign reminder refused as outside the interaction window
goes again through `/v3.0/oa/message/promotion` when the ward allows it (ZALO_PROMOTION_BROADCASTS): a header and
text elements, no banner (sources disagree on whether Zalo wants one; its refusal would be reported as a failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.base import Delivery, Inbox, Result, malformed_webhook, refuse_webhook, send_pieces
from bot.channels.inflight import InFlight
from bot.channels.markup import split, to_plain
from bot.channels.zalo_tokens import ZaloTokenError, ZaloTokens
from bot.metrics import Metrics
from bot.settings import Settings
from handlers.messages import Button, Incoming, Kind, Outgoing

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/zalo/webhook"
SIGNATURE_HEADER = "X-ZEvent-Signature"
TIMESTAMP_HEADER = "X-ZEvent-Timestamp"
# Signed events are refused when older than Zalo's own retries can be (30 s, 5 min, 15 min, 30 min, 1 h after the
# first attempt: about 1 h 51 min), in case a retry keeps its first timestamp; a replay inside that window is
# dropped by its msg_id, which is kept for days. From the future, only clock skew is allowed.
MAX_AGE_SECONDS = 2 * 3600.0
MAX_SKEW_SECONDS = 300.0
SEND_PATH = "/v3.0/oa/message/cs"
PROMOTION_PATH = "/v3.0/oa/message/promotion"
MAX_TEXT = 2000
MAX_HEADER = 100  # a promotion message's header element
MAX_BUTTONS = 5
MAX_TITLE = 20
MAX_ID = 128  # identities.external_id and processed_updates.update_key are String(128)
# Server.stop gives a service 4 s: in-flight events get most of it, the rest is for closing.
STOP_TIMEOUT = 3.0
# Events in progress at once, handled or waiting for their replies to reach Zalo (see the Telegram channel).
MAX_CONCURRENT = 512
# The longest a webhook post waits for its event to be kept before answering 200 anyway: inside Zalo's 2 s.
KEEP_WAIT = 1.5

TOKEN_ERRORS = frozenset({-216, -220})
WINDOW_ERRORS = frozenset({-230, -232})
RATE_LIMITED = -32
MAX_BACKOFF = 60.0

MEDIA_EVENTS = {
    "user_send_image": "photo",
    "user_send_sticker": "sticker",
    "user_send_audio": "voice",
    "user_send_video": "video",
    "user_send_file": "file",
    "user_send_location": "location",
    "user_send_gif": "gif",
    "user_send_link": "link",
}
FOLLOW_EVENTS = {"follow": Kind.FOLLOW, "unfollow": Kind.UNFOLLOW}


class ZaloChannel:
    """The Zalo OA channel: a `Service` (owns its HTTP client and background tasks) and a `Sender`."""

    name = "zalo"
    channel = "zalo"

    def __init__(
        self,
        settings: Settings,
        inbox: Inbox,
        metrics: Metrics,
        tokens: ZaloTokens,
        http: aiohttp.ClientSession | None = None,
        *,
        send_timeout: float = 15.0,
        keep_wait: float = KEEP_WAIT,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.metrics = metrics
        self.tokens = tokens
        self._http = http
        self._owns_http = False
        self._inflight = InFlight(self.channel, MAX_CONCURRENT)
        self.keep_wait = keep_wait
        self._closing = False
        self._throttled = 0  # consecutive -32 answers: the backoff grows with them
        self._send_timeout = aiohttp.ClientTimeout(total=send_timeout, sock_connect=min(5.0, send_timeout))

    # ---- Service ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._closing = False
        self.tokens.use_http(self._client())

    async def stop(self) -> None:
        self._closing = True
        await self._inflight.finish(STOP_TIMEOUT)
        await self.tokens.close()
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None
            self._owns_http = False

    async def join(self, timeout: float | None = None) -> set[asyncio.Task[None]]:
        """Wait until the events accepted so far are handled; returns the tasks still running at the timeout."""
        return await self._inflight.join(timeout)

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
            self._owns_http = True
        return self._http

    # ---- webhook ------------------------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self.webhook)
        app.router.add_get(WEBHOOK_PATH, self.probe)

    async def probe(self, request: web.Request) -> web.Response:
        """Zalo checks the URL when it is saved: answer 200 and do nothing."""
        self.metrics.updates.labels(self.channel, "probe").inc()
        return web.Response(status=200)

    async def webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER, "").strip()
        if not signature:
            if raw.strip() in (b"", b"{}"):
                return await self.probe(request)
            return self._refuse(401, "missing signature")
        app_id, secret = self.settings.zalo_app_id, self.settings.zalo_oa_secret_key
        if app_id is None or secret is None:
            return self._refuse(503, "zalo not configured")
        if self._closing:
            # Shutting down: Zalo retries later, and another process (or our restart) handles it.
            return self._refuse(503, "stopping")
        mac = _mac(signature)

        # The timestamp is part of what is signed: the header if Zalo sent one, else the body's field, read by
        # a bare JSON parse that nothing acts on until the signature holds.
        body: Any = _UNPARSED
        verified: str | None = None
        header_timestamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
        if header_timestamp and _signature_ok(app_id, raw, header_timestamp, secret.get_secret_value(), mac):
            verified = header_timestamp
        else:
            body = _loads(raw)
            body_timestamp = _timestamp_field(body)
            if body_timestamp and _signature_ok(app_id, raw, body_timestamp, secret.get_secret_value(), mac):
                verified = body_timestamp
        if verified is None:
            return self._refuse(403, "bad signature")
        if not _recent(verified):
            return self._refuse(403, "stale timestamp")

        if body is _UNPARSED:
            body = _loads(raw)
        if not isinstance(body, dict):
            return self._malformed("not a JSON object")
        try:
            incoming = parse_event(body, verified)
        except MalformedEvent as exc:
            return self._malformed(str(exc))
        if incoming is None:
            self.metrics.updates.labels(self.channel, "ignored").inc()
            return web.Response(status=200)
        handling = self._inflight.handle(incoming.user_id, lambda kept: self.inbox.receive(incoming, kept),
                                         f"zalo:{incoming.update_key}")
        if not await handling.kept_within(self.keep_wait):
            return self._refuse(503, "not kept")  # Zalo sends it again
        return web.Response(status=200)

    def _refuse(self, status: int, reason: str) -> web.Response:
        return refuse_webhook(self.metrics, self.channel, status, reason)

    def _malformed(self, reason: str) -> web.Response:
        return malformed_webhook(self.metrics, self.channel, reason)

    # ---- Sender -------------------------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> Delivery:
        pieces = split(to_plain(message.text).strip(), MAX_TEXT)
        if not pieces:
            return Delivery(Result.FAILED, detail="empty message")
        buttons = render_buttons(message.buttons)

        sent = 0

        async def send_piece(index: int) -> Delivery:
            nonlocal sent
            body: dict[str, Any] = {"recipient": {"user_id": message.user_id}, "message": {"text": pieces[index]}}
            if buttons and index == len(pieces) - 1:
                body["message"]["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
            delivery = await self._send_one(body)
            if delivery.result is Result.SENT:
                sent += 1
            return delivery

        delivery = await send_pieces(len(pieces), send_piece)
        if (delivery.result is Result.OUTSIDE_WINDOW and not sent and message.broadcast
                and self.settings.zalo_promotion_broadcasts):
            promoted = await self._send_one(promotion_body(message.user_id, message.text, buttons), PROMOTION_PATH)
            return Delivery(promoted.result, promoted.retry_after, f"promotion: {promoted.detail}")
        return delivery

    async def _send_one(self, body: dict[str, Any], path: str = SEND_PATH) -> Delivery:
        try:
            token = await self.tokens.access_token()
        except ZaloTokenError as exc:
            return _token_failure(exc)
        delivery, code = await self._post(path, body, token)
        if code in TOKEN_ERRORS:
            # Expired or revoked: one refresh (shared with every other sender waiting on it) and one retry.
            try:
                token = await self.tokens.refresh(token)
            except ZaloTokenError as exc:
                return _token_failure(exc)
            delivery, code = await self._post(path, body, token)
            if code in TOKEN_ERRORS:
                return Delivery(Result.FAILED, detail=f"zalo error {code} after a token refresh")
        return delivery

    async def _post(self, path: str, body: dict[str, Any], token: str) -> tuple[Delivery, int | None]:
        url = self.settings.zalo_api_url.rstrip("/") + path
        try:
            async with self._client().post(
                url, json=body, headers={"access_token": token}, timeout=self._send_timeout
            ) as response:
                status = response.status
                try:
                    data: Any = await response.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            # No connection was made: the message never left, so sending again is safe.
            return Delivery(Result.RETRY, retry_after=5.0, detail=f"connect: {type(exc).__name__}"), None
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The request went out and no answer came: maybe delivered. Never resend.
            return Delivery(Result.UNCERTAIN, detail=f"no answer: {type(exc).__name__}"), None

        code = _error_code(data)
        if code is None:
            if status == 429:
                return self._backoff("HTTP 429"), None
            if status >= 500:
                return Delivery(Result.UNCERTAIN, detail=f"HTTP {status} without an error code"), None
            return Delivery(Result.FAILED, detail=f"HTTP {status} without an error code"), None
        if code == 0:
            self._throttled = 0
            payload = data.get("data")
            message_id = payload.get("message_id") if isinstance(payload, dict) else None
            return Delivery(Result.SENT, detail=str(message_id or "")), code
        reason = str(data.get("message") or "")[:200]
        if code in WINDOW_ERRORS:
            return Delivery(Result.OUTSIDE_WINDOW, detail=f"zalo error {code}: {reason}"), code
        if code == RATE_LIMITED:
            return self._backoff(f"zalo error {code}: {reason}"), code
        if code in TOKEN_ERRORS:
            return Delivery(Result.FAILED, detail=f"zalo error {code}: {reason}"), code
        log.warning("zalo send failed", extra={"error": code})
        return Delivery(Result.FAILED, detail=f"zalo error {code}: {reason}"), code

    def _backoff(self, detail: str) -> Delivery:
        self._throttled += 1
        return Delivery(Result.RETRY, retry_after=min(MAX_BACKOFF, 2.0 ** self._throttled), detail=detail)


# ---- signature ------------------------------------------------------------------------------------------------

_UNPARSED: Any = object()


def _mac(header: str) -> bytes:
    value = header.strip()
    if value[:4].lower() == "mac=":
        value = value[4:]
    return value.strip().lower().encode("ascii", "replace")


def signature(app_id: str, raw: bytes, timestamp: str, oa_secret_key: str) -> str:
    """Zalo's webhook MAC: plain SHA-256 (not HMAC) over app id, raw body, timestamp and OA secret key."""
    return hashlib.sha256(app_id.encode() + raw + timestamp.encode() + oa_secret_key.encode()).hexdigest()


def _signature_ok(app_id: str, raw: bytes, timestamp: str, secret: str, mac: bytes) -> bool:
    return hmac.compare_digest(signature(app_id, raw, timestamp, secret).encode(), mac)


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _timestamp_field(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    value = body.get("timestamp")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _epoch_seconds(timestamp: str) -> float | None:
    try:
        value = float(timestamp)
    except ValueError:
        return None
    # Zalo sends milliseconds; tolerate seconds.
    return value / 1000 if value > 1e11 else value


def _recent(timestamp: str) -> bool:
    seconds = _epoch_seconds(timestamp)
    return seconds is not None and -MAX_SKEW_SECONDS <= time.time() - seconds <= MAX_AGE_SECONDS


# ---- events ---------------------------------------------------------------------------------------------------


class MalformedEvent(ValueError):
    """A signed event that lacks what its kind needs."""


def _identifier(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
        raise MalformedEvent(f"{what} missing or invalid")
    return value.strip()


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedEvent(f"{what} missing")
    return value


def parse_event(body: dict[str, Any], timestamp: str) -> Incoming | None:
    """One verified event as an `Incoming`, or None for events nobody answers (echoes, receipts, others)."""
    event = body.get("event_name")
    if not isinstance(event, str) or not event:
        raise MalformedEvent("event_name missing")
    if event in FOLLOW_EVENTS:
        follower = _identifier(_object(body.get("follower"), "follower").get("id"), "follower.id")
        stamp = _timestamp_field(body) or timestamp
        return Incoming("zalo", follower, FOLLOW_EVENTS[event], update_key=f"{event}:{follower}:{stamp}"[:MAX_ID])
    if event == "user_send_text" or event in MEDIA_EVENTS:
        user = _identifier(_object(body.get("sender"), "sender").get("id"), "sender.id")
        message = _object(body.get("message"), "message")
        msg_id = _identifier(message.get("msg_id"), "message.msg_id")
        text = message.get("text")
        if event == "user_send_text":
            # A pressed oa.query.* button arrives here too, its payload as the text: the handlers route both.
            if not isinstance(text, str):
                raise MalformedEvent("message.text missing")
            return Incoming("zalo", user, Kind.TEXT, text=text, update_key=msg_id)
        caption = text if isinstance(text, str) else ""
        return Incoming("zalo", user, Kind.MEDIA, text=caption, media=MEDIA_EVENTS[event], update_key=msg_id)
    # oa_send_* echo what the OA itself sent; user_received_message / user_seen_message are receipts; other
    # events (reactions, shared info, tags…) ask nothing of us. Never answer any of them.
    return None


# ---- rendering ------------------------------------------------------------------------------------------------


def short_title(title: str, limit: int = MAX_TITLE) -> str:
    """A button title within Zalo's limit, cut at a word break, with "…" only when something was cut."""
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    kept = ""
    for word in title.split(" "):
        candidate = f"{kept} {word}" if kept else word
        if len(candidate) + 1 > limit:
            break
        kept = candidate
    if not kept:
        kept = title[: limit - 1]
    return kept.rstrip(" ,.;:-–·/") + "…"


def promotion_body(user_id: str, text: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    """A promotion message: the text's first line as its header, the rest as text elements, the same buttons."""
    heading, _, rest = to_plain(text).strip().partition("\n")
    if len(heading) > MAX_HEADER:  # the whole heading still reaches the reader, in the text
        heading, rest = heading[:MAX_HEADER - 1].rstrip() + "…", f"{heading}\n{rest}"
    elements: list[dict[str, Any]] = [{"type": "header", "content": heading}]
    elements += [{"type": "text", "align": "left", "content": piece} for piece in split(rest.strip(), MAX_TEXT)]
    payload: dict[str, Any] = {"template_type": "promotion", "language": "VI", "elements": elements}
    if buttons:
        payload["buttons"] = buttons
    return {"recipient": {"user_id": user_id}, "message": {"attachment": {"type": "template", "payload": payload}}}


def render_buttons(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    if len(buttons) > MAX_BUTTONS:
        log.warning("zalo shows at most 5 buttons; extra ones dropped", extra={"count": len(buttons)})
    rendered: list[dict[str, Any]] = []
    for button in buttons[:MAX_BUTTONS]:
        title = short_title(button.title)
        if button.url:
            rendered.append({"title": title, "type": "oa.open.url", "payload": {"url": button.url}})
        else:
            # The payload comes back as the user's text message; the hidden kind keeps the chat tidy.
            rendered.append({"title": title, "type": "oa.query.hide", "payload": button.payload or button.title})
    return rendered


def _error_code(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    value = data.get("error")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _token_failure(exc: ZaloTokenError) -> Delivery:
    if exc.retryable:
        return Delivery(Result.RETRY, retry_after=30.0, detail=f"token: {exc}")
    return Delivery(Result.FAILED, detail=f"token: {exc}")
