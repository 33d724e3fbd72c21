"""Working hours of the Tổ công nghệ số: is someone on duty now, and if not, when are they back?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time
    days: frozenset[int]  # ISO weekdays, 1 = Monday
    zone: ZoneInfo
    holidays: frozenset[str] = frozenset()  # "YYYY-MM-DD" in local time

    @classmethod
    def parse(cls, hours: str, days: str, zone: ZoneInfo, holidays: str = "") -> WorkingHours:
        start, end = (time.fromisoformat(part.strip().zfill(5)) for part in hours.split("-"))
        chosen: set[int] = set()
        for part in days.split(","):
            first, _, last = part.partition("-")
            chosen.update(range(int(first), int(last or first) + 1))
        return cls(start, end, frozenset(chosen), zone, frozenset(h.strip() for h in holidays.split(",") if h.strip()))

    def _open_day(self, day: datetime) -> bool:
        return day.isoweekday() in self.days and day.strftime("%Y-%m-%d") not in self.holidays

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        return self._open_day(local) and self.start <= local.time() < self.end

    def next_opening(self, at: datetime) -> datetime:
        local = at.astimezone(self.zone)
        day = local.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        if local.time() >= self.start:
            day += timedelta(days=1)
        for _ in range(60):  # a long holiday run still ends
            if self._open_day(day):
                return day
            day += timedelta(days=1)
        return day

    def describe_return(self, at: datetime) -> str:
        """"vào 7:30 sáng mai", "vào 7:30 thứ Hai (24/11)"."""
        opening = self.next_opening(at)
        local = at.astimezone(self.zone)
        clock = f"{opening.hour}:{opening.minute:02d}"
        if opening.date() == local.date():
            return f"vào {clock} sáng nay"
        if opening.date() == local.date() + timedelta(days=1):
            return f"vào {clock} sáng mai"
        return f"vào {clock} {WEEKDAYS[opening.weekday()]} ({opening:%d/%m})"

    def describe(self) -> str:
        return f"{self.start.hour}:{self.start.minute:02d}–{self.end.hour}:{self.end.minute:02d}"
