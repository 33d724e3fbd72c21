"""The staff JSON API (DESIGN.md, "Operator interface"): campaigns.

Every route needs `Authorization: Bearer $TROLY_ADMIN_TOKEN` (bot/web/bearer.py). Errors are JSON
`{"error": "<Vietnamese sentence>"}` so a staff tool can show them as they are.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.runtime import Runtime
from bot.store import campaigns
from bot.store.models import Campaign
from bot.web.app import RUNTIME, Handler
from bot.web.bearer import bearer_problem, json_error, json_response

API_ACTOR = "api"
Hook = Callable[[int], Awaitable[None]]


class CampaignApi:
    """The routes, with an optional hook the scheduler gives so a new campaign is planned at once."""

    def __init__(self, runtime: Runtime, on_change: Hook | None = None) -> None:
        self.runtime = runtime
        self.on_change = on_change

    def mount(self, app: web.Application) -> None:
        app.router.add_post("/api/campaigns", self._guard(self.create))
        app.router.add_get("/api/campaigns", self._guard(self.index))
        app.router.add_get("/api/campaigns/{id}", self._guard(self.show))
        app.router.add_post("/api/campaigns/{id}/cancel", self._guard(self.cancel))
        app.router.add_post("/api/campaigns/{id}/schedule", self._guard(self.schedule))

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            problem = bearer_problem(request, self.runtime.settings.admin_token)
            return problem if problem is not None else await handler(request)

        return guarded

    async def create(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return json_error(400, "Nội dung yêu cầu phải là JSON hợp lệ.")
        zone = self.runtime.settings.timezone
        now = self.runtime.now()
        try:
            spec = _spec(body, zone)
            # {"draft": true} keeps it unsent until POST /api/campaigns/{id}/schedule, after the author has seen
            # the preview in their chat.
            status = "draft" if body.get("draft") is True else "scheduled"
            async with self.runtime.sessions() as session, session.begin():
                campaign = await campaigns.create_campaign(session, spec, now, zone, status=status,
                                                           known_areas=self.runtime.settings.areas)
                campaigns.enqueue_preview(session, campaign, self.runtime.settings.commune_name, now)
        except campaigns.CampaignError as exc:
            return json_error(400, str(exc))
        if self.on_change is not None:
            await self.on_change(campaign.id)
        return json_response(await self._describe(campaign.id), status=201)

    async def index(self, request: web.Request) -> web.StreamResponse:
        async with self.runtime.sessions() as session:
            rows = await campaigns.list_campaigns(session)
        return json_response({"campaigns": [_campaign_json(c) for c in rows]})

    async def show(self, request: web.Request) -> web.StreamResponse:
        campaign_id = _id(request)
        if campaign_id is None:
            return json_error(404, "Không có chiến dịch này.")
        described = await self._describe(campaign_id)
        if described is None:
            return json_error(404, f"Không có chiến dịch #{campaign_id}.")
        return json_response(described)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        campaign_id = _id(request)
        if campaign_id is None:
            return json_error(404, "Không có chiến dịch này.")
        async with self.runtime.sessions() as session, session.begin():
            existing = await campaigns.get_campaign(session, campaign_id)
            if existing is None:
                return json_error(404, f"Không có chiến dịch #{campaign_id}.")
            if existing.status == "done":
                return json_error(409, f"Chiến dịch #{campaign_id} đã gửi xong, không huỷ được nữa.")
            await campaigns.cancel_campaign(session, campaign_id, API_ACTOR, self.runtime.now())
        if self.on_change is not None:
            await self.on_change(campaign_id)
        return json_response(await self._describe(campaign_id))

    async def schedule(self, request: web.Request) -> web.StreamResponse:
        campaign_id = _id(request)
        if campaign_id is None:
            return json_error(404, "Không có chiến dịch này.")
        async with self.runtime.sessions() as session, session.begin():
            scheduled = await campaigns.schedule_draft(session, campaign_id, API_ACTOR, self.runtime.now())
        if scheduled is None:
            return json_error(409, f"Chiến dịch #{campaign_id} không phải bản nháp.")
        if self.on_change is not None:
            await self.on_change(campaign_id)
        return json_response(await self._describe(campaign_id))

    async def _describe(self, campaign_id: int) -> dict[str, Any] | None:
        async with self.runtime.sessions() as session:
            campaign = await campaigns.get_campaign(session, campaign_id)
            if campaign is None:
                return None
            runs = await campaigns.runs_of(session, campaign_id)
            described = _campaign_json(campaign)
            described["counts"] = await campaigns.run_counts(session, [run.id for run in runs])
            described["runs"] = [
                {
                    "id": run.id, "scheduled_for": _iso(run.scheduled_for), "status": run.status,
                    "fired_at": _iso(run.fired_at), "finished_at": _iso(run.finished_at),
                    "counts": await campaigns.run_counts(session, [run.id]),
                }
                for run in runs
            ]
        return described


def mount(app: web.Application) -> None:
    """Mount the API without a scheduler hook (new campaigns are then picked up at the next resync)."""
    CampaignApi(app[RUNTIME]).mount(app)


# What a campaign body may hold. Anything else is refused: a misspelt "area" must not leave the audience empty,
# which means everyone, and send it to the whole commune.
CAMPAIGN_FIELDS = ("title", "text", "author", "audience", "send_at", "recurrence", "until", "link_url",
                   "link_title", "draft")
AUDIENCE_FIELDS = ("areas", "channels")


def _spec(body: Any, zone: ZoneInfo) -> campaigns.CampaignSpec:
    if not isinstance(body, dict):
        raise campaigns.CampaignError("Nội dung yêu cầu phải là một đối tượng JSON.")
    _only(body, CAMPAIGN_FIELDS, "")
    audience = body.get("audience") or {}
    if not isinstance(audience, dict):
        raise campaigns.CampaignError("audience phải là đối tượng {\"areas\": [...], \"channels\": [...]}.")
    _only(audience, AUDIENCE_FIELDS, "audience.")
    return campaigns.CampaignSpec(
        title=_text(body, "title"),
        text=_text(body, "text"),
        author=_text(body, "author") or API_ACTOR,
        areas=_strings(audience, "areas"),
        channels=_strings(audience, "channels"),
        send_at=parse_time(body.get("send_at"), zone, "send_at"),
        recurrence=_text(body, "recurrence") or None,
        until=parse_time(body.get("until"), zone, "until"),
        link_url=_text(body, "link_url") or None,
        link_title=_text(body, "link_title") or None,
    )


def _only(body: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    unknown = sorted(str(key) for key in body if key not in allowed)
    if unknown:
        raise campaigns.CampaignError(
            f"Không có trường {', '.join(prefix + k for k in unknown)}; các trường được dùng: "
            f"{', '.join(prefix + k for k in allowed)}."
        )


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise campaigns.CampaignError(f"Trường {key} phải là chuỗi ký tự.")
    return value


def _strings(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise campaigns.CampaignError(f"audience.{key} phải là danh sách chuỗi ký tự.")
    return tuple(value)


def parse_time(value: Any, zone: ZoneInfo, field: str) -> datetime | None:
    """ISO-8601; a time without an offset is in TROLY_TIMEZONE."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise campaigns.CampaignError(f"Trường {field} phải là thời gian ISO-8601, ví dụ \"2026-12-01T08:00\".")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise campaigns.CampaignError(
            f"Thời gian {field} không hợp lệ: {value!r} (cần ISO-8601, ví dụ \"2026-12-01T08:00\")."
        ) from exc
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def _id(request: web.Request) -> int | None:
    raw = request.match_info.get("id", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "title": campaign.title,
        "text": campaign.text,
        "link_url": campaign.link_url,
        "link_title": campaign.link_title,
        "audience": {"areas": list(campaign.audience_areas), "channels": list(campaign.audience_channels)},
        "send_at": _iso(campaign.send_at),
        "recurrence": campaign.recurrence,
        "until": _iso(campaign.until),
        "status": campaign.status,
        "author": campaign.author,
        "created_at": _iso(campaign.created_at),
    }


