"""Working hours of the Tổ công nghệ số: is someone on duty now, and if not, when are they back?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")


def parse_hours(text: str) -> tuple[time, time]:
    """"07:30-17:00" → (start, end). ValueError, the reason in Vietnamese for the operator, when a time does not
    exist or the end is not after the start."""
    try:
        start, end = (time.fromisoformat(part.strip().zfill(5)) for part in text.split("-"))
    except ValueError as exc:
        raise ValueError("cần giờ có thật, dạng 07:30-17:00") from exc
    if start >= end:
        raise ValueError("giờ bắt đầu phải trước giờ kết thúc, ví dụ 07:30-17:00")
    return start, end


def parse_days(text: str) -> frozenset[int]:
    """"1-5,7" → ISO weekdays {1, 2, 3, 4, 5, 7}. ValueError when a range runs backwards."""
    chosen: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if last and int(last) < int(first):
            raise ValueError("khoảng ngày phải từ nhỏ đến lớn (1 là thứ Hai, 7 là Chủ nhật), ví dụ 1-6")
        chosen.update(range(int(first), int(last or first) + 1))
    return frozenset(chosen)


def parse_holidays(text: str) -> frozenset[str]:
    """"2026-09-02,2026-09-03" → those dates as written. ValueError when one does not exist."""
    dates = frozenset(part.strip() for part in text.split(",") if part.strip())
    for day in dates:
        try:
            date.fromisoformat(day)
        except ValueError as exc:
            raise ValueError(f"{day} không phải ngày có thật (dạng 2026-09-02)") from exc
    return dates


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time
    days: frozenset[int]  # ISO weekdays, 1 = Monday
    zone: ZoneInfo
    holidays: frozenset[str] = frozenset()  # "YYYY-MM-DD" in local time

    @classmethod
    def parse(cls, hours: str, days: str, zone: ZoneInfo, holidays: str = "") -> WorkingHours:
        start, end = parse_hours(hours)
        return cls(start, end, parse_days(days), zone, parse_holidays(holidays))

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
