"""The normaliser: examples from issue 3 and DESIGN.md, and hypothesis properties."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq.normalize import fold, is_syllable, normalize, phrase_key, plain_words
from faq.tables.abbreviations import ABBREVIATIONS, CONTEXTUAL, NUMBER_UNITS, UNACCENTED


def acc(text: str) -> str:
    return normalize(text).accented


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ddawng kys taif khoanr", "đăng ký tài khoản"),
        ("d9a8ng ky1", "đăng ký"),
        ("Queen maatj khaaur VNeID thif lamf sao", "quên mật khẩu vneid thì làm sao"),
        ("dduwowcj khoong", "được không"),
        ("Giowf xin lys lichj tuw phaps", "giờ xin lý lịch tư pháp"),
        ("ngu7o7i2 nha6n5 tie6n2", "người nhận tiền"),
        ("vneid quen mk lam sao", "vneid quen mật khẩu lam sao"),
        ("dang ky khai sinh online cho con dc ko", "dang ky khai sinh online cho con được không"),
        # Unikey lets the hat come after the final consonant, and residents type it that way without one too
        ("quene mat khau", "quên mat khau"),
        ("ddang nhapaj vneid", "đang nhập vneid"),
        ("tiene ddieenj", "tiên điện"),
    ],
)
def test_keystrokes_and_abbreviations(raw: str, expected: str) -> None:
    assert acc(raw) == expected


@pytest.mark.parametrize("word", ["phone", "online", "none", "zalo", "google", "code", "name"])
def test_a_late_hat_only_decodes_into_a_real_syllable(word: str) -> None:
    assert acc(word) == word


def test_nfc_and_case() -> None:
    text = "Làm sao để kích hoạt tài khoản định danh mức 2?"
    assert acc(text) == "làm sao để kích hoạt tài khoản định danh mức 2"
    assert normalize(unicodedata.normalize("NFD", text)) == normalize(text)


@pytest.mark.parametrize(
    ("old", "new"),
    [("hoà", "hòa"), ("thuý", "thúy"), ("quí", "quý"), ("khoá", "khóa"), ("Thanh Hoá", "thanh hóa"), ("kĩ", "kỹ")],
)
def test_one_tone_placement(old: str, new: str) -> None:
    assert acc(old) == new
    assert acc(new) == new


def test_legacy_encodings_and_mojibake() -> None:
    assert acc("Céng hoµ x· héi chñ nghÜa ViÖt Nam") == "cộng hòa xã hội chủ nghĩa việt nam"  # TCVN3
    assert acc("Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam") == "cộng hòa xã hội chủ nghĩa việt nam"  # VNI
    broken = "đăng ký tài khoản".encode().decode("cp1252", errors="ignore")
    assert acc(broken) == "đăng ký tài khoản"
    assert acc("Ä‘Äƒng kÃ½") == "đăng ký"


@pytest.mark.parametrize(
    "text",
    ["app otp vneid zalo momo", "2026 1/7/2025 100.000", "dichvucong.gov.vn", "https://dichvucong.gov.vn/p/home",
     "bằng a1 b2 4g", "online facebook wifi nfc qr password bus"],
)
def test_never_corrupts_words_numbers_urls(text: str) -> None:
    assert acc(text) == text.lower()


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("ko", "không"), ("k", "không"), ("hok", "không"), ("hông", "không"), ("hổng", "không"),
        ("dc", "được"), ("đc", "được"), ("tk", "tài khoản"), ("mk", "mật khẩu"), ("sdt", "số điện thoại"),
        ("pass", "mật khẩu"),
        ("sđt", "số điện thoại"), ("cccd", "căn cước"), ("dvc", "dịch vụ công"), ("bhyt", "bảo hiểm y tế"),
        ("gplx", "giấy phép lái xe"), ("lltp", "lý lịch tư pháp"), ("stk", "số tài khoản"), ("ck", "chuyển khoản"),
        ("đk", "đăng ký"), ("dk", "đăng ký"), ("ntn", "như thế nào"), ("bn", "bao nhiêu"), ("j", "gì"),
        ("vs", "với"), ("r", "rồi"), ("z", "vậy"), ("dzậy", "vậy"), ("mn", "mọi người"), ("ad", "admin"),
        ("ng", "người"), ("đt", "điện thoại"), ("tgian", "thời gian"), ("mần", "làm"),
    ],
)
def test_abbreviation_table(typed: str, meant: str) -> None:
    assert acc(typed) == meant


def test_folded_form_is_the_same_whichever_spelling() -> None:
    assert normalize("dk").folded == normalize("đk").folded == normalize("đăng ký").folded == "dang ky"
    assert normalize("Đường").folded == "duong"
    assert fold("Đăng Ký") == "Dang Ky"


def test_regional_words_only_where_safe() -> None:
    assert acc("Rứa giờ tui phải làm răng?") == "vậy giờ tôi phải làm sao"
    assert acc("chừ làm thủ tục thì tới mô?") == "giờ làm thủ tục thì tới đâu"
    assert acc("chi phí bao nhiêu, làm chi") == "chi phí bao nhiêu làm gì"
    assert acc("đau răng quá") == "đau răng quá"
    assert acc("gõ lộn số tài khoản") == "gõ nhầm số tài khoản"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # "cai" typed without diacritics is "cài" (install) where the neighbours say so...
        ("phai cai moi dung duoc", "phai cài moi dung duoc"),
        ("chi cach cai vneid voi", "chi cach cài vneid voi"),
        ("de cai ung dung ngan hang", "de cài ung dung ngan hang"),
        ("may cu qua cai app duoc khong", "may cu qua cài app duoc khong"),
        ("cai dat rieng tu", "cài dat rieng tu"),
        # ...and stays the particle "cái" otherwise: a quantifier or a preposition before it, "gì"/"này" after it
        ("app nay la cai gi", "app nay la cai gi"),
        ("tren cai app vneid", "tren cai app vneid"),
        ("cai nay de lam chi", "cai nay de lam gì"),
        ("mua cai dien thoai", "mua cai dien thoai"),
        ("tinh lao cai", "tinh lao cai"),
        # typed with diacritics, it is what it says
        ("cái app vneid", "cái app vneid"),
    ],
)
def test_cai_is_install_where_the_context_says_so(raw: str, expected: str) -> None:
    assert acc(raw) == expected


_CAI_CONTEXT = st.lists(st.sampled_from(["cai", "cài", "cái", "phai", "cach", "de", "la", "gi", "chi", "ni", "app",
                                           "vneid", "lao", "tren", "nay", "ung", "dung", "dat", ".", ","]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_CAI_CONTEXT)
def test_restoring_cai_is_idempotent(words: list[str]) -> None:
    # The rule reads both neighbours, which other rules may change ("chi" → "gì"): the output must be a fixed point.
    n = normalize(" ".join(words))
    assert normalize(n.accented) == n


def test_number_units() -> None:
    assert acc("ck 19tr") == "chuyển khoản 19 triệu"
    assert acc("con 10t") == "con 10 tuổi"


def test_tokens_and_syllables() -> None:
    n = normalize("Quên MẬT khẩu!!")
    assert n.tokens == ("quên", "mật", "khẩu")
    assert n.folded_tokens == ("quen", "mat", "khau")
    assert is_syllable("nguyễn") and is_syllable("quyết") and not is_syllable("lamf") and not is_syllable("app")


def test_table_values_are_normalised() -> None:
    values = [" ".join(v) for v in ABBREVIATIONS.values()]
    values += [r for r, _ in CONTEXTUAL.values()] + list(NUMBER_UNITS.values())
    values += [r.accented for r in UNACCENTED.values()]
    for v in values:
        assert acc(v) == v, v


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_never_raises_and_idempotent(text: str) -> None:
    n = normalize(text)
    assert normalize(n.accented) == n
    assert n.folded == fold(n.accented)


_VI = "aăâeêioôơuưyđàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
_MIXED = st.text(
    alphabet=st.sampled_from(list(_VI + "bcdghklmnpqrstvxwfjz0123456789 .,?ÃÄ‘ƒ½µ·¸§ØÙøöôñ\u0301\u0300\u0323\xad")),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), _MIXED))
def test_nfc_and_nfd_give_the_same_result(text: str) -> None:
    n = normalize(text)
    assert normalize(unicodedata.normalize("NFD", text)) == n
    assert normalize(unicodedata.normalize("NFC", text)) == n
    assert normalize(n.accented) == n


def test_fast_path_table_holds_only_fixed_points() -> None:
    # The table of syllables already in our spelling lets `_word` skip the slow checks (after the abbreviation
    # table, which still comes first): each of its members must be exactly what the slow path makes of it.
    from faq.normalize import _CANONICAL, _REPEAT_RE, _canonical

    assert len(_CANONICAL) > 10_000
    for word in _CANONICAL:
        assert _canonical(word) == word
        assert not _REPEAT_RE.search(word)  # so skipping the repeated-letter repair changes nothing


_PLAIN = st.text(alphabet=st.sampled_from(list("abcdđeghiklmnopqrstuvxyáàảãạâấầêếềôốồơớờưứừ0123456789 ,?!:;-…")))


@settings(max_examples=300, deadline=None)
@given(_PLAIN)
def test_cheap_token_expression_gives_the_same_tokens(text: str) -> None:
    # Text without "." or "/" is tokenised with a cheaper expression; it must find the very same tokens.
    from faq.normalize import _PLAIN_TOKEN_RE, _TOKEN_RE

    full = [(m.lastgroup, m.group(0)) for m in _TOKEN_RE.finditer(text)]
    plain = [(m.lastgroup, m.group(0)) for m in _PLAIN_TOKEN_RE.finditer(text)]
    assert full == plain


def test_plain_words_for_comparing_typed_phrases() -> None:
    assert plain_words("Hủy đăng ký!") == "huy dang ky"
    assert plain_words("  ĐĂNG   ký, nhận tin ") == "dang ky nhan tin"
    assert plain_words("Thôn Đông") == plain_words("thon dong")
    assert plain_words("...") == ""


@pytest.mark.parametrize(("text", "key"), [
    ("Quên mật khẩu VNeID phải làm sao ạ?", "quen mat khau vneid"),
    ("cho hỏi làm thế nào để kích hoạt VNeID", "kich hoat vneid"),
    ("hướng dẫn cách cài vneid với", "cai vneid"),
    ("tam tru dang ky o dau", "tam tru dang ky"),
    ("nộp bản sao", "nop ban sao"),  # "sao" alone is a word here (a copy), not "how"
    ("làm sao", "lam sao"),  # nothing would be left
    ("làm thế nào", "lam the nao"),
])
def test_phrase_key_drops_polite_words_and_how_do_i_at_the_edges(text: str, key: str) -> None:
    assert phrase_key(normalize(text).folded_tokens) == key
