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
            raise ValueError(f"{path}:{n}: bad labelled row: {exc}") from exc
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


def _line(name: str, s: StyleStats) -> str:
    oos = f"{s.oos_escalated_rate:6.3f}" if s.out_of_scope else "     -"
    return (
        f"{name:<12} {s.total:>5} {s.top1_rate:6.3f} {s.top3_rate:6.3f} {s.resolved_rate:8.3f} "
        f"{s.wrong_answer_rate:6.3f} {oos} {s.answered:>5} {s.clarified:>5} {s.escalated:>5}"
    )


def format_report(report: Report) -> str:
    """A plain-text table (overall, then per style) followed by the failures, for tuning."""
    head = f"{'style':<12} {'n':>5} {'top1':>6} {'top3':>6} {'resolved':>8} {'wrong':>6} {'oos→p':>6} " \
        f"{'ans':>5} {'clar':>5} {'esc':>5}"
    lines = [head, _line("overall", report.overall)]
    lines += [_line(name, s) for name, s in report.by_style]
    lines.append("")
    lines.append("top1/top3/resolved: share of in-scope questions; wrong: answered wrong or out of scope, share of")
    lines.append("all questions; oos→p: out-of-scope questions escalated to a person.")
    if report.failures:
        lines.append("")
        lines.append(f"failures ({len(report.failures)}):")
        for f in report.failures:
            got = ", ".join(f"{c.faq_id} {c.score:.2f}" for c in f.match.candidates) or "nothing"
            want = f.question.topic or "(out of scope)"
            lines.append(f"- [{f.question.style}] {f.kind}: want {want}; {f.match.decision} → {got}")
            lines.append(f"    {f.question.q}")
    return "\n".join(lines)
