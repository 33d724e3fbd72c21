"""What every channel provides and receives.

A channel turns its platform's updates into `Incoming` and hands them to an `Inbox` (the pipeline that
deduplicates, runs the handlers, stores and delivers). It also provides a `Sender` that puts one `Outgoing`
on its platform and says what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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


class Sender(Protocol):
    channel: str

    async def send(self, message: Outgoing) -> Delivery: ...


class Inbox(Protocol):
    async def receive(self, incoming: Incoming) -> Sequence[Outgoing]:
        """Handle one inbound message exactly once; returns what was said back (already delivered)."""
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
