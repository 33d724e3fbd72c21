"""The matcher: decisions on clear, ambiguous and out-of-scope questions, the JSON contract, and the bars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from faq.content import Entry, Source, load_content, typed_phrases
from faq.evaluate import evaluate, format_report, load_labelled
from faq.matcher import Matcher

REPO = Path(__file__).resolve().parent.parent
DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"
UNSEEN = Path(__file__).resolve().parent / "fixtures" / "unseen.jsonl"
UNSEEN2 = Path(__file__).resolve().parent / "fixtures" / "unseen2.jsonl"


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
        "ví momo bị khóa mở lại sao",
        "sổ tiết kiệm đáo hạn rút ở đâu",
        "hồ sơ xin hộ cận nghèo gồm những gì",
        "muốn học lái xe hạng B thì nộp hồ sơ ở đâu",
        "xe máy mua lại của người quen, đăng ký xe máy sang tên tôi làm sao",
        "điện thoại bị nóng máy, hao pin quá",
        "asdkj qwe zxc",
        "",
    ],
)
def test_out_of_scope_is_escalated(matcher: Matcher, question: str) -> None:
    assert matcher.match(question).decision == "escalate"


@pytest.mark.parametrize(
    ("question", "faq_id"),
    # Subjects near the out-of-scope ones that the FAQ does cover: the vehicle registration in the VNeID wallet, and
    # social-security payments, which poor households receive through VNeID. Listing "đăng ký xe máy" or "hộ nghèo"
    # as other subjects would hand these to a volunteer.
    [("tích hợp đăng ký xe máy lên vneid bị lỗi", "vneid.wallet.integration-failed"),
     ("hộ nghèo có được hỗ trợ nhận tiền qua vneid không", "vneid.social-security-account")],
)
def test_subjects_the_faq_covers_are_not_taken_for_others(matcher: Matcher, question: str, faq_id: str) -> None:
    found = matcher.match(question)
    assert found.decision != "escalate" and found.candidates[0].faq_id == faq_id


@pytest.mark.parametrize(
    "question",
    # Small talk typed without diacritics: a few common syllables that happen to occur in some entry.
    ["hom qua ngu ngon khong", "troi dep qua", "may gio roi", "cam on nhieu", "chao buoi sang"],
)
def test_tiny_unaccented_small_talk_is_not_answered(matcher: Matcher, question: str) -> None:
    assert matcher.match(question).decision == "escalate"


@pytest.mark.parametrize(
    ("question", "faq_id"),
    [
        (
            "Chào mấy cô chú, tui lớn tuổi rồi, tay chân run, hồi bữa con cháu cài giùm cái VNeID, giờ tui quên mất "
            "mật khẩu đăng nhập vô hổng được, mấy đứa nhỏ đi làm hết rồi, lấy lại làm sao?",
            "vneid.password.forgot",
        ),
        (
            "Nhà tui có đứa em họ dưới quê lên ở nhờ chừng mươi bữa để đi khám bệnh, nghe nói phải khai báo với công "
            "an khu vực, mần trên cái app VNeID được không hay phải chạy lên phường?",
            "vneid.residence.luu-tru",
        ),
        (
            "Cho chú hỏi nghen, bữa trước chú đi chợ thì làm rớt đâu mất cái điện thoại, trong đó có cài VNeID, chú "
            "sợ người ta lượm được rồi vô coi giấy tờ, giờ khóa lại sao con?",
            "vneid.account.lock",
        ),
    ],
)
def test_long_chatty_question_with_a_clear_winner_is_not_escalated(
    matcher: Matcher, question: str, faq_id: str
) -> None:
    # Most words are chatter; the few telling ones point to one entry, which must at least be offered.
    m = matcher.match(question)
    assert m.decision in ("answer", "clarify")
    assert m.faq_id == faq_id
    assert m.decision == "answer" or faq_id in m.choices


def test_chatter_does_not_dilute_a_clear_question(matcher: Matcher) -> None:
    plain = matcher.match("quên mật khẩu vneid")
    chatty = matcher.match(
        "Dạ cho con hỏi chút xíu nghen, hồi sáng con mở điện thoại ra thì quên mật khẩu vneid, mấy bữa nay bận quá "
        "nên chưa hỏi ai"
    )
    assert plain.decision == "answer" and plain.faq_id == "vneid.password.forgot"
    # "điện thoại" is a real (if incidental) topic word, so the chatty one may hesitate, but never gives up.
    assert chatty.decision != "escalate"
    assert "vneid.password.forgot" in {chatty.faq_id, *chatty.choices}


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
    # The levels reached now (top-1 0.964, resolved 0.990, no wrong answer, every out-of-scope question escalated,
    # weakest style 0.920 top-1); a change that lowers any of them fails here.
    _check(DEV, matcher, top1=0.96, resolved=0.985, wrong=0.0, oos=1.0, style=0.91)


@pytest.mark.skipif(not DEV.exists(), reason="shared/eval/dev.jsonl not found")
def test_dev_set_meets_the_bars(matcher: Matcher) -> None:
    _check(DEV, matcher, top1=0.95, resolved=0.97, wrong=0.01, oos=0.90, style=0.90)


def test_own_unseen_set_meets_the_bars(matcher: Matcher) -> None:
    _check(UNSEEN, matcher, top1=0.95, resolved=0.97, wrong=0.01, oos=0.90, style=0.90)


def test_own_unseen_sets_no_regression(matcher: Matcher) -> None:
    """No wrong answer on either held-out set of ours: asking which entry, or handing over to a volunteer, is
    acceptable; a confident answer from the wrong entry, or to a question the FAQ does not cover, is not."""
    # The levels reached now. unseen: top-1 0.979, resolved 0.995, 66/66 out-of-scope escalated, weakest style
    # (colloquial) 0.917. unseen2 (near-miss subjects outside the FAQ, very short and rambling questions): top-1
    # 0.968, top-3 0.989, resolved 0.984, 48/49 out-of-scope escalated and the other one clarified, its three typo
    # questions 0.667 top-1.
    _check(UNSEEN, matcher, top1=0.975, resolved=0.99, wrong=0.0, oos=1.0, style=0.91)
    _check(UNSEEN2, matcher, top1=0.965, resolved=0.98, wrong=0.0, oos=0.975, style=0.65)


def test_troly_match_writes_one_json_line_per_input_line() -> None:
    """Scripts pair answers with questions by line: a blank line, or a Windows line end, must not shift them."""
    lines = ["quên mật khẩu vneid\r\n", "\n", "chuyen nham tien\n"]
    result = subprocess.run([sys.executable, "-m", "bot", "match", "--jsonl"], input="".join(lines),
                            capture_output=True, text=True, timeout=60, check=True)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["query"] for a in answers] == ["quên mật khẩu vneid", "", "chuyen nham tien"]
    assert answers[1]["decision"] == "escalate" and answers[1]["candidates"] == []
    assert answers[0]["faq_id"] == "vneid.password.forgot"


def test_troly_match_answers_from_the_faq_as_staff_edited_it(tmp_path: Path) -> None:
    """`decision` is what the bot would do: an entry hidden on the dashboard is no longer answered."""
    import asyncio

    from bot.store import migrate
    from bot.store.engine import create_engine, session_factory
    from bot.store.faq_edits import hide_entry

    def ask() -> dict[str, object]:
        result = subprocess.run([sys.executable, "-m", "bot", "match", "--jsonl"], input="quên mật khẩu vneid\n",
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True)
        assert "Không đọc được" not in result.stderr
        answer: dict[str, object] = json.loads(result.stdout)
        return answer

    url = f"sqlite+aiosqlite:///{tmp_path / 'troly.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TROLY_")} | {"TROLY_DATABASE_URL": url}
    assert ask()["faq_id"] == "vneid.password.forgot"
    assert not (tmp_path / "troly.db").exists(), "asking must not create a database"

    async def hide() -> None:
        engine = create_engine(url)
        try:
            await migrate.upgrade(engine)
            async with session_factory(engine)() as session, session.begin():
                hide_entry(session, "vneid.password.forgot", "test")
        finally:
            await engine.dispose()

    asyncio.run(hide())
    assert ask()["faq_id"] != "vneid.password.forgot"


# ---- the FAQ's own phrases ---------------------------------------------------------------------------------------


def _entry(entry_id: str, short: str, keywords: tuple[str, ...], questions: tuple[str, ...], answer: str = "",
           domain: str = "vneid") -> Entry:
    return Entry(entry_id, domain, short + " (chi tiết)", short, questions, keywords, (), answer or "1. Làm theo.",
                 Source("nguồn", "https://example.gov.vn/", "2026-03"), ())


@pytest.fixture(scope="module")
def small() -> Matcher:
    return Matcher.build([
        _entry("a.passcode", "Quên passcode", ("mã 6 số", "cá nhân"),
               ("quên mã passcode sáu số trên ứng dụng", "không nhớ passcode")),
        _entry("b.profile", "Sửa thông tin", ("thông tin cá nhân", "sai ngày sinh"),
               ("thông tin cá nhân bị sai", "sửa ngày sinh bị sai trên ứng dụng")),
        _entry("c.wallet", "Ví giấy tờ", ("ví giấy tờ", "thẻ bảo hiểm"),
               ("ví giấy tờ để làm gì", "tích hợp thẻ bảo hiểm vào ví")),
        _entry("d.renew", "Gia hạn thẻ", ("gia hạn",), ("gia hạn thẻ bảo hiểm hộ gia đình", "thẻ bảo hiểm hết hạn")),
        _entry("e.lltp", "Lý lịch tư pháp", ("phiếu lý lịch",), ("xin phiếu lý lịch tư pháp", "làm lý lịch ở đâu")),
        _entry("f.lltp-app", "Lý lịch tư pháp", ("trên ứng dụng",), ("xin lý lịch trên ứng dụng", "lý lịch online")),
    ])


@pytest.mark.parametrize("typed", ["Quên passcode", "quen passcode", "Quên passcode ạ", "cho hỏi quên passcode",
                                   "queen passcode", "mã 6 số"])
def test_a_label_or_an_own_keyword_typed_back_is_answered(small: Matcher, typed: str) -> None:
    found = small.match(typed)
    assert (found.decision, found.faq_id, found.score) == ("answer", "a.passcode", 1.0)


@pytest.mark.parametrize("typed", ["quên passcode phải làm sao", "làm thế nào để không nhớ passcode ạ",
                                   "cach nao de quen passcode", "quen passcode the nao", "hướng dẫn quên passcode"])
def test_the_wording_of_how_do_i_around_a_phrase_does_not_hide_it(small: Matcher, typed: str) -> None:
    found = small.match(typed)
    assert (found.decision, found.faq_id, found.score) == ("answer", "a.passcode", 1.0)


def test_how_do_i_alone_or_inside_a_phrase_is_kept(small: Matcher) -> None:
    assert small.match("làm sao").score < 1.0  # nothing left to be a phrase
    assert small.match("quên làm sao passcode").score < 1.0  # not at an edge: the ranking decides


def test_a_label_two_entries_share_asks_which(small: Matcher) -> None:
    found = small.match("lý lịch tư pháp")
    assert found.decision == "clarify"
    assert set(found.choices) == {"e.lltp", "f.lltp-app"}


@pytest.mark.parametrize(("typed", "other_user"), [("cá nhân", "b.profile"), ("thẻ bảo hiểm", "d.renew")])
def test_a_keyword_other_entries_also_use_is_left_to_the_ranking(small: Matcher, typed: str, other_user: str) -> None:
    """"cá nhân" is listed by the passcode entry but used by the profile one: it is not the passcode's own."""
    found = small.match(typed)
    assert found.score < 1.0
    assert found.decision != "answer" or found.faq_id == other_user


def test_phrases_the_answers_tell_residents_to_type_are_answered(matcher: Matcher) -> None:
    entries = load_content().entries
    assert sum(len(typed_phrases(e)) for e in entries) >= 20  # the check has something to check
    assert matcher.typed_phrase_problems(entries) == []


def test_a_phrase_to_type_that_two_entries_share_is_reported(small: Matcher) -> None:
    entries = [_entry("g.guide", "Hướng dẫn", ("hướng dẫn",), ("hướng dẫn chung", "xem hướng dẫn"),
                      answer='Xem thêm: gõ "lý lịch tư pháp", gõ "quên passcode" hoặc gõ "gặp người hỗ trợ".')]
    problems = small.typed_phrase_problems(entries)
    assert len(problems) == 1 and '"lý lịch tư pháp", nhưng câu đó chỉ được hỏi lại' in problems[0]


def test_an_entry_about_another_app_does_not_answer_a_question_naming_vneid() -> None:
    bank = _entry("pay.bank-password", "Mật khẩu ngân hàng", ("mật khẩu ngân hàng",),
                  ("nhập sai mật khẩu nhiều lần bị khóa", "quên mật khẩu đăng nhập bị khóa"), domain="payment")
    vneid = _entry("vneid.password", "Mật khẩu VNeID", ("mật khẩu vneid",),
                   ("quên mật khẩu vneid", "lấy lại mật khẩu trên vneid"))
    question = "nhập sai mật khẩu nhiều lần bị khóa vneid"
    assert Matcher.build([bank, vneid]).match(question).faq_id == "vneid.password"
    # How to use a phone holds for every app: an entry of that domain is not held to the app's name.
    skills = replace(bank, id="smartphone.passwords", domain="digital-skills")
    assert Matcher.build([skills, vneid]).match(question).faq_id == "smartphone.passwords"


def test_a_subject_phrase_typed_with_diacritics_is_not_mentioned_by_another_spelling() -> None:
    """Phrases of out_of_scope.py are found without diacritics, but when the resident typed some, an entry that
    spells the phrase otherwise ("điểm thì" for "điểm thi") does not mention it; typed without them, it may."""
    licence = _entry("vneid.licence-points", "Điểm bằng lái", ("điểm bằng lái", "trừ điểm"),
                     ("xem bằng lái bị trừ điểm trên vneid", "bằng lái còn bao nhiêu điểm thì xem ở đâu"))
    other = _entry("vneid.other", "Ví giấy tờ", ("ví giấy tờ",), ("ví giấy tờ có gì", "xem giấy tờ trên vneid"))
    m = Matcher.build([licence, other])
    accented, plain = m.match("vneid có xem điểm thi không"), m.match("vneid co xem diem thi khong")
    assert accented.candidates[0].faq_id == plain.candidates[0].faq_id == "vneid.licence-points"
    assert accented.candidates[0].score < plain.candidates[0].score


def test_the_bank_entry_does_not_answer_a_vneid_lockout(matcher: Matcher) -> None:
    found = matcher.match("nhap sai mat khau nhieu lan bi khoa vneid")
    assert (found.decision, found.faq_id) == ("answer", "vneid.password.forgot")


@pytest.mark.parametrize(("typed", "faq_id"), [("VNeID là gì", "vneid.overview"), ("vneid la gi a", "vneid.overview"),
                                               ("nhập sai mật khẩu vneid", "vneid.password.forgot"),
                                               # the movement's first tasks, as residents ask them
                                               ("cài vneid", "vneid.overview"), ("tai vneid o dau", "vneid.overview"),
                                               ("cài VNeID như thế nào ạ", "vneid.overview"),
                                               ("dang ky vneid", "vneid.level1.register"),
                                               ("làm thế nào để kích hoạt vneid", "vneid.activate"),
                                               ("quên mật khẩu vneid phải làm sao", "vneid.password.forgot"),
                                               ("lam can cuoc o dau", "cancuoc.card-and-fees"),
                                               ("chu nho qua", "smartphone.elderly.basics")])
def test_short_questions_the_shipped_faq_names_are_answered(matcher: Matcher, typed: str, faq_id: str) -> None:
    found = matcher.match(typed)
    assert (found.decision, found.faq_id) == ("answer", faq_id)


# ---- named apps: the bank as well as VNeID -----------------------------------------------------------------------


@pytest.mark.parametrize("question", ["quên passcode ngân hàng", "quên mã pin thẻ atm", "quen passcode nh",
                                      "app agribank quen ma pin"])
def test_a_question_naming_the_bank_is_not_offered_the_vneid_entry_first(matcher: Matcher, question: str) -> None:
    found = matcher.match(question)
    assert found.decision != "escalate"
    assert found.faq_id == "pay.forgot-bank-password"
    assert "vneid.passcode.forgot" not in found.choices


@pytest.mark.parametrize(
    ("question", "faq_id"),
    [
        # the VNeID entry mentions banks: naming both keeps it
        ("liên kết tài khoản ngân hàng trên vneid", "vneid.social-security-account"),
        # naming both apps: the VNeID entry keeps its place although it never mentions banks
        ("nhập sai passcode vneid nhiều lần, tài khoản ngân hàng có bị khóa không", "vneid.passcode.forgot"),
        # about VNeID without naming it ("định danh", "mức 2"): its entries are not taken for another app's
        ("làm định danh mức 2 có cần tài khoản ngân hàng không", "vneid.level2.register"),
    ],
)
def test_a_vneid_question_that_mentions_a_bank_keeps_its_vneid_entry(matcher: Matcher, question: str,
                                                                    faq_id: str) -> None:
    found = matcher.match(question)
    assert found.decision != "escalate"
    assert found.faq_id == faq_id


@pytest.mark.parametrize("question", ["cài đặt vneid", "cai dat vneid nhu the nao", "cài đặt vneid trên iphone",
                                      "hướng dẫn cài đặt ứng dụng vneid", "tai app vneid"])
def test_installing_vneid_is_offered_the_overview_first(matcher: Matcher, question: str) -> None:
    """"Cài đặt" is also a phone's settings: with VNeID named, it is installing it (the overview says how)."""
    found = matcher.match(question)
    assert found.decision != "escalate"
    assert found.faq_id == "vneid.overview"


def test_a_phones_privacy_settings_stay_settings(matcher: Matcher) -> None:
    assert matcher.match("cài đặt zalo để người lạ không nhắn tin").faq_id == "smartphone.privacy-settings"


@pytest.mark.parametrize("question", ["the can cuoc bi sai ngay sinh", "căn cước ghi sai tên thì làm sao",
                                      "thẻ căn cước bị sai thông tin"])
def test_a_card_with_wrong_details_is_offered_the_card_entry_first(matcher: Matcher, question: str) -> None:
    """Not the health-insurance card's entry, nor the address after the merger: the card entry says where to fix it."""
    found = matcher.match(question)
    assert found.decision != "escalate"
    assert found.faq_id == "cancuoc.card-and-fees"


def test_an_entry_of_the_banks_own_domain_need_not_name_it(matcher: Matcher) -> None:
    """The entry on common scams never says "ngân hàng"; it is about payments all the same."""
    found = matcher.match("các chiêu lừa đảo qua ngân hàng hay gặp")
    assert (found.decision, found.faq_id) == ("answer", "pay.scam.common")


# ---- "cai" typed without diacritics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plain", "accented"),
    [("muon cai vneid thi lam sao", "muốn cài vneid thì làm sao"),
     ("de cai vneid cho ba thi vao dau", "để cài vneid cho ba thì vào đâu")],
)
def test_cai_where_it_means_install_counts_as_with_diacritics(matcher: Matcher, plain: str, accented: str) -> None:
    """Read as the particle "cái", "cai" said nothing and an install question typed without diacritics escalated."""
    typed, meant = matcher.match(plain), matcher.match(accented)
    assert meant.decision != "escalate"
    assert (typed.decision, typed.faq_id, typed.choices) == (meant.decision, meant.faq_id, meant.choices)


# ---- subjects next to the FAQ's that it does not cover -----------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "đăng ký chữ ký số cho cá nhân hết bao nhiêu tiền",
        "app ngân hàng bị lỗi không chuyển khoản được",
        "tài khoản điện thoại tự nhiên bị trừ tiền vô cớ",
        "xin cấp thẻ bảo hiểm y tế miễn phí cho hộ nghèo",
        "cấp lại giấy đăng ký xe máy bị mất ở đâu",
        "xe máy mới mua làm giấy đăng ký xe ở đâu",
        "xã có lớp học nghề cho thanh niên không",
        # Zalo itself is not the FAQ's, though the VNeID update entry warns of links sent over it
        "cập nhật zalo bản mới",
        "cap nhat zalo",
        # the bill is too high: a question for the power company, not how to pay it
        "tiền điện tháng này sao mà cao quá vậy",
        "tien dien thang nay sao ma cao qua vay",
        "hóa đơn tiền điện nhà tui tính sai rồi",
        # a broken phone; "vỡ" typed without diacritics is also "vô", so only "bị rơi vỡ" is trusted without them
        "điện thoại bị rơi, vỡ màn hình rồi, sửa ở đâu",
        "dt bi roi vo man hinh sua o dau",
    ],
)
def test_subjects_next_to_the_faqs_are_escalated(matcher: Matcher, question: str) -> None:
    assert matcher.match(question).decision == "escalate"


@pytest.mark.parametrize(
    ("question", "faq_id"),
    [
        # the same subjects when the question is about VNeID, the bank app or a scam: the FAQ's
        ("xe mới mua thì tích hợp đăng ký xe vào vneid được chưa", "vneid.wallet.integration-failed"),
        ("máy cũ bị vỡ màn hình, đăng nhập vneid trên máy mới sao", "vneid.login.new-device"),
        ("có người nhắn zalo bảo cập nhật vneid", "vneid.update-app"),
        ("người ta gửi link cập nhật zalo, bấm vô có sao không", "vneid.update-app"),
        ("bản sao điện tử có chữ ký số là gì", "dvc.chung-thuc"),
        ("app ngân hàng bị lỗi khi xác thực sinh trắc học", "pay.biometric.account-rule"),
        ("đổi căn cước mới, app ngân hàng bị lỗi không chuyển tiền được", "pay.id-expired"),
        # "cao", "tăng" far from the bill, or in "cao tuổi": paying it is still the question
        ("đóng tiền điện qua app ngân hàng có mất phí cao quá không", "pay.bills.utilities"),
        ("người cao tuổi đóng tiền điện online thế nào", "dvc.electricity-via-dvc"),
        ("mẹ tui lớn tuổi, chữ trên màn hình bé quá chỉnh sao", "smartphone.elderly.basics"),
        # a complaint about the bill, with a question on paying it; free health insurance, with its VNeID card
        ("tiền điện tháng này cao quá, thanh toán qua app được không", "pay.bills.utilities"),
        ("the bhyt mien phi cho nguoi ngheo tich hop vneid", "vneid.wallet.bhyt"),
    ],
)
def test_subjects_next_to_the_faqs_keep_their_entries_when_the_faq_covers_them(matcher: Matcher, question: str,
                                                                              faq_id: str) -> None:
    found = matcher.match(question)
    assert found.decision != "escalate" and found.candidates[0].faq_id == faq_id


def test_rows_with_exceptions_are_rows() -> None:
    from faq.tables.out_of_scope import COMPLAINTS, OUT_OF_SCOPE, UNLESS

    assert set(UNLESS) <= set(OUT_OF_SCOPE)
    assert all(c.subject and c.words for c in COMPLAINTS)


# ---- short questions that name a topic ---------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["otp", "OTP ạ", "cho hỏi otp"])
def test_one_word_a_few_entries_are_about_offers_them(matcher: Matcher, question: str) -> None:
    found = matcher.match(question)
    assert found.decision == "clarify" and "pay.otp.protect" in found.choices


@pytest.mark.parametrize("question", ["zalo", "gmail", "lua", "ok", "vneid"])
def test_one_word_that_is_another_subject_or_too_common_is_not_offered(matcher: Matcher, question: str) -> None:
    # "zalo" names other subjects in out_of_scope.py; "lua" may be "lúa"; "vneid" is in half the entries
    assert matcher.match(question).decision == "escalate"


@pytest.mark.parametrize("question", ["vneid là cái app gì vậy, tụi nhỏ trong nhà cứ nhắc hoài",
                                      "vneid la cai app gi vay, tui nho trong nha cu nhac hoai",
                                      "vneid là phần mềm gì mà mấy đứa nhỏ nhắc hoài"])
def test_asking_what_vneid_is_offers_its_overview_first(matcher: Matcher, question: str) -> None:
    found = matcher.match(question)
    assert found.decision != "escalate" and found.faq_id == "vneid.overview"
    assert found.decision == "answer" or found.choices[0] == "vneid.overview"


def test_asking_what_vneid_is_does_not_cover_another_subject(matcher: Matcher) -> None:
    assert matcher.match("vneid là gì, làm hộ chiếu trên đó được không").decision == "escalate"


def test_moving_vneid_to_a_new_phone_is_the_new_device_entry(matcher: Matcher) -> None:
    found = matcher.match("chuyen vneid sang dien thoai moi")
    assert found.decision != "escalate" and found.faq_id == "vneid.login.new-device"
