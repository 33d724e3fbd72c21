"""Volunteers of the Tổ công nghệ số cộng đồng: claim a waiting ticket, talk to the resident through the bot,
close it, give it back or raise it to staff."""

from __future__ import annotations

from bot.store import tickets
from bot.store.models import Ticket
from handlers import texts
from handlers.context import Turn
from handlers.messages import Button, Kind
from handlers.router import Router, command, kind, payload

# Buttons pressed in the volunteers' group.
group_router = Router()
# Private chats of volunteers (and staff) with the bot.
router = Router()


def volunteer_name(turn: Turn) -> str:
    return (turn.incoming.display_name or "").split(" ")[-1] or "của Tổ"


def _channel_label(channel: str) -> str:
    return {"telegram": "Telegram", "zalo": "Zalo", "web": "Web", "console": "Console"}.get(channel, channel)


async def claim_ticket(turn: Turn) -> None:
    me = turn.incoming.address
    ticket_id = turn.text.strip().partition(":")[2]
    if not ticket_id.isdigit():
        return
    if not turn.roles & {"volunteer", "staff"}:
        turn.send_to(turn.incoming.channel, turn.incoming.user_id, texts.CLAIM_NOT_ALLOWED)
        return
    now = turn.services.now()
    won = await tickets.claim(turn.session, int(ticket_id), me, now)
    ticket = await tickets.get(turn.session, int(ticket_id))
    if ticket is None:  # the resident had their data erased since the ticket was posted
        turn.send_to(turn.incoming.channel, turn.incoming.user_id, texts.TICKET_GONE.format(id=ticket_id))
        return
    if not won:
        if ticket.status == "closed":
            text = texts.TICKET_GONE.format(id=ticket.id)
        else:
            owner = await tickets.name_of(turn.session, ticket.owner or "") or texts.ANOTHER_HELPER
            text = texts.CLAIMED_BY_OTHER.format(id=ticket.id, owner=owner)
        turn.send_to(turn.incoming.channel, turn.incoming.user_id, text)
        return
    await turn.session.refresh(ticket)
    turn.ticket_id = ticket.id
    turn.send_to(turn.incoming.channel, turn.incoming.user_id,
                 texts.CLAIMED_YOU.format(id=ticket.id, summary=ticket.summary or ""))
    update_group_post(turn, ticket, texts.TICKET_POST_CLAIMED.format(
        id=ticket.id, channel=_channel_label(await _resident_channel(turn, ticket)),
        reason=texts.REASONS.get(ticket.reason, ticket.reason),
        owner=turn.incoming.display_name or me,
        time=now.astimezone(turn.services.settings.timezone).strftime("%H:%M"),
    ))
    address = await tickets.resident_address(turn.session, ticket)
    if address:
        turn.send_to(*address, turn.t(texts.RESIDENT_CONNECTED, name=volunteer_name(turn)))


async def _resident_channel(turn: Turn, ticket: Ticket) -> str:
    address = await tickets.resident_address(turn.session, ticket)
    return address[0] if address else "?"


def update_group_post(turn: Turn, ticket: Ticket, text: str) -> None:
    chat = turn.services.settings.telegram_volunteer_chat_id
    if chat is not None and ticket.group_message_id is not None:
        turn.send_to("telegram", str(chat), text, edit_message_id=str(ticket.group_message_id))


group_router.on(payload("claim"))(claim_ticket)
router.on(payload("claim"))(claim_ticket)


async def _my_ticket(turn: Turn) -> Ticket | None:
    owned = await tickets.owned_by(turn.session, turn.incoming.address)
    return owned[-1] if owned else None


@router.on(command("trogiup", "help"))
async def help_for_helpers(turn: Turn) -> None:
    """Volunteers and staff need their commands more than the resident's guide."""
    turn.say(texts.VOLUNTEER_HELP + ("\n" + texts.STAFF_HELP if "staff" in turn.roles else ""))


@router.on(command("phieu"))
async def list_waiting(turn: Turn) -> None:
    waiting = await tickets.waiting(turn.session)
    if not waiting:
        turn.say(texts.WAITING_NONE)
        return
    zone = turn.services.settings.timezone
    lines = "\n".join(
        f"#{t.id} · {texts.REASONS.get(t.reason, t.reason)} · {t.created_at.astimezone(zone):%H:%M %d/%m}"
        for t in waiting[:10]
    )
    turn.say(texts.WAITING_LIST.format(lines=lines), [Button(f"Nhận #{t.id}", f"claim:{t.id}") for t in waiting[:5]])


@router.on(command("xong"))
async def close_ticket(turn: Turn) -> None:
    ticket = await _my_ticket(turn)
    if ticket is None:
        turn.say(texts.NO_TICKET)
        return
    now = turn.services.now()
    await tickets.close(turn.session, ticket, turn.incoming.address, now)
    turn.ticket_id = ticket.id
    turn.say(texts.CLOSED_VOLUNTEER.format(id=ticket.id))
    update_group_post(turn, ticket, texts.TICKET_POST_CLOSED.format(id=ticket.id, owner=ticket.owner))
    address = await tickets.resident_address(turn.session, ticket)
    if address:
        stars = [Button("⭐" * n, f"rate:{ticket.id}:{n}") for n in range(5, 0, -1)]
        turn.send_to(*address, turn.t(texts.CLOSED_RESIDENT), stars)


@router.on(command("tra"))
async def give_back(turn: Turn) -> None:
    ticket = await _my_ticket(turn)
    if ticket is None:
        turn.say(texts.NO_TICKET)
        return
    await tickets.give_back(turn.session, ticket, turn.incoming.address, turn.services.now())
    turn.ticket_id = ticket.id
    turn.say(texts.RETURNED_VOLUNTEER.format(id=ticket.id))
    await announce(turn, ticket)
    address = await tickets.resident_address(turn.session, ticket)
    if address:
        turn.send_to(*address, turn.t(texts.RETURNED_RESIDENT))


@router.on(command("chuyen"))
async def raise_ticket(turn: Turn) -> None:
    ticket = await _my_ticket(turn)
    if ticket is None:
        turn.say(texts.NO_TICKET)
        return
    await tickets.raise_to_staff(turn.session, ticket, turn.incoming.address, turn.services.now())
    turn.ticket_id = ticket.id
    turn.say(texts.RAISED_VOLUNTEER.format(id=ticket.id))
    for staff in await tickets.addresses_with_role(turn.session, "staff"):
        turn.send_to("telegram", staff, texts.RAISED_STAFF.format(
            id=ticket.id, why=f"tình nguyện viên {volunteer_name(turn)} chuyển", summary=ticket.summary or ""),
            [Button(texts.CLAIM, f"claim:{ticket.id}")])
    address = await tickets.resident_address(turn.session, ticket)
    if address:
        turn.send_to(*address, turn.t(texts.RAISED_RESIDENT))


@router.on(command("dexuat"))
async def propose(turn: Turn) -> None:
    ticket = await _my_ticket(turn)
    if ticket is None:
        turn.say(texts.NO_TICKET)
        return
    question, answer = await tickets.last_exchange(turn.session, ticket)
    if not question or not answer:
        turn.say(texts.NOTHING_TO_PROPOSE)
        return
    proposal = await tickets.propose(turn.session, ticket, turn.incoming.address, question, answer)
    turn.say(texts.PROPOSED.format(id=proposal.id))


@router.on(kind(Kind.TEXT), lambda turn: not turn.text.startswith("/"))
async def relay_to_resident(turn: Turn) -> None:
    ticket = await _my_ticket(turn)
    if ticket is None:
        turn.handled = False  # not answering anyone: the volunteer is talking to the bot like a resident
        return
    address = await tickets.resident_address(turn.session, ticket)
    await tickets.touch(turn.session, ticket, turn.services.now(), by_owner=True)
    turn.ticket_id = ticket.id
    turn.author = f"volunteer:{turn.incoming.address}"
    if address:
        turn.send_to(*address, texts.FROM_VOLUNTEER.format(name=volunteer_name(turn), text=turn.stored_text or ""))


async def announce(turn: Turn, ticket: Ticket) -> None:
    """Post (or post again) a waiting ticket in the volunteers' group."""
    chat = turn.services.settings.telegram_volunteer_chat_id
    if chat is None:
        return
    channel = await _resident_channel(turn, ticket)
    turn.send_to(
        "telegram", str(chat),
        texts.TICKET_POST.format(id=ticket.id, channel=_channel_label(channel),
                                 reason=texts.REASONS.get(ticket.reason, ticket.reason), summary=ticket.summary or ""),
        [Button(texts.CLAIM, f"claim:{ticket.id}")], ref=f"ticket-post:{ticket.id}",
    )
