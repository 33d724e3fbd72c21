"""Campaigns, their runs and their audiences (DESIGN.md, "Campaigns and broadcasts").

Firing a run is the one place a broadcast is created: the run row (unique per campaign and scheduled time) and
one outbox row per recipient are written in the caller's transaction, so a run either exists with all its
recipients or not at all, and a second firing of the same occurrence is a no-op.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import audit
from bot.store.engine import savepoint_ready
from bot.store.models import (
    CHANNELS,
    Campaign,
    CampaignRun,
    Identity,
    OutboxMessage,
    Resident,
    Subscription,
)
from handlers.messages import Button, Outgoing

BROADCAST_PRIORITY = 10  # interactive replies use 0 and go first
ACTIVE_STATES = ("scheduled", "sending")
# Sources differ (48 hours free, up to 7 days allowed): the longer bound, and -230 answers are still handled.
ZALO_INTERACTION_WINDOW = timedelta(days=7)
COUNTED = ("pending", "sent", "blocked", "outside_window", "failed", "uncertain", "cancelled")
# One wording for staff wherever these appear: the dashboard, `troly campaign`, the reports and the run report sent
# to a campaign's author.
CAMPAIGN_STATUS_LABELS: Final = MappingProxyType({
    "draft": "Nháp", "scheduled": "Đã lên lịch", "sending": "Đang gửi", "done": "Đã gửi xong", "cancelled": "Đã huỷ",
})
OUTCOME_LABELS: Final = MappingProxyType({
    "sent": "Đã gửi", "pending": "Đang chờ gửi", "sending": "Đang gửi", "blocked": "Đã chặn hoặc rời kênh",
    "outside_window": "Ngoài thời hạn tương tác", "failed": "Lỗi", "uncertain": "Không chắc đã nhận",
    "cancelled": "Đã huỷ",
})

BROADCAST_TEXT = "**{commune}: {title}**\n{text}\n\n— Gõ /huy để ngừng nhận thông báo."
DEFAULT_LINK_TITLE = "Xem chi tiết"
MAX_TITLE = 200
MAX_TEXT = 3000  # leaves room for the heading and the footer inside Telegram's 4096 characters
# A missed recurring campaign is looked for this far back at most (bounds the work of a long downtime).
LOOKBACK = timedelta(days=400)


class CampaignError(ValueError):
    """A campaign request that cannot be accepted; the message is Vietnamese, for the staff member."""


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    title: str
    text: str
    author: str
    areas: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    send_at: datetime | None = None
    recurrence: str | None = None
    until: datetime | None = None
    link_url: str | None = None
    link_title: str | None = None


def cron_trigger(expression: str, zone: ZoneInfo) -> Any:
    """The APScheduler trigger of a 5-field crontab expression, interpreted in the commune's time zone."""
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

    return CronTrigger.from_crontab(expression, timezone=zone)


def commune_area(name: str, known_areas: Sequence[str]) -> str | None:
    """The commune's own spelling of an area named with other case or spacing ("thôn  1" → "Thôn 1"), or None."""
    wanted = _area_key(name)
    return next((area for area in known_areas if _area_key(area) == wanted), None)


def _area_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def validate(spec: CampaignSpec, now: datetime, zone: ZoneInfo,
             known_areas: Sequence[str] | None = None) -> CampaignSpec:
    """Check and tidy a campaign request; raises CampaignError with a message meant for staff."""
    title = unicodedata.normalize("NFC", spec.title or "").strip()
    text = unicodedata.normalize("NFC", spec.text or "").strip()
    if not title:
        raise CampaignError("Thiếu tiêu đề chiến dịch (title).")
    if len(title) > MAX_TITLE:
        raise CampaignError(f"Tiêu đề dài quá {MAX_TITLE} ký tự.")
    if not text:
        raise CampaignError("Thiếu nội dung thông báo (text).")
    if len(text) > MAX_TEXT:
        raise CampaignError(f"Nội dung dài quá {MAX_TEXT} ký tự.")
    areas = tuple(dict.fromkeys(unicodedata.normalize("NFC", a).strip() for a in spec.areas if a.strip()))
    if known_areas is not None:
        # A misspelt area would reach nobody, silently: residents subscribe to the commune's own list. Case and
        # spacing aside ("thôn 1"), a name is taken as the list spells it.
        spelt = {a: commune_area(a, known_areas) for a in areas}
        unknown = [a for a, known in spelt.items() if known is None]
        if unknown:
            raise CampaignError(f"Khu vực không có trong danh sách của xã/phường: {', '.join(unknown)}. "
                                f"Chọn trong: {', '.join(known_areas)}.")
        areas = tuple(dict.fromkeys(known for known in spelt.values() if known is not None))
    channels = tuple(dict.fromkeys(c.strip() for c in spec.channels if c.strip()))
    for channel in channels:
        if channel not in CHANNELS:
            raise CampaignError(f"Kênh không hợp lệ: {channel!r}. Chọn trong: {', '.join(CHANNELS)}.")
    recurrence = (spec.recurrence or "").strip() or None
    if recurrence is not None:
        try:
            cron_trigger(recurrence, zone)
        except ValueError as exc:
            raise CampaignError(
                f"Lịch lặp lại không hợp lệ: {recurrence!r} (cần dạng crontab 5 trường, ví dụ \"0 8 * * 1\")."
            ) from exc
    send_at = spec.send_at
    if send_at is None and recurrence is None:
        send_at = now  # "null (now)"
    if spec.until is not None:
        if recurrence is None:
            raise CampaignError("Chỉ chiến dịch lặp lại mới có ngày kết thúc (until).")
        if spec.until <= (send_at or now):
            raise CampaignError("Ngày kết thúc (until) phải sau thời điểm bắt đầu.")
    link_url = (spec.link_url or "").strip() or None
    if link_url is not None:
        parts = urlsplit(link_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link_url) > 500:
            raise CampaignError("Liên kết (link_url) phải là địa chỉ http:// hoặc https:// hợp lệ.")
    link_title = (spec.link_title or "").strip() or None
    if link_title is not None and len(link_title) > 60:
        raise CampaignError("Tên nút liên kết dài quá 60 ký tự.")
    return CampaignSpec(title, text, spec.author or "?", areas, channels, send_at, recurrence, spec.until,
                        link_url, link_title)


async def create_campaign(
    session: AsyncSession, spec: CampaignSpec, now: datetime, zone: ZoneInfo, status: str = "scheduled",
    known_areas: Sequence[str] | None = None,
) -> Campaign:
    """`known_areas`: the commune's areas (TROLY_AREAS), which the audience must name from."""
    spec = validate(spec, now, zone, known_areas)
    campaign = Campaign(
        title=spec.title, text=spec.text, link_url=spec.link_url, link_title=spec.link_title,
        audience_areas=list(spec.areas), audience_channels=list(spec.channels), send_at=spec.send_at,
        recurrence=spec.recurrence, until=spec.until, status=status, author=spec.author,
        created_at=now, updated_at=now,
    )
    session.add(campaign)
    await session.flush()
    audit.record(session, spec.author, "campaign.create", f"campaign:{campaign.id}", title=spec.title)
    return campaign


PREVIEW_TEXT = "Xem trước chiến dịch #{id} ({state}). Người dân sẽ nhận đúng tin dưới đây:\n\n{message}"


def enqueue_preview(session: AsyncSession, campaign: Campaign, commune: str, now: datetime) -> bool:
    """Put the exact message residents will receive in the author's chat, through the outbox (priority of an
    interactive reply). False when the author is not a chat address (an API script, the CLI)."""
    channel, sep, user_id = campaign.author.partition(":")
    if not sep or channel not in CHANNELS or not user_id:
        return False
    message = broadcast_message(campaign, Recipient(0, channel, user_id), commune)
    state = "bản nháp" if campaign.status == "draft" else "đã lên lịch"
    preview = Outgoing(message.channel, user_id, PREVIEW_TEXT.format(id=campaign.id, state=state, message=message.text),
                       message.buttons)
    session.add(OutboxMessage(channel=channel, recipient=user_id, priority=0, payload=preview.to_json(),
                              status="pending", next_attempt_at=now, created_at=now))
    return True


async def schedule_draft(session: AsyncSession, campaign_id: int, actor: str, now: datetime) -> Campaign | None:
    """draft → scheduled; None when there is no such draft."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.status != "draft":
        return None
    campaign.status = "scheduled"
    campaign.updated_at = now
    audit.record(session, actor, "campaign.schedule", f"campaign:{campaign.id}")
    return campaign


async def get_campaign(session: AsyncSession, campaign_id: int) -> Campaign | None:
    return await session.get(Campaign, campaign_id)


async def list_campaigns(session: AsyncSession, statuses: Iterable[str] | None = None) -> Sequence[Campaign]:
    query = select(Campaign).order_by(Campaign.id)
    if statuses is not None:
        query = query.where(Campaign.status.in_(tuple(statuses)))
    return (await session.scalars(query)).all()


async def cancel_campaign(session: AsyncSession, campaign_id: int, actor: str, now: datetime) -> Campaign | None:
    """Stop a campaign: no more runs, and what has not left yet never will. None when there is no such campaign.

    Rows being sent right now finish with their real result; only `pending` rows are cancelled.
    """
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        return None
    if campaign.status in ("done", "cancelled"):
        return campaign
    campaign.status = "cancelled"
    campaign.updated_at = now
    runs = select(CampaignRun.id).where(CampaignRun.campaign_id == campaign_id).scalar_subquery()
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.run_id.in_(runs), OutboxMessage.status == "pending")
        .values(status="cancelled", last_error="campaign cancelled")
    )
    await session.execute(
        update(CampaignRun)
        .where(CampaignRun.campaign_id == campaign_id, CampaignRun.status.in_(("pending", "sending")))
        .values(status="cancelled", finished_at=now)
    )
    audit.record(session, actor, "campaign.cancel", f"campaign:{campaign_id}")
    return campaign


@dataclass(frozen=True, slots=True)
class Recipient:
    identity_id: int
    channel: str
    external_id: str
    last_inbound_at: datetime | None = None

    def outside_zalo_window(self, now: datetime) -> bool:
        """A Zalo OA may message a user only for a while after the user last wrote (platforms/zalo.md)."""
        return self.channel == "zalo" and (
            self.last_inbound_at is None or now - self.last_inbound_at > ZALO_INTERACTION_WINDOW
        )


async def audience(session: AsyncSession, campaign: Campaign) -> list[Recipient]:
    """Active identities subscribed to one of the campaign's areas (all areas when none) on its channels."""
    query = (
        select(Identity.id, Identity.channel, Identity.external_id, Identity.last_inbound_at)
        .where(Identity.active.is_(True))
        .where(exists().where(_subscription_matches(campaign.audience_areas)))
        .order_by(Identity.id)
    )
    if campaign.audience_channels:
        query = query.where(Identity.channel.in_(list(campaign.audience_channels)))
    return [Recipient(*row) for row in (await session.execute(query)).all()]


def _subscription_matches(areas: Sequence[str]) -> Any:
    condition = Subscription.identity_id == Identity.id
    return and_(condition, Subscription.area.in_(list(areas))) if areas else condition


def broadcast_message(campaign: Campaign, recipient: Recipient, commune: str) -> Outgoing:
    text = BROADCAST_TEXT.format(commune=commune, title=campaign.title, text=campaign.text)
    buttons: tuple[Button, ...] = ()
    if campaign.link_url:
        buttons = (Button(campaign.link_title or DEFAULT_LINK_TITLE, url=campaign.link_url),)
    return Outgoing(recipient.channel, recipient.external_id, text, buttons,  # type: ignore[arg-type]
                    ref=f"campaign:{campaign.id}", broadcast=True)


async def fire_run(
    session: AsyncSession, campaign: Campaign, scheduled_for: datetime, now: datetime, commune: str, *,
    zalo_promotion: bool = False,
) -> CampaignRun | None:
    """Create the run of one occurrence and its outbox rows, in the caller's transaction.

    None when that occurrence already fired (the unique (campaign, scheduled_for) says so) or the campaign is
    no longer active. `zalo_promotion`: Zalo followers outside the interaction window are tried too (the channel
    falls back to a promotion message); otherwise they are reported as outside it without trying.
    """
    if campaign.status not in ACTIVE_STATES:
        return None
    run = CampaignRun(campaign_id=campaign.id, scheduled_for=scheduled_for, status="sending", fired_at=now)
    await savepoint_ready(session)
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        return None
    recipients = await audience(session, campaign)
    if recipients:
        rows = [
            {
                "channel": r.channel, "recipient": r.external_id, "identity_id": r.identity_id, "run_id": run.id,
                "priority": BROADCAST_PRIORITY, "payload": broadcast_message(campaign, r, commune).to_json(),
                # Outside Zalo's window a reply would only be refused (-230): report it without trying.
                "status": "outside_window" if not zalo_promotion and r.outside_zalo_window(now) else "pending",
                "attempts": 0, "next_attempt_at": now, "created_at": now,
            }
            for r in recipients
        ]
        await session.execute(insert(OutboxMessage), rows)
    campaign.status = "sending"
    campaign.updated_at = now
    return run


async def run_counts(session: AsyncSession, run_ids: Sequence[int]) -> dict[str, int]:
    counts = dict.fromkeys(COUNTED, 0)
    if not run_ids:
        return counts
    query = (
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.run_id.in_(list(run_ids)))
        .group_by(OutboxMessage.status)
    )
    for status, count in (await session.execute(query)).all():
        # A row being sent right now is still pending from the reader's point of view.
        key = "pending" if status == "sending" else status
        counts[key] = counts.get(key, 0) + int(count)
    return counts


async def runs_of(session: AsyncSession, campaign_id: int) -> Sequence[CampaignRun]:
    return (
        await session.scalars(
            select(CampaignRun).where(CampaignRun.campaign_id == campaign_id).order_by(CampaignRun.scheduled_for)
        )
    ).all()


async def campaign_counts(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    runs = await runs_of(session, campaign_id)
    return await run_counts(session, [run.id for run in runs])


def outcomes_line(counts: Mapping[str, int], statuses: Iterable[str] | None = None) -> str:
    """"Đã gửi: 3 · Lỗi: 0 …" for `statuses` (default: every one counted), in OUTCOME_LABELS' words."""
    return " · ".join(f"{OUTCOME_LABELS.get(s, s)}: {counts.get(s, 0)}" for s in (statuses or counts))


async def last_run_time(session: AsyncSession, campaign_id: int) -> datetime | None:
    return await session.scalar(
        select(func.max(CampaignRun.scheduled_for)).where(CampaignRun.campaign_id == campaign_id)
    )


# ---- occurrences --------------------------------------------------------------------------------------------


def _start(campaign: Campaign) -> datetime:
    return campaign.send_at or campaign.created_at


def next_occurrence(campaign: Campaign, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first occurrence strictly after `after`, or None when the schedule has nothing more."""
    if not campaign.recurrence:
        start = _start(campaign)
        return start if start > after else None
    trigger = cron_trigger(campaign.recurrence, zone)
    begin = max(after + timedelta(microseconds=1), _start(campaign))
    found = trigger.get_next_fire_time(None, begin.astimezone(zone))
    if found is None or (campaign.until is not None and found > campaign.until):
        return None
    return found  # type: ignore[no-any-return]


def latest_due(campaign: Campaign, now: datetime, zone: ZoneInfo, since: datetime | None = None) -> datetime | None:
    """The latest occurrence at or before `now` (and after `since`), or None."""
    if not campaign.recurrence:
        start = _start(campaign)
        return start if start <= now and (since is None or start > since) else None
    cursor = max(since or _start(campaign) - timedelta(microseconds=1), now - LOOKBACK)
    latest: datetime | None = None
    while True:
        found = next_occurrence(campaign, cursor, zone)
        if found is None or found > now:
            return latest
        latest = cursor = found


# ---- subscribers --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    line: int
    channel: str
    user_id: str
    area: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


async def import_subscribers(session: AsyncSession, rows: Sequence[SubscriberRow], now: datetime) -> ImportResult:
    """Create identities (and residents) as needed and set each one's area. Rows are assumed validated."""
    updated = unchanged = 0
    known: dict[tuple[str, str], Identity] = {}
    channels = sorted({row.channel for row in rows})
    if channels:
        for identity in (await session.scalars(select(Identity).where(Identity.channel.in_(channels)))).all():
            known[(identity.channel, identity.external_id)] = identity
    areas: dict[int, list[Subscription]] = {}
    if known:
        for sub in (await session.scalars(select(Subscription))).all():
            areas.setdefault(sub.identity_id, []).append(sub)
    fresh: list[tuple[Identity, str]] = []
    for row in rows:
        found = known.get((row.channel, row.user_id))
        if found is None:
            identity = Identity(resident=Resident(created_at=now, last_seen_at=now), channel=row.channel,
                                external_id=row.user_id, created_at=now)
            session.add(identity)
            known[(row.channel, row.user_id)] = identity
            fresh.append((identity, row.area))
            continue
        current = areas.get(found.id, [])
        if [s.area for s in current] == [row.area]:
            unchanged += 1
            continue
        # One resident, one home area (as the subscribe conversation does).
        for sub in current:
            await session.delete(sub)
        await session.flush()
        session.add(Subscription(identity_id=found.id, area=row.area, created_at=now))
        updated += 1
    await session.flush()  # one flush gives every new identity its id
    session.add_all(Subscription(identity_id=identity.id, area=area, created_at=now) for identity, area in fresh)
    created = len(fresh)
    return ImportResult(created, updated, unchanged)


async def export_subscribers(session: AsyncSession) -> list[tuple[str, str, str]]:
    query = (
        select(Identity.channel, Identity.external_id, Subscription.area)
        .join(Subscription, Subscription.identity_id == Identity.id)
        .order_by(Identity.channel, Identity.external_id, Subscription.area)
    )
    return [(c, u, a) for c, u, a in (await session.execute(query)).all()]
