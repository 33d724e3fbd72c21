"""The matcher: decisions on clear, ambiguous and out-of-scope questions, the JSON contract, and the bars."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.content import load_content
from faq.evaluate import evaluate, format_report, load_labelled
from faq.matcher import Matcher

REPO = Path(__file__).resolve().parent.parent
DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"
UNSEEN = Path(__file__).resolve().parent / "fixtures" / "unseen.jsonl"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.build(load_content().entries)


# Our own phrasings (not from eval/): one clear question per area, in several spellings.
@pytest.mark.parametrize(
    ("question", "faq_id"),
    [
        ("Tôi quên mật khẩu VNeID rồi, giờ lấy lại kiểu gì?", "vneid.password.forgot"),
        ("queen maatj khaaur vneid", "vneid.password.forgot"),
        ("quên mã passcode 6 số", "vneid.passcode.forgot"),
        pytest.param(
            "thu tuc khai tu cho nguoi mat",
            "dvc.death.lienthong",
            marks=pytest.mark.xfail(strict=True, reason="known weakness: 'thủ tục … cho người' outweighs 'khai tử'"),
        ),
        ("làm giấy khai tử cho ba mới mất", "dvc.death.lienthong"),
        ("chuyển khoản nhầm số tài khoản người lạ thì lấy lại tiền thế nào", "pay.wrong-transfer"),
        ("Bình dân học vụ số là phong trào gì", "bdhvs.movement"),
        ("d9a8ng ky1 ta5m tru1 tre6n vneid", "vneid.residence.tam-tru"),
    ],
)
def test_clear_questions_are_answered(matcher: Matcher, question: str, faq_id: str) -> None:
    m = matcher.match(question)
    assert m.faq_id == faq_id
    assert m.decision == "answer"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("quên mật khẩu", {"vneid.password.forgot", "pay.forgot-bank-password", "smartphone.passwords"}),
        ("bị khóa tài khoản", {"vneid.account.lock", "pay.app-locked-call"}),
        ("mã qr", {"pay.vietqr", "pay.qr.sticker-scam"}),
    ],
)
def test_ambiguous_question_asks_which(matcher: Matcher, question: str, expected: set[str]) -> None:
    m = matcher.match(question)
    assert m.decision == "clarify"
    assert 2 <= len(m.choices) <= 3
    assert expected <= set(m.choices)
    assert set(m.choices) <= {c.faq_id for c in m.candidates}


def test_comparison_entry_answers_a_comparison(matcher: Matcher) -> None:
    assert matcher.match("lưu trú tạm trú").faq_id == "dvc.residence.luu-tru-vs-tam-tru"


@pytest.mark.parametrize(
    "question",
    [
        "Thủ tục làm hộ chiếu phổ thông lần đầu",
        "sang tên sổ đỏ mất bao nhiêu tiền",
        "ngày mai trời có mưa không",
        "kết quả xổ số miền nam hôm nay",
        "quên mật khẩu gmail",
        "đăng ký kết hôn ở xã cần gì",
        "asdkj qwe zxc",
        "",
    ],
)
def test_out_of_scope_is_escalated(matcher: Matcher, question: str) -> None:
    assert matcher.match(question).decision == "escalate"


def test_json_contract(matcher: Matcher) -> None:
    out = matcher.match("dang ky tam tru online").to_json()
    assert list(out) == ["query", "decision", "faq_id", "score", "candidates"]
    assert out["query"] == "dang ky tam tru online"
    assert out["decision"] in {"answer", "clarify", "escalate"}
    assert 0.0 <= out["score"] <= 1.0
    assert 1 <= len(out["candidates"]) <= 3
    assert all(set(c) == {"faq_id", "score"} for c in out["candidates"])
    assert out["faq_id"] == out["candidates"][0]["faq_id"]
    empty = matcher.match("").to_json()
    assert empty["faq_id"] is None and empty["candidates"] == [] and empty["decision"] == "escalate"


def test_typo_tolerance(matcher: Matcher) -> None:
    assert matcher.match("cach tao tai khaon vneid muc 1").faq_id == "vneid.level1.register"


def _check(path: Path, matcher: Matcher, top1: float, resolved: float, wrong: float, oos: float, style: float) -> None:
    report = evaluate(matcher, load_labelled(path))
    text = format_report(report)
    o = report.overall
    assert o.top1_rate >= top1, text
    assert o.resolved_rate >= resolved, text
    assert o.wrong_answer_rate <= wrong, text
    assert o.oos_escalated_rate >= oos, text
    for name, s in report.by_style:
        assert s.top1_rate >= style, f"{name}\n{text}"


@pytest.mark.skipif(not DEV.exists(), reason="shared/eval/dev.jsonl not found")
def test_dev_set_no_regression(matcher: Matcher) -> None:
    # The levels reached now (see the issue note); a change that lowers any of them fails here.
    _check(DEV, matcher, top1=0.95, resolved=0.96, wrong=0.01, oos=0.95, style=0.90)


@pytest.mark.skipif(not DEV.exists(), reason="shared/eval/dev.jsonl not found")
@pytest.mark.xfail(
    strict=True,
    reason="issue 3 bars not all met yet: resolved 0.964 < 0.97 (in-scope questions escalated with the right "
    "entry ranked first but scored below the escalation threshold)",
)
def test_dev_set_meets_the_bars(matcher: Matcher) -> None:
    _check(DEV, matcher, top1=0.95, resolved=0.97, wrong=0.01, oos=0.90, style=0.90)


def test_own_unseen_set_meets_the_bars(matcher: Matcher) -> None:
    _check(UNSEEN, matcher, top1=0.95, resolved=0.97, wrong=0.01, oos=0.90, style=0.90)
