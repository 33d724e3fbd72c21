"""Geometry of the overview's inline SVG charts; the templates only draw what is computed here.

The drawing sizes are in viewBox units: the SVG scales to the screen's width, and the sizes are chosen so that
labels stay readable at a phone's 360 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

WIDTH = 360
HEIGHT = 170
TOP = 14
BOTTOM = 22  # room for the date labels
LEFT = 4

DECISION_LABELS = {
    "answer": "Trả lời ngay",
    "chosen": "Chọn từ danh mục",
    "clarify": "Hỏi lại cho rõ",
    "escalate": "Chuyển người hỗ trợ",
}


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str  # dd/mm
    count: int
    label: str | None  # the date shown under the bar, for some bars only


@dataclass(frozen=True, slots=True)
class DayChart:
    width: int
    height: int
    baseline: float
    bars: list[Bar]
    peak: int


def day_chart(per_day: list[dict[str, Any]]) -> DayChart:
    """Bars of questions per day, the tallest at full height, about six date labels whatever the range."""
    count = max(len(per_day), 1)
    peak = max((d["count"] for d in per_day), default=0)
    usable = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT * 2) / count
    gap = min(slot * 0.2, 4)
    every = max(1, round(count / 6))
    bars = []
    for i, d in enumerate(per_day):
        height = usable * d["count"] / peak if peak else 0
        day = date.fromisoformat(d["date"]).strftime("%d/%m")
        shown = i % every == 0
        bars.append(Bar(
            x=round(LEFT + i * slot + gap / 2, 2), y=round(TOP + usable - height, 2),
            width=round(max(slot - gap, 1), 2), height=round(height, 2),
            day=day, count=int(d["count"]), label=day if shown else None,
        ))
    return DayChart(WIDTH, HEIGHT, TOP + usable, bars, peak)


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    label: str
    count: int
    share: float
    x: float
    width: float


def decision_segments(decisions: dict[str, int], width: int = WIDTH) -> list[Segment]:
    """One horizontal bar split by what happened to the questions."""
    total = sum(decisions.values())
    segments = []
    x = 0.0
    for key, label in DECISION_LABELS.items():
        count = decisions.get(key, 0)
        share = count / total if total else 0.0
        segments.append(Segment(key, label, count, share, round(x, 2), round(width * share, 2)))
        x += width * share
    return segments


def area_bars(areas: list[tuple[str, int]], width: int = WIDTH) -> list[tuple[str, int, float]]:
    """(area, subscribers, bar width) with the largest area at full width."""
    peak = max((n for _, n in areas), default=0)
    return [(a, n, round(width * n / peak, 2) if peak else 0.0) for a, n in areas]
