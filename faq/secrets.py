"""Find and mask secrets residents should never send: OTP codes, passwords, full ID numbers, card and account
numbers.

Masking keeps the last digits only where that helps a volunteer ("thẻ …1234"), never the whole value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from faq.normalize import fold

# A 12-digit số định danh cá nhân, possibly written in groups ("001 085 012345", "001-085-012-345"); not a piece
# of a longer run of digits.
_ID12 = re.compile(r"(?<!\d)(?<!\d[ .-])(\d(?:[ .-]?\d){11})(?![ .-]?\d)")
# Card numbers: 13–19 digits, often in groups of four.
_CARD = re.compile(r"(?<![\d])(\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}|\d{13,19})(?![\d])")
# OTP: a 4–8 digit code (its digits maybe spaced: "123 456") near the word that names it, or right after "mã"
# ("công an xin mã 8899").
_CODE = r"(\d(?:[ .-]?\d){3,7})(?![ .-]?\d)"  # "482913", "482 913", "4829-13"
_OTP = re.compile(r"((?:otp|ma xac (?:nhan|thuc)|ma kich hoat|ma so|passcode|ma pin|pin)\D{0,15}?)" + _CODE)
_BARE_CODE = re.compile(r"\b(ma\s+)" + _CODE)
# A password announced as such: "mật khẩu là Abc@123", "mk: hoa1975", or a value with a digit: "pass hoa1975".
# Up to four words may come between ("mật khẩu VNeID của tôi là Hoa@1975"); the value must then hold a digit or
# a symbol, so "mật khẩu ứng dụng là gì đấy" stays a question.
_SECRET_WORD = r"(?:mat khau|mat ma|mk|pass(?:word)?)"
_PASSWORD = re.compile(
    r"\b(" + _SECRET_WORD + r"(?: (?:moi|cu))?(?: cua (?:toi|em|minh|tui|anh|chi|con|bac|me))?"
    r"(?:\s*(?:la\b|:|=)\s*|\s+(?=\S*\d)))(\S{4,})"
)
_PASSWORD_LATER = re.compile(
    r"\b(" + _SECRET_WORD + r"(?: [^\s:=]+){1,4}?\s*(?:\bla\b|:|=)\s*)((?=\S*[\d@#$%^&*!?._-])\S{4,})"
)
# Bank account numbers announced as such: "stk 0123456789", "số tài khoản: 1903...".
_ACCOUNT = re.compile(r"((?:stk|so tai khoan|so tk|tai khoan so)\s*(?:la|:)?\s*[:=]?\s*)(\d[\d ]{5,20}\d)")


@dataclass(frozen=True, slots=True)
class Masked:
    text: str
    kinds: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.kinds)


def mask_secrets(text: str) -> Masked:
    """Mask what looks like a secret. Patterns run on the folded text; the original is edited at the same
    offsets, which `fold` keeps (it maps one character to one character)."""
    text = unicodedata.normalize("NFC", text)
    folded = fold(text).lower()
    if len(folded) != len(text):  # a character folded to a different length: fall back to the folded text
        text = folded
    spans: list[tuple[int, int, str, str]] = []

    def add(start: int, end: int, kind: str, keep_tail: int) -> None:
        if any(s < end and start < e for s, e, _, _ in spans):
            return
        value = text[start:end]
        digits = [c for c in value if c.isdigit()]
        tail = "".join(digits[-keep_tail:]) if keep_tail and len(digits) > keep_tail + 4 else ""
        spans.append((start, end, kind, "•" * 4 + tail))

    for m in _OTP.finditer(folded):
        add(m.start(2), m.end(2), "otp", 0)
    for m in _BARE_CODE.finditer(folded):
        add(m.start(2), m.end(2), "otp", 0)
    for m in _PASSWORD.finditer(folded):
        add(m.start(2), m.end(2), "password", 0)
    for m in _PASSWORD_LATER.finditer(folded):
        add(m.start(2), m.end(2), "password", 0)
    for m in _ACCOUNT.finditer(folded):
        add(m.start(2), m.end(2), "account", 3)
    for m in _ID12.finditer(folded):
        add(m.start(1), m.end(1), "id_number", 0)
    for m in _CARD.finditer(folded):
        if _luhn(m.group(1)):
            add(m.start(1), m.end(1), "card", 4)
    if not spans:
        return Masked(text, ())
    out = text
    for start, end, _, replacement in sorted(spans, reverse=True):
        out = out[:start] + replacement + out[end:]
    return Masked(out, tuple(sorted({kind for _, _, kind, _ in spans})))


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
