"""What every channel provides and receives.

A channel turns its platform's updates into `Incoming` and hands them to an `Inbox` (the pipeline that
deduplicates, runs the handlers, stores and delivers). It also provides a `Sender` that puts one `Outgoing`
on its platform and says what happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from aiohttp import web

from bot.metrics import Metrics
from handlers.messages import Incoming, Outgoing

log = logging.getLogger(__name__)


class Result(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # permanent: the user blocked us or is gone; mark the identity inactive
    OUTSIDE_WINDOW = "outside_window"  # Zalo: the user has not written recently enough; an outcome, not an error
    RETRY = "retry"  # temporary: rate limited or the platform hiccuped; try again after `retry_after`
    FAILED = "failed"  # permanent for this message (bad request, chat not found)
    UNCERTAIN = "uncertain"  # the request went out but no answer came back: maybe delivered, never resend


@dataclass(frozen=True, slots=True)
class Delivery:
    result: Result
    retry_after: float = 0.0
    detail: str = ""


# How long a later piece of a long message may wait for a rate limit before the message is given up as uncertain.
MAX_PIECE_WAIT = 30.0


async def send_pieces(count: int, send_piece: Callable[[int], Awaitable[Delivery]]) -> Delivery:
    """Send a message cut into `count` pieces, in order, and say what happened to the whole.

    Once a piece is out, the message can no longer be sent again as a whole without repeating it: a later piece
    the platform refuses for now (RETRY) is tried once more after the wait it asks for, and if it is still not
    out the message is UNCERTAIN, never RETRY."""
    delivery = Delivery(Result.FAILED, detail="empty message")
    for index in range(count):
        delivery = await send_piece(index)
        if delivery.result is Result.RETRY and index:
            await asyncio.sleep(min(delivery.retry_after, MAX_PIECE_WAIT))
            delivery = await send_piece(index)
        if delivery.result is not Result.SENT:
            if not index:
                return delivery
            result = Result.UNCERTAIN if delivery.result is Result.RETRY else delivery.result
            return Delivery(result, 0.0, f"{delivery.detail} (after {index} of {count} pieces sent)")
    return delivery


class Sender(Protocol):
    channel: str

    async def send(self, message: Outgoing) -> Delivery: ...


class Inbox(Protocol):
    async def receive(self, incoming: Incoming, kept: asyncio.Future[None] | None = None) -> Sequence[Outgoing]:
        """Handle one inbound message exactly once; returns what was said back (already delivered).

        `kept`, when given, is resolved as soon as the message can no longer be lost, before its replies are
        delivered: what it changed is committed and its replies are journalled (or it was a redelivery, or it
        failed and the apology is on its way). A webhook answers its platform then."""
        ...


def refuse_webhook(metrics: Metrics, channel: str, status: int, reason: str) -> web.Response:
    """A webhook call we will not read (no or wrong credentials, not ready): counted, logged, answered."""
    metrics.updates.labels(channel, "refused").inc()
    log.warning("webhook refused", extra={"channel": channel, "status": status, "reason": reason})
    return web.Response(status=status, text=reason)


def malformed_webhook(metrics: Metrics, channel: str, reason: str) -> web.Response:
    """An authenticated call whose body is not an update: 400, and nothing is passed on."""
    metrics.updates.labels(channel, "malformed").inc()
    log.warning("webhook malformed", extra={"channel": channel, "reason": reason})
    return web.Response(status=400, text=f"malformed {channel} update")
