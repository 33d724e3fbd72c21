"""Score the matcher on a labelled file (`eval/dev.jsonl`): the figures of the bars, overall and per style."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from faq.matcher import Match

__all__ = ["Failure", "LabelledQuestion", "Report", "StyleStats", "evaluate", "format_report", "load_labelled"]


class _Matches(Protocol):
    def match(self, query: str) -> Match: ...


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    q: str
    topic: str | None  # None: outside the FAQ, must be escalated
    alt: tuple[str, ...] = ()
    style: str = "unknown"


@dataclass(frozen=True, slots=True)
class Failure:
    question: LabelledQuestion
    match: Match
    kind: str  # "wrong answer", "answered out of scope", "clarify without the right entry", ...


@dataclass(frozen=True, slots=True)
class StyleStats:
    """Counts for one style (or all). Rates are over in-scope questions, except the out-of-scope ones."""

    total: int
    in_scope: int
    top1: int
    top3: int
    resolved: int
    answered: int
    clarified: int
    escalated: int
    wrong_answers: int  # answered, but wrong or out of scope
    out_of_scope: int
    oos_escalated: int

    def _rate(self, n: int, d: int) -> float:
        return n / d if d else 1.0

    @property
    def top1_rate(self) -> float:
        return self._rate(self.top1, self.in_scope)

    @property
    def top3_rate(self) -> float:
        return self._rate(self.top3, self.in_scope)

    @property
    def resolved_rate(self) -> float:
        return self._rate(self.resolved, self.in_scope)

    @property
    def wrong_answer_rate(self) -> float:
        return self.wrong_answers / self.total if self.total else 0.0

    @property
    def oos_escalated_rate(self) -> float:
        return self._rate(self.oos_escalated, self.out_of_scope)


@dataclass(frozen=True, slots=True)
class Report:
    overall: StyleStats
    by_style: tuple[tuple[str, StyleStats], ...]
    failures: tuple[Failure, ...]


def load_labelled(path: Path | str) -> list[LabelledQuestion]:
    """Read a JSON-lines file of {"q", "topic", "alt"?, "style"?}; blank lines are skipped."""
    rows: list[LabelledQuestion] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            rows.append(
                LabelledQuestion(
                    q=str(raw["q"]),
                    topic=raw.get("topic"),
                    alt=tuple(raw.get("alt") or ()),
                    style=str(raw.get("style") or "unknown"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} dòng {n}: cần một đối tượng JSON có \"q\" (và \"topic\", \"style\")") from exc
    return rows


def _judge(row: LabelledQuestion, m: Match) -> tuple[dict[str, int], str | None]:
    c = {k: 0 for k in ("top1", "top3", "resolved", "answered", "clarified", "escalated", "wrong", "oos_esc")}
    c[{"answer": "answered", "clarify": "clarified", "escalate": "escalated"}[m.decision]] = 1
    if row.topic is None:
        if m.decision == "answer":
            c["wrong"] = 1
            return c, "answered out of scope"
        if m.decision == "escalate":
            c["oos_esc"] = 1
            return c, None
        return c, "clarified out of scope"
    right = {row.topic, *row.alt}
    ids = [x.faq_id for x in m.candidates]
    c["top1"] = int(bool(ids) and ids[0] in right)
    c["top3"] = int(any(i in right for i in ids[:3]))
    if m.decision == "answer":
        if m.faq_id in right:
            c["resolved"] = 1
            return c, None
        c["wrong"] = 1
        return c, "wrong answer"
    if m.decision == "clarify":
        if any(i in right for i in m.choices):
            c["resolved"] = 1
            return c, None
        return c, "clarify without the right entry"
    return c, "escalated an in-scope question"


def _stats(rows: list[tuple[LabelledQuestion, dict[str, int]]]) -> StyleStats:
    def total(key: str) -> int:
        return sum(c[key] for _, c in rows)

    oos = sum(1 for r, _ in rows if r.topic is None)
    return StyleStats(
        total=len(rows),
        in_scope=len(rows) - oos,
        top1=total("top1"),
        top3=total("top3"),
        resolved=total("resolved"),
        answered=total("answered"),
        clarified=total("clarified"),
        escalated=total("escalated"),
        wrong_answers=total("wrong"),
        out_of_scope=oos,
        oos_escalated=total("oos_esc"),
    )


def evaluate(matcher: _Matches, rows: Iterable[LabelledQuestion]) -> Report:
    """Run every question through the matcher and count what the bars need."""
    judged: list[tuple[LabelledQuestion, dict[str, int]]] = []
    failures: list[Failure] = []
    for row in rows:
        m = matcher.match(row.q)
        counts, problem = _judge(row, m)
        judged.append((row, counts))
        if problem is not None:
            failures.append(Failure(row, m, problem))
    styles = sorted({r.style for r, _ in judged})
    by_style = tuple((s, _stats([x for x in judged if x[0].style == s])) for s in styles)
    return Report(overall=_stats(judged), by_style=by_style, failures=tuple(failures))


# The report is read by the commune's IT officer: Vietnamese words, the same figures. Styles are the labelled
# file's own names and stay as written there.
_KINDS = {
    "wrong answer": "trả lời sai",
    "answered out of scope": "trả lời một câu ngoài hỏi đáp (đáng lẽ chuyển cho người)",
    "clarified out of scope": "hỏi lại một câu ngoài hỏi đáp (đáng lẽ chuyển cho người)",
    "clarify without the right entry": "hỏi lại nhưng không đưa ra mục đúng",
    "escalated an in-scope question": "chuyển cho người một câu có trong hỏi đáp",
}
_DECISIONS = {"answer": "trả lời", "clarify": "hỏi lại", "escalate": "chuyển cho người"}
_COLUMNS = (("kiểu", 12), ("số câu", 6), ("top1", 6), ("top3", 6), ("giải quyết", 10), ("sai", 6),
            ("ngoài→người", 11), ("trả lời", 7), ("hỏi lại", 7), ("chuyển", 6))
_LEGEND = (
    "top1, top3: tỉ lệ câu có trong hỏi đáp mà mục đúng đứng đầu, hoặc nằm trong ba mục đầu;",
    "giải quyết: tỉ lệ câu có trong hỏi đáp được trả lời đúng, hoặc được hỏi lại có kèm mục đúng;",
    "sai: tỉ lệ trên mọi câu bị trả lời sai, hoặc được trả lời dù không có trong hỏi đáp;",
    "ngoài→người: tỉ lệ câu không có trong hỏi đáp được chuyển cho người hỗ trợ;",
    "trả lời, hỏi lại, chuyển: số câu trợ lý trả lời thẳng, hỏi lại (\"Ý bạn là…\"), chuyển cho người.",
)


def _row(cells: tuple[str, ...]) -> str:
    name, *figures = cells
    widths = [width for _, width in _COLUMNS]
    return " ".join([f"{name:<{widths[0]}}", *(f"{cell:>{width}}" for cell, width in zip(figures, widths[1:],
                                                                                      strict=True))])


def _line(name: str, s: StyleStats) -> str:
    oos = f"{s.oos_escalated_rate:.3f}" if s.out_of_scope else "-"
    return _row((name, str(s.total), f"{s.top1_rate:.3f}", f"{s.top3_rate:.3f}", f"{s.resolved_rate:.3f}",
                 f"{s.wrong_answer_rate:.3f}", oos, str(s.answered), str(s.clarified), str(s.escalated)))


def _summary(s: StyleStats) -> str:
    oos = f", {s.oos_escalated}/{s.out_of_scope} câu ngoài hỏi đáp được chuyển cho người" if s.out_of_scope else ""
    return (f"{s.total} câu: top1 {s.top1_rate:.3f}, top3 {s.top3_rate:.3f}, giải quyết {s.resolved_rate:.3f}, "
            f"{s.wrong_answers} câu trả lời sai{oos}.")


def format_report(report: Report) -> str:
    """A summary line, a plain-text table (all questions, then each style), a legend, then the failures."""
    lines = [_summary(report.overall), "", _row(tuple(name for name, _ in _COLUMNS)),
             _line("tất cả", report.overall)]
    lines += [_line(name, s) for name, s in report.by_style]
    lines += ["", *_LEGEND]
    if report.failures:
        lines += ["", f"Các câu chưa đạt ({len(report.failures)}):"]
        for f in report.failures:
            got = ", ".join(f"{c.faq_id} {c.score:.2f}" for c in f.match.candidates) or "không có mục nào"
            want = f.question.topic or "(ngoài hỏi đáp)"
            lines.append(f"- [{f.question.style}] {_KINDS.get(f.kind, f.kind)}: cần {want}; "
                         f"{_DECISIONS[f.match.decision]} → {got}")
            lines.append(f"    {f.question.q}")
    return "\n".join(lines)
