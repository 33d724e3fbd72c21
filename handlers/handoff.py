"""Handing a resident to a person: one open ticket per resident, and an honest word on when they will hear back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.store import audit
from bot.store.engine import savepoint_ready
from bot.store.models import Message, Ticket
from bot.store.residents import open_ticket
from handlers import texts
from handlers.context import Turn
from handlers.hours import WorkingHours
from handlers.messages import Button, Kind
from handlers.volunteer import announce, update_group_post

TRANSCRIPT_MESSAGES = 8
# Under every message that tells the resident a request for a person is open (handlers/resident.py `cancel_request`).
CANCEL_BUTTONS = (Button(texts.CANCEL_REQUEST, "cancel"),)
LINE_CHARS = 300


def working_hours(turn: Turn) -> WorkingHours:
    settings = turn.services.settings
    return WorkingHours.parse(settings.working_hours, settings.working_days, settings.timezone, settings.holidays)


async def request_human(turn: Turn, reason: str) -> None:
    ticket = await open_ticket(turn.session, turn.who.resident_id)
    if ticket is not None:
        turn.ticket_id = ticket.id
        turn.say(turn.t(texts.TICKET_WAITING), CANCEL_BUTTONS)
        return
    summary = await _recent_transcript(turn)
    now = turn.services.now()
    await savepoint_ready(turn.session)
    try:
        async with turn.session.begin_nested():
            ticket = Ticket(
                resident_id=turn.who.resident_id, identity_id=turn.who.identity_id, reason=reason,
                summary=summary, created_at=now, last_activity_at=now,
            )
            turn.session.add(ticket)
            await turn.session.flush()
    except IntegrityError:  # the same resident asked twice at once: the other message opened it
        turn.say(turn.t(texts.TICKET_WAITING), CANCEL_BUTTONS)
        return
    turn.ticket_id = ticket.id
    audit.record(turn.session, f"{turn.who.channel}:{turn.who.external_id}", "ticket.open", f"ticket:{ticket.id}",
                 reason=reason)
    hours = working_hours(turn)
    if hours.is_open(now):
        turn.say(turn.t(texts.HANDOFF_IN_HOURS, minutes=turn.services.settings.handoff_reply_minutes), CANCEL_BUTTONS)
    else:
        turn.say(turn.t(texts.HANDOFF_OUT_OF_HOURS, hours=hours.describe(), back=hours.describe_return(now)),
                 CANCEL_BUTTONS)
    await announce(turn, ticket)


async def _recent_transcript(turn: Turn) -> str:
    """The last few messages (already stored masked), oldest first, plus the current one. Pressed buttons are left
    out: their text is a payload ("human:clarify"), not words anyone wrote."""
    rows = (
        await turn.session.scalars(
            select(Message)
            .where(Message.identity_id == turn.who.identity_id, Message.text.is_not(None), Message.kind != "button")
            .order_by(Message.id.desc())
            .limit(TRANSCRIPT_MESSAGES)
        )
    ).all()
    lines = [f"{'Người dân' if m.direction == 'in' else 'Trợ lý'}: {_clip(m.text or '')}" for m in reversed(rows)]
    if turn.stored_text and turn.incoming.kind is Kind.TEXT:
        lines.append(f"Người dân: {turn.stored_text}")
    return "\n".join(lines)


def _clip(text: str, limit: int = LINE_CHARS) -> str:
    """The bot's own long answers are summarised by their first line: the volunteer needs the gist."""
    first = text.strip().split("\n", 1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def ticket_erased(turn: Turn, ticket: Ticket) -> None:
    """The resident erased their data, and the ticket with it."""
    _ticket_withdrawn(turn, ticket, texts.TICKET_POST_ERASED, texts.TICKET_ERASED_VOLUNTEER)


def ticket_cancelled(turn: Turn, ticket: Ticket) -> None:
    """The resident no longer needs a person."""
    _ticket_withdrawn(turn, ticket, texts.TICKET_POST_CANCELLED, texts.TICKET_CANCELLED_VOLUNTEER)


def _ticket_withdrawn(turn: Turn, ticket: Ticket, post: str, to_owner: str) -> None:
    """The group post stops offering the ticket, and the volunteer handling it learns that nothing they type
    reaches anyone now."""
    update_group_post(turn, ticket, post.format(id=ticket.id))
    if ticket.owner:
        channel, _, user_id = ticket.owner.partition(":")
        turn.send_to(channel, user_id, to_owner.format(id=ticket.id))
