"""The inbox every channel hands its messages to: deduplicate, understand, answer, store, deliver.

One database transaction covers the idempotency key, the resident's state and the stored messages, so a
redelivered update is answered once, and a crash before commit leaves nothing half done (the platform
redelivers and we answer then).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Delivery, Result, Sender
from bot.outbox import journal
from bot.runtime import Runtime
from bot.store import residents, roles, tickets
from faq.secrets import mask_secrets
from handlers import texts
from handlers.context import Services, Turn
from handlers.messages import Incoming, Kind, Outgoing
from handlers.resident import router as resident_router
from handlers.router import Router
from handlers.staff import router as staff_router
from handlers.volunteer import group_router
from handlers.volunteer import router as volunteer_router

log = logging.getLogger(__name__)

INTERACTIVE_RETRIES = 3
MAX_RETRY_WAIT = 30.0
RATE_WINDOW = timedelta(minutes=1)
ROLE_CACHE_SECONDS = 5.0


class Pipeline:
    def __init__(self, runtime: Runtime, senders: Mapping[str, Sender] | None = None, router: Router | None = None):
        self.runtime = runtime
        self.senders: dict[str, Sender] = dict(senders or {})
        self.router = router or resident_router
        # Who holds a role, read whole every few seconds (roles are granted from the CLI, in another process).
        self._roles_held: dict[tuple[str, str], frozenset[str]] = {}
        self._roles_read_until = float("-inf")
        # SQLite: the process has one connection (bot/store/sqlite_inline.py). Turns queue here, first come first
        # served and without the pool's checkout timeout, which a burst of hundreds could otherwise exceed.
        # PostgreSQL runs them side by side.
        self._serial = asyncio.Lock() if runtime.engine.dialect.name == "sqlite" else None
        self.services = Services(runtime.settings, runtime.knowledge, lambda: runtime.now())
        # Outcomes of journalled replies; a service of its own (started by the assembly) writes them in batches.
        self.delivery_log = journal.DeliveryLog(runtime)
        # Per user, the delivery of the latest kept turn: a user's next turn may be handled while the replies of the
        # one before are still being sent (a long 429), and its replies wait for them.
        self._sending_for: dict[tuple[str, str], asyncio.Future[None]] = {}

    def add_sender(self, sender: Sender) -> None:
        self.senders[sender.channel] = sender

    async def receive(self, incoming: Incoming, kept: asyncio.Future[None] | None = None) -> Sequence[Outgoing]:
        started = time.perf_counter()
        metrics = self.runtime.metrics
        try:
            if self._serial is None:
                replies, journalled = await self._handle(incoming)
            else:
                async with self._serial:
                    replies, journalled = await self._handle(incoming)
        except _Duplicate:
            _resolve(kept)
            metrics.updates.labels(incoming.channel, "duplicate").inc()
            return []
        except Exception:
            # Answered with an apology: the resident is told to ask again, so the platform need not resend it.
            _resolve(kept)
            log.exception("handling failed", extra={"channel": incoming.channel, "kind": incoming.kind.value})
            metrics.updates.labels(incoming.channel, "error").inc()
            apology = Outgoing(incoming.channel, incoming.user_id, self._apology())
            await self._deliver_after_earlier_turns(incoming, [apology])
            return [apology]
        _resolve(kept)  # committed, its replies journalled: from here a crash delays them, never loses them
        metrics.updates.labels(incoming.channel, "handled").inc()
        await self._deliver_after_earlier_turns(incoming, replies, journalled)
        metrics.handle_seconds.labels(incoming.channel).observe(time.perf_counter() - started)
        return replies

    async def _deliver_after_earlier_turns(self, incoming: Incoming, messages: Sequence[Outgoing],
                                           journalled: Sequence[int] = ()) -> None:
        # Called right after `kept` is resolved, with no await in between: the user's next turn, which may start
        # once this one is kept, finds this delivery registered and queues behind it.
        user = (incoming.channel, incoming.user_id)
        earlier = self._sending_for.get(user)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sending_for[user] = mine
        try:
            if earlier is not None:
                await asyncio.shield(earlier)
            await self.deliver(messages, journalled)
        finally:
            mine.set_result(None)
            if self._sending_for.get(user) is mine:
                del self._sending_for[user]

    def _apology(self) -> str:
        term = self.runtime.settings.term_of_address
        return texts.ERROR.format(Term=term[:1].upper() + term[1:], term=term)

    async def _handle(self, incoming: Incoming) -> tuple[list[Outgoing], list[int]]:
        """The turn's replies, and the ids of their outbox journal rows (none when nothing of theirs may stay)."""
        async with self.runtime.sessions() as session, session.begin():
            if incoming.update_key is not None and not await residents.record_update(
                session, incoming.channel, incoming.update_key, self.runtime.now()
            ):
                raise _Duplicate
            arrival = await residents.identify(session, incoming.channel, incoming.user_id, incoming.display_name,
                                               incoming.received_at, since=incoming.received_at - RATE_WINDOW)
            who = arrival.who
            turn = Turn(incoming, who, session, self.services, arrival.state, dict(arrival.data),
                        open_ticket_id=arrival.open_ticket_id,
                        roles=await self._roles(session, incoming.channel, incoming.user_id))
            masked = mask_secrets(incoming.text) if incoming.text else None
            turn.stored_text = masked.text if masked else None
            if masked and masked.found:
                what = ", ".join(texts.SECRET_NAMES[kind] for kind in masked.kinds)
                turn.say(turn.t(texts.SECRET_WARNING, what=what))
                # The matcher and the handlers see the masked text only.
                turn.incoming = _with_text(incoming, masked.text)

            if not turn.roles and incoming.kind in (Kind.TEXT, Kind.BUTTON, Kind.MEDIA):
                recent = arrival.recent_inbound
                limit = self.runtime.settings.rate_limit_per_minute
                if recent >= limit:
                    # Kept (so nothing is lost) but not answered; the resident hears why, once per window.
                    turn.decision = "rate_limited"
                    if recent == limit:
                        turn.say(turn.t(texts.RATE_LIMITED))
                    await residents.insert_messages(session, self._inbound_rows(turn))
                    return turn.replies, await self._journal(session, turn, [turn.who.identity_id] * len(turn.replies))
            if incoming.chat_id is not None:
                # A group chat (the volunteers'): only its buttons concern us; the bot never chats there.
                await group_router.dispatch(turn)
                return turn.replies, await self._journal(session, turn, await self._identities(session, turn))
            # Staff commands first (they answer "not allowed" to others), then a volunteer's tools, then the
            # resident's conversation, which volunteers and staff can also use.
            routers = [staff_router, volunteer_router, self.router] if turn.roles else [staff_router, self.router]
            for router in routers:
                if await router.dispatch(turn):
                    break

            if turn.state == "erased":
                return turn.replies, []  # nothing of theirs may remain, not even this message
            await residents.save_state(session, arrival, turn.state, turn.data, incoming.received_at)
            if turn.decision:
                self.runtime.metrics.decisions.labels(turn.decision).inc()
            identities = await self._identities(session, turn)
            await residents.insert_messages(session, self._inbound_rows(turn) + self._reply_rows(turn, identities))
            return turn.replies, await self._journal(session, turn, identities)

    async def _roles(self, session: AsyncSession, channel: str, user_id: str) -> frozenset[str]:
        """Roles change rarely and are asked about on every message: the whole (small) table is kept a few
        seconds, so a message costs a dictionary lookup, not a query."""
        now = time.monotonic()
        if now >= self._roles_read_until:
            self._roles_held = await roles.roles_by_address(session)
            self._roles_read_until = now + ROLE_CACHE_SECONDS
        return self._roles_held.get((channel, user_id), frozenset())

    def _inbound_rows(self, turn: Turn) -> list[dict[str, Any]]:
        incoming = turn.incoming
        if incoming.kind not in (Kind.TEXT, Kind.BUTTON, Kind.MEDIA):
            return []
        return [_message_row(
            identity_id=turn.who.identity_id, direction="in", author=turn.author,
            kind=incoming.kind.value if incoming.kind is not Kind.MEDIA else (incoming.media or "media"),
            text=turn.stored_text, faq_id=turn.faq_id, decision=turn.decision, score=turn.score,
            ticket_id=turn.ticket_id, created_at=incoming.received_at,
        )]

    async def _identities(self, session: AsyncSession, turn: Turn) -> list[int | None]:
        """Whose each reply is (None: an address we have no identity for, such as the volunteers' group)."""
        found: list[int | None] = []
        for reply in turn.replies:
            if (reply.channel, reply.user_id) == (turn.who.channel, turn.who.external_id):
                found.append(turn.who.identity_id)
            else:
                other = await residents.find_identity(session, reply.channel, reply.user_id)
                found.append(other.id if other is not None else None)
        return found

    def _reply_rows(self, turn: Turn, identities: list[int | None]) -> list[dict[str, Any]]:
        now = self.runtime.now()
        return [_message_row(identity_id=identity_id, direction="out", author="bot", kind="text", text=reply.text,
                             ticket_id=turn.ticket_id, created_at=now)
                for reply, identity_id in zip(turn.replies, identities, strict=True) if identity_id is not None]

    async def _journal(self, session: AsyncSession, turn: Turn, identities: list[int | None]) -> list[int]:
        return await journal.journal(session, turn.replies, identities, self.runtime.now())

    async def deliver(self, messages: Sequence[Outgoing], journalled: Sequence[int] = ()) -> None:
        """Send replies in order; a message that cannot go out is logged and counted, never raised to the user.

        `journalled` holds the replies' outbox rows (see bot/outbox/journal.py): each gets its outcome. Messages to
        people go first: a post to the volunteers' group may wait for the group's pacing (20 a minute), and a
        person's message should not wait behind it. Each recipient's messages keep their order."""
        for n in sorted(range(len(messages)), key=lambda n: self._to_volunteer_group(messages[n])):
            message = messages[n]
            sender = self.senders.get(message.channel)
            if sender is None:
                log.warning("no sender for channel", extra={"channel": message.channel})
                delivery = Delivery(Result.FAILED, detail=f"no sender for channel {message.channel}")
            else:
                delivery = await self._send_with_retries(sender, message)
                self.runtime.metrics.deliveries.labels(message.channel, delivery.result.value).inc()
            if n < len(journalled):
                self.delivery_log.note(journalled[n], delivery)
            if delivery.result is Result.BLOCKED:
                async with self.runtime.sessions() as session, session.begin():
                    await residents.deactivate(session, message.channel, message.user_id)
            elif delivery.result is Result.SENT and message.ref:
                async with self.runtime.sessions() as session, session.begin():
                    await tickets.remember_post(session, message.ref, delivery.detail)
        if journalled and not self.delivery_log.running:
            await self.delivery_log.flush()  # no periodic writer in this process (a test, the console)

    def _to_volunteer_group(self, message: Outgoing) -> bool:
        group = self.runtime.settings.telegram_volunteer_chat_id
        return group is not None and message.channel == "telegram" and message.user_id == str(group)

    async def _send_with_retries(self, sender: Sender, message: Outgoing) -> Delivery:
        delivery = Delivery(Result.FAILED, detail="not attempted")
        for _ in range(INTERACTIVE_RETRIES):
            try:
                delivery = await sender.send(message)
            except Exception as exc:  # a sender bug must not lose the rest of the replies
                log.exception("sender raised", extra={"channel": message.channel})
                return Delivery(Result.FAILED, detail=type(exc).__name__)
            if delivery.result is not Result.RETRY:
                return delivery
            await asyncio.sleep(min(max(delivery.retry_after, 0.5), MAX_RETRY_WAIT))
        return delivery


def _message_row(*, identity_id: int, direction: str, author: str, kind: str, text: str | None,
                 created_at: datetime, ticket_id: int | None, faq_id: str | None = None,
                 decision: str | None = None, score: float | None = None) -> dict[str, Any]:
    """One row of `messages`; every row names every column, so a turn's rows are inserted as one batch."""
    return {"identity_id": identity_id, "direction": direction, "author": author, "kind": kind, "text": text,
            "faq_id": faq_id, "decision": decision, "score": score, "ticket_id": ticket_id,
            "created_at": created_at}


def _resolve(kept: asyncio.Future[None] | None) -> None:
    if kept is not None and not kept.done():
        kept.set_result(None)


class _Duplicate(Exception):
    """The update was handled before (a platform redelivery)."""


def _with_text(incoming: Incoming, text: str) -> Incoming:
    from dataclasses import replace

    return replace(incoming, text=text)
