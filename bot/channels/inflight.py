"""The updates a channel has taken from its platform and is still handling.

One user's updates are handled one at a time in arrival order (a resident's quick second message must not race
the first through their conversation state); the next may start once the one before is kept, while its replies
are still on their way (the inbox delivers each user's replies in order: bot/pipeline.py). Different users run
side by side, up to a bound.

A webhook answers the platform only once its update is *kept*: the inbox has committed what the update changed and
journalled its replies (see bot/outbox/journal.py), so a crash after that answer delays the replies, never loses
them. A crash or a stop before it leaves the platform without a 200, and the platform sends the update again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handling:
    """One update being handled: its task, and the future the inbox resolves once the update is kept."""

    task: asyncio.Task[None]
    kept: asyncio.Future[None]

    async def kept_within(self, seconds: float) -> bool:
        """Whether the platform may be told the update is taken.

        True once it is kept, and also when it is still waiting after `seconds` (the platform will not wait longer;
        it is then handled as before, in the background). False when its handling ended without keeping it
        (a stop cancelled it, or the inbox failed before its commit): the platform should send it again."""
        await asyncio.wait((self.kept, self.task), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if self.kept.done():
            return True
        if self.task.done():
            return False
        log.warning("update taken before it was kept", extra={"task": self.task.get_name(), "waited": seconds})
        return True


class InFlight:
    def __init__(self, channel: str, max_concurrent: int) -> None:
        self.channel = channel
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._user_locks: dict[str, asyncio.Lock] = {}
        self._user_waiting: Counter[str] = Counter()

    def handle(self, user: str, work: Callable[[asyncio.Future[None]], Awaitable[object]], name: str) -> Handling:
        """Run `work(kept)` in the user's turn; it resolves `kept` (see `Handling.kept_within`)."""
        kept: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        return Handling(self.track(self._in_turn(user, work, kept, name), name), kept)

    def track(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task that `join` waits for and a stop cancels when it runs late."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _in_turn(self, user: str, work: Callable[[asyncio.Future[None]], Awaitable[object]],
                       kept: asyncio.Future[None], name: str) -> None:
        lock = self._user_locks.setdefault(user, asyncio.Lock())
        self._user_waiting[user] += 1
        try:
            await lock.acquire()
            released = False

            def end_turn(_: object = None) -> None:
                nonlocal released
                if not released:
                    released = True
                    lock.release()

            # The user's turn ends when the update is kept: a reply the platform holds back (a long 429) must not
            # keep their next message from being stored and answered 200 in time.
            kept.add_done_callback(end_turn)
            try:
                async with self._slots:
                    await work(kept)
            finally:
                end_turn()  # never kept (failed, or cancelled at stop): the turn ends with the work
        except asyncio.CancelledError:
            raise
        except Exception:
            # The inbox answers its own errors with an apology; this is the last net, so a task never dies loud.
            log.exception("update handling failed", extra={"channel": self.channel, "update": name})
        finally:
            self._user_waiting[user] -= 1
            if self._user_waiting[user] <= 0:
                del self._user_waiting[user]
                self._user_locks.pop(user, None)

    async def join(self, timeout: float | None = None) -> set[asyncio.Task[None]]:
        """Wait until the updates taken so far are handled; returns the tasks still running at the timeout."""
        pending = set(self._tasks)
        if not pending:
            return set()
        _, late = await asyncio.wait(pending, timeout=timeout)
        return late

    async def finish(self, timeout: float) -> None:
        """At stop: let what is in flight finish for `timeout` seconds, then cancel the rest. An update cancelled
        before it was kept was never answered 200 (the platform sends it again); one kept already has its
        replies journalled."""
        late = await self.join(timeout)
        if late:
            log.warning("updates still in flight at stop", extra={"channel": self.channel, "count": len(late)})
            for task in late:
                task.cancel()
            # Let the cancellations unwind (rolling back their transactions) before the HTTP client closes.
            await asyncio.wait(late, timeout=0.5)
