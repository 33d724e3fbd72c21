"""Figures for the staff dashboard and `GET /api/stats`: aggregates in SQL, medians in Python.

Days are the commune's days (TROLY_TIMEZONE), not UTC days. Rather than converting time zones inside the
database (which SQLite cannot do), a period is cut into days by their UTC boundaries, computed here, and the
database sorts rows into those buckets with one CASE expression: the same SQL runs on SQLite and PostgreSQL,
and a day is right even in a zone with daylight saving time.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Feedback, Identity, Message, Subscription, Ticket

# When a ticket was resolved: closed by a person, not withdrawn by the resident (then nothing was resolved).
RESOLVED_AT = case((Ticket.cancelled_at.is_(None), Ticket.closed_at), else_=None)

# What the matcher (or the resident, by pressing a topic) decided for an inbound question.
DECISIONS = ("answer", "clarify", "escalate", "chosen")
OPEN_TICKETS = ("waiting", "claimed", "raised")
MAX_DAYS = 400  # one CASE branch per day; a year and a bit is plenty for a dashboard


class PeriodError(ValueError):
    """A date range that cannot be used; the message is Vietnamese, for the staff member."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days from `first` to `last`, both included."""

    first: date
    last: date
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise PeriodError("Ngày bắt đầu phải trước hoặc bằng ngày kết thúc.")
        if (self.last - self.first).days + 1 > MAX_DAYS:
            raise PeriodError(f"Khoảng thời gian dài quá {MAX_DAYS} ngày.")

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def midnight(self, day: date) -> datetime:
        """The UTC instant at which `day` begins in the commune."""
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(UTC)

    @property
    def edges(self) -> list[datetime]:
        """UTC boundaries: day i is [edges[i], edges[i+1])."""
        return [self.midnight(d) for d in self.days] + [self.midnight(self.last + timedelta(days=1))]

    @property
    def start(self) -> datetime:
        return self.midnight(self.first)

    @property
    def end(self) -> datetime:
        return self.midnight(self.last + timedelta(days=1))

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)


def parse_period(first: str | None, last: str | None, zone: ZoneInfo, today: date, default_days: int = 30) -> Period:
    """A period from `YYYY-MM-DD` query values; missing ends default to the last `default_days` days."""
    try:
        end = date.fromisoformat(last) if last else today
        start = date.fromisoformat(first) if first else end - timedelta(days=default_days - 1)
    except ValueError:
        raise PeriodError("Ngày không hợp lệ: cần dạng YYYY-MM-DD, ví dụ 2026-03-01.") from None
    return Period(start, end, zone)


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _questions() -> Any:
    """Inbound messages from residents that asked something (typed, or a topic pressed)."""
    return (Message.direction == "in") & (Message.author == "resident") & Message.decision.in_(DECISIONS)


def _day_bucket(period: Period, column: Any) -> Any:
    edges = period.edges
    return case(*[(column < edges[i + 1], i) for i in range(len(edges) - 1)], else_=len(edges) - 1)


@dataclass
class Stats:
    period: Period
    per_day: list[dict[str, Any]]  # [{"date", "count", "answer", "clarify", "escalate", "chosen"}]
    decisions: dict[str, int]
    residents_helped: int
    feedback_up: int
    feedback_down: int
    open_tickets: int
    tickets_created: int
    tickets_closed: int  # the resident's withdrawals included; they are also counted apart
    tickets_cancelled: int
    median_first_response: float | None  # seconds
    median_resolution: float | None  # seconds
    average_rating: float | None
    subscribers_by_area: list[tuple[str, int]] = field(default_factory=list)

    @property
    def questions(self) -> int:
        return sum(self.decisions.values())

    @property
    def decision_shares(self) -> dict[str, float | None]:
        total = self.questions
        return {k: (v / total if total else None) for k, v in self.decisions.items()}

    @property
    def up_rate(self) -> float | None:
        total = self.feedback_up + self.feedback_down
        return self.feedback_up / total if total else None

    @property
    def subscribers(self) -> int:
        return sum(n for _, n in self.subscribers_by_area)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "timezone": self.period.zone.key,
            "questions": self.questions,
            "questions_per_day": self.per_day,
            "decisions": self.decisions,
            "decision_shares": self.decision_shares,
            "residents_helped": self.residents_helped,
            "feedback": {"up": self.feedback_up, "down": self.feedback_down, "up_rate": self.up_rate},
            "tickets": {
                "open": self.open_tickets,
                "created": self.tickets_created,
                "closed": self.tickets_closed,
                "cancelled_by_resident": self.tickets_cancelled,
                "median_first_response_seconds": self.median_first_response,
                "median_resolution_seconds": self.median_resolution,
                "average_rating": self.average_rating,
            },
            "subscribers": self.subscribers,
            "subscribers_by_area": [{"area": a, "count": n} for a, n in self.subscribers_by_area],
        }


async def overview(session: AsyncSession, period: Period) -> Stats:
    start, end = period.start, period.end
    in_period = (Message.created_at >= start) & (Message.created_at < end)

    # Bucket in a subquery and group on its column: PostgreSQL refuses to match a GROUP BY expression that
    # carries its own bound parameters against the same expression in the SELECT list.
    inner = (
        select(_day_bucket(period, Message.created_at).label("bucket"), Message.decision.label("decision"))
        .where(_questions(), in_period)
        .subquery()
    )
    rows = await session.execute(
        select(inner.c.bucket, inner.c.decision, func.count()).group_by(inner.c.bucket, inner.c.decision)
    )
    per_day = [{"date": d.isoformat(), "count": 0, **dict.fromkeys(DECISIONS, 0)} for d in period.days]
    decisions = dict.fromkeys(DECISIONS, 0)
    for bucket, decision, count in rows:
        if 0 <= bucket < len(per_day):
            per_day[bucket][decision] += count
            per_day[bucket]["count"] += count
            decisions[decision] += count

    helped = await session.scalar(
        select(func.count(func.distinct(Identity.resident_id)))
        .select_from(Message)
        .join(Identity, Identity.id == Message.identity_id)
        .where(_questions(), in_period)
    )

    votes = dict(
        (bool(helpful), int(count))
        for helpful, count in await session.execute(
            select(Feedback.helpful, func.count())
            .where(Feedback.created_at >= start, Feedback.created_at < end)
            .group_by(Feedback.helpful)
        )
    )

    open_tickets = await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.status.in_(OPEN_TICKETS)))
    created = (
        await session.execute(
            select(Ticket.created_at, Ticket.first_response_at, RESOLVED_AT).where(
                Ticket.created_at >= start, Ticket.created_at < end
            )
        )
    ).all()
    closed = await session.execute(
        select(func.count(), func.count(Ticket.cancelled_at), func.avg(Ticket.rating))
        .where(Ticket.closed_at >= start, Ticket.closed_at < end)
    )
    closed_count, cancelled_count, rating = closed.one()
    first, resolved = response_times(created)

    return Stats(
        period=period,
        per_day=per_day,
        decisions=decisions,
        residents_helped=int(helped or 0),
        feedback_up=votes.get(True, 0),
        feedback_down=votes.get(False, 0),
        open_tickets=int(open_tickets or 0),
        tickets_created=len(created),
        tickets_closed=int(closed_count or 0),
        tickets_cancelled=int(cancelled_count or 0),
        median_first_response=median(first),
        median_resolution=median(resolved),
        average_rating=float(rating) if rating is not None else None,
        subscribers_by_area=await subscribers_by_area(session),
    )


def response_times(rows: Sequence[Any]) -> tuple[list[float], list[float]]:
    """Seconds to the first answer and to resolution, from (created_at, first_response_at, RESOLVED_AT) rows."""
    first = [(r[1] - r[0]).total_seconds() for r in rows if r[1] is not None]
    resolved = [(r[2] - r[0]).total_seconds() for r in rows if r[2] is not None]
    return first, resolved


async def subscribers_by_area(session: AsyncSession) -> list[tuple[str, int]]:
    """Residents who can still be reached, per area, most first."""
    rows = await session.execute(
        select(Subscription.area, func.count(func.distinct(Subscription.identity_id)))
        .join(Identity, Identity.id == Subscription.identity_id)
        .where(Identity.active.is_(True))
        .group_by(Subscription.area)
    )
    return sorted(((str(a), int(n)) for a, n in rows), key=lambda item: (-item[1], item[0]))


# ---- what the assistant could not answer ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asked:
    """One resident question shown to staff (the stored text is already masked of secrets)."""

    message_id: int
    text: str
    at: datetime
    faq_id: str | None


def _recent_questions(period: Period, limit: int) -> Any:
    return (
        select(Message.id, Message.text, Message.created_at, Message.faq_id)
        .where(
            Message.direction == "in",
            Message.author == "resident",
            Message.kind == "text",
            Message.text.is_not(None),
            Message.created_at >= period.start,
            Message.created_at < period.end,
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )


async def unanswered(session: AsyncSession, period: Period, limit: int = 500) -> list[Asked]:
    """Typed questions the matcher handed to a person, newest first."""
    rows = await session.execute(_recent_questions(period, limit).where(Message.decision == "escalate"))
    return [Asked(i, t or "", at, f) for i, t, at, f in rows]


async def disliked(session: AsyncSession, period: Period, limit: int = 200) -> list[Asked]:
    """For each 👎 in the period, the question that got the answer: the resident's last typed question before
    the vote that was answered with that entry. `faq_id` is the entry that was disliked."""
    votes = (
        await session.execute(
            select(Feedback.identity_id, Feedback.faq_id, Feedback.created_at)
            .where(Feedback.helpful.is_(False), Feedback.created_at >= period.start, Feedback.created_at < period.end)
            .order_by(Feedback.id.desc())
            .limit(limit)
        )
    ).all()
    found: dict[int, Asked] = {}
    for identity_id, faq_id, _at in votes:
        row = (
            await session.execute(
                select(Message.id, Message.text, Message.created_at)
                .where(
                    Message.identity_id == identity_id,
                    Message.direction == "in",
                    Message.kind == "text",
                    Message.faq_id == faq_id,
                    Message.decision == "answer",
                    Message.text.is_not(None),
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        ).first()
        if row is not None:
            found[row[0]] = Asked(row[0], row[1] or "", row[2], faq_id)
    return sorted(found.values(), key=lambda a: a.message_id, reverse=True)
