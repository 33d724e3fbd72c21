"""Long polling that confirms an update to Telegram only once the inbox has kept it.

Telegram forgets every update below the `offset` of a `getUpdates` call. PTB's own updater asks for the next batch
as soon as it has queued the last one, so a batch is confirmed before anything of it is committed, and a crash in
between loses it. Here the next call waits until each update of the batch is kept (bot/channels/inflight.py) or its
handling has ended. Only an update whose handling was cancelled (the process stopping) is left unconfirmed, with
everything after it: Telegram sends them again after the restart, and the inbox's idempotency key drops the ones
that were kept after all.

Errors are retried as PTB's updater retries them: a 429 after its `retry_after`, a timeout at once, anything else
after a pause that grows to 30 s. A revoked token ends polling (logged); the rest of the process keeps running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from telegram import Bot, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError, TimedOut

from bot.channels.inflight import Handling
from bot.channels.telegram_http import retry_after_seconds

log = logging.getLogger(__name__)

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
RETRY_AFTER_SLACK = 0.5  # PTB's own margin over the wait Telegram asks for

# Hands one update to the channel; returns its handling, or None when nothing is to be handled.
Accept = Callable[[Update], Handling | None]


class Poller:
    def __init__(self, bot: Bot, accept: Accept, *, timeout: float, allowed_updates: Sequence[str]) -> None:
        self._bot = bot
        self._accept = accept
        self._timeout = timedelta(seconds=timeout)
        self._allowed_updates = list(allowed_updates)
        # The `offset` of the next call: every update below it is kept (None: nothing confirmed yet).
        self._offset: int | None = None

    async def run(self) -> None:
        """Fetch, hand over and confirm until cancelled."""
        pause = 0.0
        while True:
            try:
                updates = await self._bot.get_updates(offset=self._offset, timeout=self._timeout,
                                                      allowed_updates=self._allowed_updates)
            except InvalidToken:
                log.error("telegram refused the token: polling stopped")
                return
            except RetryAfter as exc:
                pause = retry_after_seconds(exc) + RETRY_AFTER_SLACK
            except TimedOut:
                pause = 0.0
            except TelegramError as exc:  # network, a webhook set elsewhere (409), a server error
                pause = min(LONGEST_PAUSE, max(FIRST_PAUSE, pause * 1.5))
                log.warning("telegram polling failed", extra={"error": type(exc).__name__, "retry_in": pause})
            except Exception:  # an answer PTB could not read: polling must not die of it, silently
                pause = min(LONGEST_PAUSE, max(FIRST_PAUSE, pause * 1.5))
                log.exception("telegram polling failed", extra={"retry_in": pause})
            else:
                pause = 0.0
                if not await self._take(updates):
                    return
            if pause:
                await asyncio.sleep(pause)

    async def _take(self, updates: Sequence[Update]) -> bool:
        """Hand the batch over and move the offset past what is kept; False when a handling was cancelled."""
        handlings = [(update.update_id, self._accept(update)) for update in updates]
        for update_id, handling in handlings:
            if handling is not None:
                await asyncio.wait((handling.kept, handling.task), return_when=asyncio.FIRST_COMPLETED)
                if not handling.kept.done() and handling.task.cancelled():
                    return False
            # Kept, or failed in the inbox (logged there; sending it again would fail the same way).
            self._offset = update_id + 1
        return True
