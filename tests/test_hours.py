"""Working hours decide what the resident is promised."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from handlers.hours import WorkingHours

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
HOURS = WorkingHours.parse("07:30-17:00", "1-6", HANOI, "2026-09-02")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HANOI).astimezone(UTC)


def test_open_inside_hours_on_a_working_day() -> None:
    assert HOURS.is_open(local(2026, 11, 24, 9, 0))  # Tuesday
    assert not HOURS.is_open(local(2026, 11, 24, 17, 0))
    assert not HOURS.is_open(local(2026, 11, 24, 7, 29))
    assert not HOURS.is_open(local(2026, 11, 29, 9, 0))  # Sunday


def test_return_time_is_described_for_the_resident() -> None:
    assert HOURS.describe_return(local(2026, 11, 24, 6, 0)) == "vào 7:30 sáng nay"
    assert HOURS.describe_return(local(2026, 11, 24, 20, 0)) == "vào 7:30 sáng mai"
    assert HOURS.describe_return(local(2026, 11, 29, 10, 0)) == "vào 7:30 sáng mai"  # Sunday → Monday
    assert HOURS.describe_return(local(2026, 11, 28, 18, 0)) == "vào 7:30 thứ Hai (30/11)"  # Saturday evening


def test_holidays_are_skipped() -> None:
    assert not HOURS.is_open(local(2026, 9, 2, 9, 0))
    assert HOURS.next_opening(local(2026, 9, 1, 18, 0)).date() == datetime(2026, 9, 3).date()
