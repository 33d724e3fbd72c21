"""Commune staff on Telegram: `/chiendich`, a short guided conversation that creates a campaign, shows the
author exactly what residents will receive, and schedules it only after they confirm."""

from __future__ import annotations

import re
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal, cast

from bot.store import campaigns
from bot.store.campaigns import CampaignError, CampaignSpec, Recipient
from bot.store.models import Campaign
from handlers import texts
from handlers.context import Turn
from handlers.messages import Button, Kind
from handlers.router import Router, command, kind, payload, state

router = Router()

MAX_TITLE = 120
MAX_TEXT = 1500
_URL = re.compile(r"https?://\S+")
_WHEN = re.compile(r"^\s*(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2,4}))?\s+(\d{1,2})[:h](\d{2})?\s*$")


def is_staff(turn: Turn) -> bool:
    return "staff" in turn.roles


@router.on(command("chiendich"))
async def start(turn: Turn) -> None:
    if not is_staff(turn):
        turn.say(texts.STAFF_ONLY)
        return
    turn.say(texts.CD_TITLE)
    turn.set_state("cd_title")


@router.on(lambda turn: turn.state.startswith("cd_"), command("thoat", "huy"))
async def leave(turn: Turn) -> None:
    turn.set_state("idle")
    turn.say(texts.CD_CANCELLED)


@router.on(state("cd_title"), kind(Kind.TEXT))
async def got_title(turn: Turn) -> None:
    title = turn.text.strip()
    if len(title) > MAX_TITLE:
        turn.say(texts.CD_TOO_LONG.format(what="Tiêu đề", n=len(title), limit=MAX_TITLE))
        return
    turn.set_state("cd_text", title=title)
    turn.say(texts.CD_TEXT)


@router.on(state("cd_text"), kind(Kind.TEXT))
async def got_text(turn: Turn) -> None:
    body = turn.text.strip()
    if len(body) > MAX_TEXT:
        turn.say(texts.CD_TOO_LONG.format(what="Nội dung", n=len(body), limit=MAX_TEXT))
        return
    link = _URL.search(body)
    turn.set_state("cd_area", **turn.data, text=body, link=link.group(0).rstrip(".,)") if link else None)
    _ask_area(turn)


@router.on(state("cd_area"), kind(Kind.TEXT, Kind.BUTTON))
async def got_area(turn: Turn) -> None:
    kind_, _, choice = turn.text.strip().partition(":")
    areas = turn.services.settings.areas
    if kind_ != "cdarea" or not (choice == "all" or (choice.isdigit() and int(choice) < len(areas))):
        _ask_area(turn)  # typed words, or a button from an older list: ask again
        return
    chosen = [] if choice == "all" else [areas[int(choice)]]
    turn.set_state("cd_time", **turn.data, areas=chosen)
    turn.say(texts.CD_TIME)


def _ask_area(turn: Turn) -> None:
    areas = turn.services.settings.areas
    buttons = [Button(texts.CD_ALL_AREAS, "cdarea:all"), *(Button(a, f"cdarea:{i}") for i, a in enumerate(areas))]
    turn.say(texts.CD_AREA, buttons, row_size=2)


@router.on(state("cd_time"), kind(Kind.TEXT))
async def got_time(turn: Turn) -> None:
    now = turn.services.now()
    zone = turn.services.settings.timezone
    typed = turn.text.strip()
    send_at = None if typed.lower() in ("ngay", "bây giờ", "bay gio", "now") else parse_when(typed, now, zone)
    if send_at is False or (send_at is not None and send_at <= now):
        turn.say(texts.CD_BAD_TIME.format(text=typed))
        return
    data = {**turn.data, "send_at": send_at.isoformat() if send_at else None}
    turn.set_state("cd_confirm", **data)
    spec = _spec(turn, data)
    preview = campaigns.broadcast_message(
        cast(Campaign, SimpleNamespace(id=0, title=spec.title, text=spec.text, link_url=spec.link_url,
                                       link_title=spec.link_title)),
        Recipient(turn.who.identity_id, turn.incoming.channel, turn.incoming.user_id),
        turn.services.settings.commune_name,
    )
    turn.say(texts.CD_PREVIEW.format(audience=_audience(data), when=_when(send_at, zone)))
    turn.replies.append(preview)
    turn.say("Gửi thông báo này?", [Button(texts.CD_CONFIRM, "cd:ok"), Button(texts.CD_CANCEL, "cd:no")], row_size=2)


@router.on(state("cd_confirm"), payload("cd"))
async def confirm(turn: Turn) -> None:
    if turn.text.strip() != "cd:ok":
        turn.set_state("idle")
        turn.say(texts.CD_CANCELLED)
        return
    now = turn.services.now()
    zone = turn.services.settings.timezone
    try:
        campaign = await campaigns.create_campaign(turn.session, _spec(turn, turn.data), now, zone,
                                                   known_areas=turn.services.settings.areas)
    except CampaignError as exc:
        turn.set_state("idle")
        turn.say(str(exc))
        return
    send_at = datetime.fromisoformat(turn.data["send_at"]) if turn.data.get("send_at") else None
    turn.set_state("idle")
    turn.say(texts.CD_SCHEDULED.format(id=campaign.id, when=_when(send_at, zone)))


def parse_when(typed: str, now: datetime, zone: Any) -> datetime | Literal[False]:
    """"25/11 08:00" (this year, or next if already past) → an aware datetime; False when unreadable."""
    found = _WHEN.match(typed)
    if not found:
        return False
    day, month, year, hour, minute = found.groups()
    local_now = now.astimezone(zone)
    full_year = int(year) + 2000 if year and len(year) == 2 else int(year) if year else local_now.year
    try:
        when = datetime(full_year, int(month), int(day), int(hour), int(minute or 0), tzinfo=zone)
    except ValueError:
        return False
    if not year and when < local_now:
        when = when.replace(year=full_year + 1)
    return when


def _spec(turn: Turn, data: dict[str, Any]) -> CampaignSpec:
    return CampaignSpec(
        title=data["title"], text=data["text"], author=turn.incoming.address, areas=tuple(data.get("areas") or ()),
        send_at=datetime.fromisoformat(data["send_at"]) if data.get("send_at") else None,
        link_url=data.get("link"), link_title="Xem chi tiết" if data.get("link") else None,
    )


def _audience(data: dict[str, Any]) -> str:
    return ", ".join(data.get("areas") or ()) or "mọi người đã đăng ký"


def _when(send_at: datetime | None, zone: Any) -> str:
    return texts.CD_NOW if send_at is None else f"lúc {send_at.astimezone(zone):%H:%M ngày %d/%m/%Y}"
