"""The daily, weekly and monthly reports communes file under "Bình dân học vụ số", as CSV and Excel.

Figures are per area: the area a resident subscribed to for reminders, "Chưa rõ" for those who did not.
Column names are Vietnamese because the files go to commune and ward offices as they are.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook  # type: ignore[import-untyped, unused-ignore]
from openpyxl.styles import Font  # type: ignore[import-untyped, unused-ignore]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.campaigns import OUTCOME_LABELS
from bot.store.models import Campaign, CampaignRun, Feedback, Identity, Message, OutboxMessage, Subscription, Ticket
from bot.store.stats import DECISIONS, RESOLVED_AT, Period, median, response_times
from faq.content import Content

UNKNOWN_AREA = "Chưa rõ"
KIND_TITLES = {"daily": "ngày", "weekly": "tuần", "monthly": "tháng"}
DELIVERY_COLUMNS = tuple(
    (status, OUTCOME_LABELS[status])
    for status in ("sent", "blocked", "outside_window", "failed", "uncertain", "pending", "sending", "cancelled")
)


def report_period(kind: str, day: date, zone: ZoneInfo) -> Period:
    """The day itself, its Monday-to-Sunday week, or its calendar month."""
    if kind == "daily":
        return Period(day, day, zone)
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=6), zone)
    if kind == "monthly":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(first, following - timedelta(days=1), zone)
    raise ValueError(f"unknown report kind {kind!r}")


@dataclass
class Sheet:
    name: str  # at most 31 characters (Excel)
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class Report:
    kind: str
    period: Period
    commune: str
    generated_at: datetime
    sheets: list[Sheet]

    @property
    def title(self) -> str:
        first, last = self.period.first, self.period.last
        span = first.strftime("%d/%m/%Y") if first == last else f"{first:%d/%m/%Y} – {last:%d/%m/%Y}"
        return f"Báo cáo {KIND_TITLES[self.kind]} {span}"

    @property
    def filename(self) -> str:
        return f"bao-cao-{self.kind}-{self.period.first.isoformat()}"


def _minutes(seconds: float | None) -> int | None:
    # Whole minutes: a decimal point reads differently in Vietnamese and English spreadsheet settings.
    return round(seconds / 60) if seconds is not None else None


def _area_of_resident() -> Any:
    # One home area per resident (the handlers keep one subscription per identity; min() picks one if a
    # resident subscribed different areas on two channels).
    return (
        select(Identity.resident_id.label("resident_id"), func.min(Subscription.area).label("area"))
        .join(Subscription, Subscription.identity_id == Identity.id)
        .group_by(Identity.resident_id)
        .subquery()
    )


async def build_report(
    session: AsyncSession, kind: str, day: date, zone: ZoneInfo, content: Content, commune: str, now: datetime
) -> Report:
    period = report_period(kind, day, zone)
    start, end = period.start, period.end
    areas = _area_of_resident()
    area: dict[str | None, dict[str, Any]] = defaultdict(lambda: defaultdict(int))

    asked = (
        (Message.direction == "in") & (Message.author == "resident") & Message.decision.in_(DECISIONS)
        & (Message.created_at >= start) & (Message.created_at < end)
    )
    for name, decision, count in await session.execute(
        select(areas.c.area, Message.decision, func.count())
        .select_from(Message)
        .join(Identity, Identity.id == Message.identity_id)
        .outerjoin(areas, areas.c.resident_id == Identity.resident_id)
        .where(asked)
        .group_by(areas.c.area, Message.decision)
    ):
        area[name][decision] += count
        area[name]["questions"] += count
    for name, count in await session.execute(
        select(areas.c.area, func.count(func.distinct(Identity.resident_id)))
        .select_from(Message)
        .join(Identity, Identity.id == Message.identity_id)
        .outerjoin(areas, areas.c.resident_id == Identity.resident_id)
        .where(asked)
        .group_by(areas.c.area)
    ):
        area[name]["residents"] = count
    for name, helpful, count in await session.execute(
        select(areas.c.area, Feedback.helpful, func.count())
        .select_from(Feedback)
        .join(Identity, Identity.id == Feedback.identity_id)
        .outerjoin(areas, areas.c.resident_id == Identity.resident_id)
        .where(Feedback.created_at >= start, Feedback.created_at < end)
        .group_by(areas.c.area, Feedback.helpful)
    ):
        area[name]["up" if helpful else "down"] += count

    tickets: dict[str | None, list[Any]] = defaultdict(list)
    for row in await session.execute(
        select(areas.c.area, Ticket.created_at, Ticket.first_response_at, RESOLVED_AT, Ticket.rating,
               Ticket.cancelled_at)
        .select_from(Ticket)
        .outerjoin(areas, areas.c.resident_id == Ticket.resident_id)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
    ):
        tickets[row[0]].append(row[1:])
        area[row[0]]["tickets"] += 1

    summary = Sheet("Tổng hợp theo khu vực", [
        "Khu vực", "Người dân được hỗ trợ", "Số câu hỏi", "Trả lời ngay", "Chọn từ danh mục", "Hỏi lại cho rõ",
        "Chuyển người hỗ trợ", "Hài lòng (👍)", "Chưa hài lòng (👎)", "Phiếu hỗ trợ mới", "Phiếu đã đóng",
        "Người dân tự huỷ", "Phiếu chưa đóng", "Phản hồi đầu tiên, trung vị (phút)", "Giải quyết xong, trung vị (phút)",
        "Đánh giá trung bình (1–5)",
    ])
    all_tickets: list[Any] = []
    totals: dict[str, int] = defaultdict(int)
    for name in sorted(area, key=lambda a: (a is None, a or "")):
        figures = area[name]
        rows = tickets.get(name, [])
        all_tickets.extend(rows)
        summary.rows.append([name or UNKNOWN_AREA, *_summary_figures(figures, rows)])
        for key, value in figures.items():
            totals[key] += value
    summary.rows.append(["Tổng cộng", *_summary_figures(totals, all_tickets)])
    # Residents are distinct per area; the total counts each resident once.
    summary.rows[-1][1] = int(
        await session.scalar(
            select(func.count(func.distinct(Identity.resident_id)))
            .select_from(Message)
            .join(Identity, Identity.id == Message.identity_id)
            .where(asked)
        )
        or 0
    )

    topics = Sheet("Câu hỏi theo lĩnh vực", ["Khu vực", "Lĩnh vực", "Mã chủ đề", "Chủ đề", "Số câu hỏi"])
    domain_titles = {d.id: d.title for d in content.domains}
    topic_rows = []
    for name, faq_id, count in await session.execute(
        select(areas.c.area, Message.faq_id, func.count())
        .select_from(Message)
        .join(Identity, Identity.id == Message.identity_id)
        .outerjoin(areas, areas.c.resident_id == Identity.resident_id)
        .where(asked, Message.decision.in_(("answer", "chosen")), Message.faq_id.is_not(None))
        .group_by(areas.c.area, Message.faq_id)
    ):
        entry = content.by_id.get(faq_id)
        domain = domain_titles.get(entry.domain, entry.domain) if entry else "Khác"
        topic_rows.append([name or UNKNOWN_AREA, domain, faq_id, entry.title if entry else faq_id, count])
    topics.rows = sorted(topic_rows, key=lambda r: (r[0] == UNKNOWN_AREA, r[0], r[1], -r[4], r[2]))

    reach = Sheet("Chiến dịch", ["Mã chiến dịch", "Tiêu đề", "Khu vực", *[c[1] for c in DELIVERY_COLUMNS],
                                 "Tổng số người nhận"])
    counts: dict[tuple[int, str, str | None], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for campaign_id, title, name, status, count in await session.execute(
        select(Campaign.id, Campaign.title, areas.c.area, OutboxMessage.status, func.count())
        .select_from(OutboxMessage)
        .join(CampaignRun, CampaignRun.id == OutboxMessage.run_id)
        .join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .outerjoin(Identity, Identity.id == OutboxMessage.identity_id)
        .outerjoin(areas, areas.c.resident_id == Identity.resident_id)
        .where(OutboxMessage.created_at >= start, OutboxMessage.created_at < end)
        .group_by(Campaign.id, Campaign.title, areas.c.area, OutboxMessage.status)
    ):
        counts[(campaign_id, title, name)][status] += count
    for (campaign_id, title, name), by_status in sorted(
        counts.items(), key=lambda item: (item[0][0], item[0][2] is None, item[0][2] or "")
    ):
        reach.rows.append([campaign_id, title, name or UNKNOWN_AREA,
                           *[by_status.get(key, 0) for key, _ in DELIVERY_COLUMNS], sum(by_status.values())])

    return Report(kind, period, commune, now, [summary, topics, reach])


def _summary_figures(figures: dict[str, int], ticket_rows: Sequence[Any]) -> list[Any]:
    first, resolved = response_times(ticket_rows)
    ratings = [r[3] for r in ticket_rows if r[3] is not None]
    cancelled = sum(1 for r in ticket_rows if r[4] is not None)
    closed = sum(1 for r in ticket_rows if r[2] is not None) + cancelled
    return [
        figures.get("residents", 0),
        figures.get("questions", 0),
        figures.get("answer", 0),
        figures.get("chosen", 0),
        figures.get("clarify", 0),
        figures.get("escalate", 0),
        figures.get("up", 0),
        figures.get("down", 0),
        len(ticket_rows),
        closed,
        cancelled,
        len(ticket_rows) - closed,
        _minutes(median(first)),
        _minutes(median(resolved)),
        round(sum(ratings) / len(ratings), 2) if ratings else None,
    ]


def _preamble(report: Report) -> list[list[str]]:
    zone = report.period.zone
    return [
        [report.title],
        ["Xã/phường", report.commune],
        ["Từ ngày", report.period.first.strftime("%d/%m/%Y")],
        ["Đến ngày", report.period.last.strftime("%d/%m/%Y")],
        ["Lập lúc", report.generated_at.astimezone(zone).strftime("%d/%m/%Y %H:%M")],
    ]


def to_csv(report: Report) -> bytes:
    """One CSV with a heading block and then each table under its name, separated by an empty line. UTF-8 with
    a byte-order mark: without it Excel opens the file as Windows-1258 and garbles the Vietnamese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(_preamble(report))
    for sheet in report.sheets:
        writer.writerow([])
        writer.writerow([sheet.name])
        writer.writerow(sheet.columns)
        writer.writerows([["" if v is None else v for v in row] for row in sheet.rows])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: Report) -> bytes:
    book = Workbook()
    info = book.active
    assert info is not None  # a new workbook always has one sheet
    info.title = "Thông tin"
    for row in _preamble(report):
        info.append(row)
    info["A1"].font = Font(bold=True, size=13)
    info.column_dimensions["A"].width = 14
    info.column_dimensions["B"].width = 40
    for sheet in report.sheets:
        page = book.create_sheet(sheet.name[:31])
        page.append(sheet.columns)
        for cell in page[1]:
            cell.font = Font(bold=True)
        for row in sheet.rows:
            page.append(row)
        page.freeze_panes = "A2"
        for index, column in enumerate(sheet.columns, start=1):
            page.column_dimensions[get_column_letter(index)].width = max(12, min(40, len(column) + 2))
    book.properties.title = report.title
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
