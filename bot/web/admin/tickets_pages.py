"""Tickets: list and filter, the masked transcript, reassigning to another volunteer."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.store import audit, tickets
from bot.store.models import Identity, Message, OutboxMessage, Role, Ticket
from bot.web.admin.state import ADMIN, StaffSession, staff_only
from bot.web.app import RUNTIME
from faq.secrets import mask_secrets
from handlers.messages import Outgoing

FILTERS = {
    "open": ("Đang mở", tickets.OPEN),
    "waiting": ("Chờ nhận", ("waiting",)),
    "claimed": ("Đã có người nhận", ("claimed",)),
    "raised": ("Chuyển cán bộ", ("raised",)),
    "closed": ("Đã đóng", ("closed",)),
    "all": ("Tất cả", None),
}
STATUS_LABELS = {"waiting": "Chờ nhận", "claimed": "Đã nhận", "raised": "Chuyển cán bộ", "closed": "Đã đóng"}
REASON_LABELS = {
    "asked": "Người dân muốn gặp người",
    "not_found": "Trợ lý không tìm được câu trả lời",
    "thumbs_down": "Câu trả lời chưa giúp được",
    "clarify": "Câu hỏi không có trong danh sách",
}
CHANNEL_LABELS = {"telegram": "Telegram", "zalo": "Zalo", "web": "Web", "console": "Thử nghiệm"}
LIST_LIMIT = 200
ASSIGNED = ("Cán bộ {name} đã giao phiếu #{id} cho anh/chị. Gõ /phieu để xem các phiếu anh/chị đang giữ; "
            "tin nhắn anh/chị gửi cho tôi sẽ được chuyển tới người dân.")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/tickets", staff_only(ticket_list))
    app.router.add_get("/admin/tickets/{id:\\d+}", staff_only(ticket_page))
    app.router.add_post("/admin/tickets/{id:\\d+}/reassign", staff_only(reassign))


def _render(
    request: web.Request, staff: StaffSession, template: str, status: int = 200, **context: Any
) -> web.Response:
    return request.app[ADMIN].render(template, staff, status=status, nav="tickets", statuses=STATUS_LABELS,
                                     reasons=REASON_LABELS, channels=CHANNEL_LABELS, **context)


async def ticket_list(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    chosen = request.query.get("status", "open")
    if chosen not in FILTERS:
        chosen = "open"
    query = (
        select(Ticket, Identity.channel)
        .join(Identity, Identity.id == Ticket.identity_id)
        .order_by(Ticket.id.desc())
        .limit(LIST_LIMIT)
    )
    states = FILTERS[chosen][1]
    if states is not None:
        query = query.where(Ticket.status.in_(states))
    async with request.app[RUNTIME].sessions() as session:
        rows = (await session.execute(query)).all()
    return _render(request, staff, "tickets.html", rows=rows, filters=FILTERS, chosen=chosen, limit=LIST_LIMIT)


async def _helpers(session: Any) -> list[tuple[str, str]]:
    """(address, label) of everyone who may hold a ticket."""
    roles = (await session.scalars(select(Role).order_by(Role.role.desc(), Role.display_name, Role.external_id))).all()
    seen: dict[str, str] = {}
    for role in roles:
        address = f"{role.channel}:{role.external_id}"
        label = f"{role.display_name or address} ({'tình nguyện viên' if role.role == 'volunteer' else 'cán bộ'})"
        seen.setdefault(address, label)
    return list(seen.items())


def _author(author: str, helpers: dict[str, str]) -> str:
    if author == "resident":
        return "Người dân"
    if author == "bot":
        return "Trợ lý"
    role, _, address = author.partition(":")
    return helpers.get(address, address or author) if role in ("volunteer", "staff") else author


async def ticket_page(request: web.Request, staff: StaffSession, error: str | None = None,
                      status: int = 200) -> web.StreamResponse:
    ticket_id = int(request.match_info["id"])
    async with request.app[RUNTIME].sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return request.app[ADMIN].render("error.html", staff, status=404, message="Không có phiếu này.")
        identity = await session.get(Identity, ticket.identity_id)
        # The resident's side of the conversation: what they wrote and everything they were sent (the
        # volunteer's answers reach them as the bot's messages).
        messages = (
            await session.scalars(
                select(Message)
                .where(Message.ticket_id == ticket_id, Message.identity_id == ticket.identity_id)
                .order_by(Message.id)
            )
        ).all()
        helpers = await _helpers(session)
    names = dict(helpers)
    transcript = [
        (m.created_at, _author(m.author, names), m.direction, mask_secrets(m.text).text if m.text else None, m.kind)
        for m in messages
    ]
    summary = mask_secrets(ticket.summary).text if ticket.summary else None
    return _render(request, staff, "ticket.html", status=status, ticket=ticket,
                   channel=identity.channel if identity else None, transcript=transcript, summary=summary,
                   helpers=helpers, owner=_author(f"volunteer:{ticket.owner}", names) if ticket.owner else None,
                   error=error, saved=request.query.get("saved") == "1")


async def reassign(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    ticket_id = int(request.match_info["id"])
    form = await request.post()
    owner = form.get("owner")
    owner = owner.strip() if isinstance(owner, str) else ""
    now = runtime.now()
    refusal: tuple[str, int] | None = None
    async with runtime.sessions() as session, session.begin():
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return request.app[ADMIN].render("error.html", staff, status=404, message="Không có phiếu này.")
        previous = ticket.owner
        if ticket.status == "closed":
            refusal = ("Phiếu đã đóng, không giao lại được.", 409)
        elif not owner:
            await tickets.give_back(session, ticket, staff.actor, now)
        elif owner not in dict(await _helpers(session)):
            refusal = ("Người nhận phải là tình nguyện viên hoặc cán bộ đã được cấp quyền.", 400)
        else:
            ticket.owner = owner
            ticket.status = "claimed"
            ticket.claimed_at = now
            ticket.last_activity_at = now
            ticket.reminded_at = None
            channel, _, user_id = owner.partition(":")
            # Through the outbox: the new owner hears of it even if their platform is slow or down right now.
            note = Outgoing(channel, user_id, ASSIGNED.format(name=staff.name, id=ticket_id))  # type: ignore[arg-type]
            session.add(OutboxMessage(channel=channel, recipient=user_id, payload=note.to_json(), priority=0))
        if refusal is None:
            audit.record(session, staff.actor, "ticket.reassign", f"ticket:{ticket_id}", previous=previous,
                         owner=owner or None)
    if refusal is not None:
        # Rendered after the transaction: the page reads in a session of its own.
        return await ticket_page(request, staff, *refusal)
    raise web.HTTPSeeOther(f"/admin/tickets/{ticket_id}?saved=1")
