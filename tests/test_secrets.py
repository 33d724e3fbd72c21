"""Secrets residents should never send are found and masked; ordinary questions are left alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faq.secrets import mask_secrets


@pytest.mark.parametrize(
    ("text", "kind", "hidden"),
    [
        ("mã OTP của tôi là 482913", "otp", "482913"),
        ("Ma xac nhan 5821 gui ve may", "otp", "5821"),
        ("mật khẩu là Hoa@1975", "password", "Hoa@1975"),
        ("mk hoa1975 nhé", "password", "hoa1975"),
        ("PASS: abcd1234", "password", "abcd1234"),
        ("số căn cước 001203004567", "id_number", "001203004567"),
        ("cccd 001 203 004567", "id_number", "001 203 004567"),
        ("thẻ 4111 1111 1111 1111 bị khoá", "card", "4111 1111 1111 1111"),
        ("stk 0123456789 vietcombank", "account", "0123456789"),
        # Written the way residents write them (found by a walk-through of the console chat).
        ("mật khẩu VNeID là Lan@1960 mà không vào được", "password", "Lan@1960"),
        ("mat khau vneid cua toi la Hoa@1975 ma k dang nhap dc", "password", "Hoa@1975"),
        ("mk toi la hoa1975", "password", "hoa1975"),
        ("mật khẩu ngân hàng của tôi là 147258 có an toàn không", "password", "147258"),
        ("CCCD: 001-085-012345 bị khóa", "id_number", "001-085-012345"),
        ("can cuoc 001 085 012 345", "id_number", "001 085 012 345"),
        ("ma otp 123 456 ngan hang gui", "otp", "123 456"),
        ("cong an goi xin ma 8899 toi da doc cho ho roi", "otp", "8899"),
        # split by a dash or a dot: no part of it may stay readable
        ("otp 4829-13", "otp", "13"),
        ("mã xác nhận 4829.13 của ngân hàng", "otp", "13"),
    ],
)
def test_secrets_are_masked(text: str, kind: str, hidden: str) -> None:
    masked = mask_secrets(text)
    assert kind in masked.kinds
    assert hidden not in masked.text
    assert "••••" in masked.text


@pytest.mark.parametrize(
    "text",
    [
        "quen mat khau vneid thi lay lai the nao",
        "đổi mật khẩu ngân hàng ở đâu",
        "tôi sinh năm 1960, số điện thoại 0912345678",
        "thẻ 1234 5678 9012 3456 không hợp lệ theo Luhn",  # not a card number
        "phí 15000 đồng",
        "mật khẩu vneid là gì vậy",
        "mat khau ngan hang la bao nhieu ky tu",
        "mã hồ sơ của tôi tra ở đâu",
        "số điện thoại 0912 345 678 có nhận OTP không",
        "năm 2024 lệ phí là 50.000 đồng",
    ],
)
def test_ordinary_questions_are_left_alone(text: str) -> None:
    masked = mask_secrets(text)
    assert not masked.found
    assert masked.text == text


@given(st.text())
def test_never_raises_and_never_grows_a_secret(text: str) -> None:
    masked = mask_secrets(text)
    assert isinstance(masked.text, str)
    assert mask_secrets(masked.text).text == masked.text or masked.found


def test_links_keep_their_ampersands_in_html() -> None:
    from bot.channels.markup import to_html

    html = to_html("Xem https://dichvucong.gov.vn/p/home?a=1&b=2 nhé")
    assert 'href="https://dichvucong.gov.vn/p/home?a=1&amp;b=2"' in html
