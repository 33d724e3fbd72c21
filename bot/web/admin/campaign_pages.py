"""Campaigns: create with a preview (message as residents will see it, how many will get it, when), schedule,
cancel, and the delivery report with its progress while sending."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot.channels.markup import to_html
from bot.store import campaigns
from bot.store.models import CHANNELS, Campaign
from bot.web.admin.state import ADMIN, StaffSession, staff_only
from bot.web.app import RUNTIME

# A row being sent is counted as pending (campaigns.run_counts).
COUNT_LABELS = MappingProxyType({status: campaigns.OUTCOME_LABELS[status] for status in campaigns.COUNTED})
CHANNEL_LABELS = {"telegram": "Telegram", "zalo": "Zalo", "web": "Web", "console": "Thử nghiệm"}
FIELDS = ("title", "text", "link_url", "link_title", "when", "send_at", "recurrence", "until")
SHOWN_OCCURRENCES = 3
REFRESH_SECONDS = 5


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/campaigns", staff_only(campaign_list))
    app.router.add_get("/admin/campaigns/new", staff_only(new_form))
    app.router.add_post("/admin/campaigns/new", staff_only(create))
    app.router.add_get("/admin/campaigns/{id:\\d+}", staff_only(campaign_page))
    app.router.add_post("/admin/campaigns/{id:\\d+}/cancel", staff_only(cancel))


def _render(
    request: web.Request, staff: StaffSession, template: str, status: int = 200, **context: Any
) -> web.Response:
    settings = request.app[RUNTIME].settings
    return request.app[ADMIN].render(
        template, staff, status=status, nav="campaigns", statuses=campaigns.CAMPAIGN_STATUS_LABELS,
        count_labels=COUNT_LABELS,
        channel_labels=CHANNEL_LABELS, all_areas=settings.areas, all_channels=CHANNELS, **context,
    )


async def campaign_list(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    async with request.app[RUNTIME].sessions() as session:
        rows = list(await campaigns.list_campaigns(session))[::-1]
        counts = {c.id: await campaigns.campaign_counts(session, c.id) for c in rows}
    return _render(request, staff, "campaigns.html", rows=rows, counts=counts)


def _blank() -> dict[str, Any]:
    return {**dict.fromkeys(FIELDS, ""), "when": "now", "areas": [], "channels": []}


async def new_form(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    return _render(request, staff, "campaign_form.html", form=_blank(), errors=[], preview=None)


def _local_time(value: str, request: web.Request) -> datetime | None:
    """A `datetime-local` field (no offset): in the commune's time zone."""
    if not value.strip():
        return None
    zone = request.app[RUNTIME].settings.timezone
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise campaigns.CampaignError(f"Thời gian không hợp lệ: {value!r}.") from None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def _spec(form: dict[str, Any], staff: StaffSession, request: web.Request) -> campaigns.CampaignSpec:
    when = form["when"]
    send_at = _local_time(form["send_at"], request) if when in ("at", "repeat") else None
    if when == "at" and send_at is None:
        raise campaigns.CampaignError("Chọn ngày giờ gửi.")
    recurrence = form["recurrence"].strip() if when == "repeat" else ""
    if when == "repeat" and not recurrence:
        raise campaigns.CampaignError("Nhập lịch lặp lại (crontab 5 trường, ví dụ \"0 8 * * 1\": 8 giờ sáng thứ Hai).")
    return campaigns.CampaignSpec(
        title=form["title"], text=form["text"], author=staff.actor, areas=tuple(form["areas"]),
        channels=tuple(form["channels"]), send_at=send_at, recurrence=recurrence or None,
        until=_local_time(form["until"], request) if when == "repeat" else None,
        link_url=form["link_url"] or None, link_title=form["link_title"] or None,
    )


def _occurrences(campaign: Campaign, now: datetime, request: web.Request) -> list[datetime]:
    zone = request.app[RUNTIME].settings.timezone
    found: list[datetime] = []
    cursor = now - timedelta(seconds=1)
    while len(found) < SHOWN_OCCURRENCES:
        upcoming = campaigns.next_occurrence(campaign, cursor, zone)
        if upcoming is None:
            break
        found.append(upcoming)
        cursor = upcoming
        if not campaign.recurrence:
            break
    return found


async def create(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    posted = await request.post()
    form = _blank()
    for key in FIELDS:
        value = posted.get(key)
        form[key] = value[:5000] if isinstance(value, str) else form[key]
    form["areas"] = [a for a in posted.getall("areas", []) if isinstance(a, str) and a in runtime.settings.areas]
    form["channels"] = [c for c in posted.getall("channels", []) if isinstance(c, str) and c in CHANNELS]
    now = runtime.now()
    zone = runtime.settings.timezone
    try:
        spec = campaigns.validate(_spec(form, staff, request), now, zone)
    except campaigns.CampaignError as exc:
        return _render(request, staff, "campaign_form.html", status=400, form=form, errors=[str(exc)], preview=None)
    if spec.send_at is not None and spec.recurrence is None and spec.send_at < now - timedelta(minutes=1):
        return _render(request, staff, "campaign_form.html", status=400, form=form,
                       errors=["Thời điểm gửi đã qua; chọn \"Gửi ngay\" hoặc một thời điểm sắp tới."], preview=None)
    draft = Campaign(
        id=0, title=spec.title, text=spec.text, link_url=spec.link_url, link_title=spec.link_title,
        audience_areas=list(spec.areas), audience_channels=list(spec.channels), send_at=spec.send_at,
        recurrence=spec.recurrence, until=spec.until, status="draft", author=spec.author, created_at=now,
    )
    if posted.get("action") != "create":
        async with runtime.sessions() as session:
            recipients = await campaigns.audience(session, draft)
        sample = campaigns.Recipient(0, "web", "preview")
        message = campaigns.broadcast_message(draft, sample, runtime.settings.commune_name)
        by_channel: dict[str, int] = {}
        for r in recipients:
            by_channel[r.channel] = by_channel.get(r.channel, 0) + 1
        preview = {
            "html": Markup(to_html(message.text)), "buttons": message.buttons, "recipients": len(recipients),
            "by_channel": by_channel, "occurrences": _occurrences(draft, now, request),
        }
        return _render(request, staff, "campaign_form.html", form=form, errors=[], preview=preview)
    async with runtime.sessions() as session, session.begin():
        campaign = await campaigns.create_campaign(session, spec, now, zone, known_areas=runtime.settings.areas)
    hook = request.app[ADMIN].on_campaign_change
    if hook is not None:
        await hook(campaign.id)
    raise web.HTTPSeeOther(f"/admin/campaigns/{campaign.id}")


async def campaign_page(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    campaign_id = int(request.match_info["id"])
    async with request.app[RUNTIME].sessions() as session:
        campaign = await campaigns.get_campaign(session, campaign_id)
        if campaign is None:
            return request.app[ADMIN].render("error.html", staff, status=404, message="Không có chiến dịch này.")
        runs = list(await campaigns.runs_of(session, campaign_id))
        per_run = [(run, await campaigns.run_counts(session, [run.id])) for run in runs]
        counts = await campaigns.run_counts(session, [run.id for run in runs])
    total = sum(counts.values())
    finished = total - counts.get("pending", 0)
    progress = finished / total if total else None
    upcoming = _occurrences(campaign, request.app[RUNTIME].now(), request) if campaign.status == "scheduled" else []
    return _render(request, staff, "campaign.html", campaign=campaign, runs=per_run, counts=counts, total=total,
                   progress=progress, upcoming=upcoming,
                   refresh=REFRESH_SECONDS if campaign.status == "sending" else None)


async def cancel(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    campaign_id = int(request.match_info["id"])
    async with runtime.sessions() as session, session.begin():
        campaign = await campaigns.get_campaign(session, campaign_id)
        if campaign is None:
            return request.app[ADMIN].render("error.html", staff, status=404, message="Không có chiến dịch này.")
        if campaign.status == "done":
            return request.app[ADMIN].render("error.html", staff, status=409,
                                             message="Chiến dịch đã gửi xong, không huỷ được nữa.")
        await campaigns.cancel_campaign(session, campaign_id, staff.actor, runtime.now())
    hook = request.app[ADMIN].on_campaign_change
    if hook is not None:
        await hook(campaign_id)
    raise web.HTTPSeeOther(f"/admin/campaigns/{campaign_id}")
