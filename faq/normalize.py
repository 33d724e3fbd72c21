"""One normaliser for FAQ text and residents' questions.

Steps: Unicode NFC; mojibake (UTF-8 read as Windows-1252/Latin-1) and legacy fonts (TCVN3, VNI-Windows)
repaired; lower case; tokens split, URLs and numbers kept whole; per word: our abbreviation table, then
"already a real syllable?" (kept, with the tone put in one place), else Telex or VNI keystrokes decoded when
that yields a real syllable; regional words replaced, and a few syllables typed without diacritics restored
("phai cai" → "phai cài"), where the context makes them safe. Two forms come out: with diacritics and folded (no
diacritics, đ→d).

The function is total (never raises) and idempotent: its output is a fixed point, checked by running the
steps again until nothing changes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from faq.tables.abbreviations import ABBREVIATIONS, CONTEXTUAL, NUMBER_UNITS, PROTECTED, UNACCENTED
from faq.tables.legacy_encodings import (
    MOJIBAKE_BYTE,
    TCVN3,
    TCVN3_SIGNAL,
    VNI_BREVE_MARKS,
    VNI_HAT_MARKS,
    VNI_SIGNAL,
    VNI_SINGLE,
    VNI_TONE_MARKS,
)
from faq.tables.syllables import (
    MODIFIED_VOWELS,
    STOP_FINALS,
    TONED_VOWEL,
    VALID_TONELESS,
    VOWEL_TONE,
)

__all__ = [
    "POLITE_EDGES",
    "Normalized",
    "fold",
    "is_syllable",
    "normalize",
    "phrase_key",
    "plain_words",
]


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised text: `accented` keeps diacritics, `folded` drops them (đ→d)."""

    accented: str
    folded: str
    tokens: tuple[str, ...]
    folded_tokens: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- folding


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {ord("đ"): "d", ord("Đ"): "D"}
    for ch in VOWEL_TONE:
        for c in (ch, ch.upper()):
            base = "".join(x for x in unicodedata.normalize("NFD", c) if not unicodedata.combining(x))
            table[ord(c)] = base
    return table


_FOLD: Final = MappingProxyType(_fold_table())


def fold(text: str) -> str:
    """Remove Vietnamese diacritics (and combining marks of other scripts); đ→d. Case is kept."""
    out = text.translate(_FOLD)
    if out.isascii():
        return out
    decomposed = unicodedata.normalize("NFD", out)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped).translate(_FOLD)


_PLAIN_WORD: Final = re.compile(r"\w+")


def plain_words(text: str) -> str:
    """Lower case, no diacritics, no punctuation, words joined by one space: for comparing short typed phrases
    and names ("Hủy đăng ký!" → "huy dang ky"; phones capitalise the first letter)."""
    return " ".join(_PLAIN_WORD.findall(fold(text).lower()))


# ------------------------------------------------------------------------------------------- syllables

_VOWELS: Final = frozenset("aăâeêioôơuưy")


def _split_tone(token: str) -> tuple[str, int] | None:
    """Token without its tone, and the tone; None when it carries two tones."""
    tone = 0
    chars: list[str] = []
    for ch in token:
        vt = VOWEL_TONE.get(ch)
        if vt is None:
            chars.append(ch)
            continue
        chars.append(vt[0])
        if vt[1]:
            if tone:
                return None
            tone = vt[1]
    return "".join(chars), tone


def _tone_position(bare: str) -> int:
    """Index of the vowel that carries the tone, in the traditional placement (hòa, thúy, quý, già)."""
    n = len(bare)
    i = 0
    if (bare.startswith("qu") and n > 2) or (bare.startswith("gi") and n > 2 and bare[2] in _VOWELS):
        i = 2
    else:
        while i < n and bare[i] not in _VOWELS:
            i += 1
    start = i
    while i < n and bare[i] in _VOWELS:
        i += 1
    end = i
    if start == end:  # "gi" alone: the i is the vowel
        return 1 if bare.startswith("gi") else -1
    for j in range(end - 1, start - 1, -1):
        if bare[j] in MODIFIED_VOWELS:
            return j
    if end < n:  # closed syllable: the last vowel (toán, hoàng)
        return end - 1
    size = end - start
    if size == 1:
        return start
    if size == 2:
        return start
    return start + 1


_IY_INITIALS: Final = frozenset({"h", "k", "l", "m", "s", "t", "qu"})


def _canonical(token: str) -> str | None:
    """The token in our one spelling if it is a well-formed syllable (any tone placement), else None."""
    split = _split_tone(token)
    if split is None:
        return None
    bare, tone = split
    if bare not in VALID_TONELESS:
        return None
    if tone in (2, 3, 4) and bare.endswith(STOP_FINALS):
        return None
    # One spelling for the i/y variants of open syllables: lí/lý, kĩ/kỹ, quí/quý.
    if bare[-1] == "i" and bare[:-1] in _IY_INITIALS:
        bare = bare[:-1] + "y"
    if not tone:
        return bare
    pos = _tone_position(bare)
    if pos < 0:
        return None
    return bare[:pos] + TONED_VOWEL[(bare[pos], tone)] + bare[pos + 1 :]


def _canonical_spellings() -> frozenset[str]:
    """Every syllable already in our one spelling (what `_canonical` maps to itself), for a fast path."""
    out: set[str] = set()
    for bare in VALID_TONELESS:
        if bare[-1] == "i" and bare[:-1] in _IY_INITIALS:
            continue  # spelled with y
        out.add(bare)
        pos = _tone_position(bare)
        if pos < 0:
            continue
        for tone in range(1, 6):
            if tone in (2, 3, 4) and bare.endswith(STOP_FINALS):
                continue
            out.add(bare[:pos] + TONED_VOWEL[(bare[pos], tone)] + bare[pos + 1 :])
    return frozenset(out)


_CANONICAL: Final = _canonical_spellings()


def is_syllable(token: str) -> bool:
    """True when `token` (lower case, NFC) is a well-formed Vietnamese syllable, with or without tone."""
    return _canonical(token) is not None


# ------------------------------------------------------------------------------------ keystroke decoding

_TELEX_TONES: Final = MappingProxyType({"s": 1, "f": 2, "r": 3, "x": 4, "j": 5})
_HAT: Final = MappingProxyType({"a": "â", "e": "ê", "o": "ô"})


def _apply_horn(out: list[str]) -> bool:
    """Telex "w" / VNI "7"/"8": horn or breve on the last vowel group (uo→ươ, o→ơ, u→ư, a→ă)."""
    idx = [k for k, ch in enumerate(out) if ch in _VOWELS]
    if not idx:
        return False
    last = idx[-1]
    group = [last]
    k = last - 1
    while k >= 0 and out[k] in _VOWELS:
        group.insert(0, k)
        k -= 1
    letters = "".join(out[g] for g in group)
    after_q = group[0] > 0 and out[group[0] - 1] == "q"
    pos_uo = letters.find("uo")
    if pos_uo < 0:
        pos_uo = letters.find("ưo")
    if pos_uo >= 0 and not after_q:
        out[group[pos_uo]] = "ư"
        out[group[pos_uo + 1]] = "ơ"
        return True
    for target, repl in (("o", "ơ"), ("u", "ư"), ("a", "ă")):
        for g in reversed(group):
            if out[g] == target and not (target == "u" and after_q and g == group[0]):
                out[g] = repl
                return True
    return False


def _apply_late_hat(out: list[str], letter: str) -> bool:
    """Telex typed as Unikey allows it, the hat after the final consonant: "quene" → quên, "nhapaj" → nhập."""
    if not out or out[-1] in _VOWELS:
        return False  # "mae" is not a late hat; "maa" is handled as a doubled letter
    k = len(out) - 1
    while k >= 0 and out[k] not in _VOWELS:
        k -= 1
    while k >= 0 and out[k] in _VOWELS:
        if out[k] == letter:
            out[k] = _HAT[letter]
            return True
        k -= 1
    return False


def _finish(out: list[str], tone: int) -> str | None:
    word = "".join(out)
    if tone:
        pos = _tone_position(word)
        if pos < 0 or word[pos] not in _VOWELS:
            return None
        word = word[:pos] + TONED_VOWEL[(word[pos], tone)] + word[pos + 1 :]
    return word


def _decode_telex(token: str) -> str | None:
    """Decode Telex keystrokes typed without an input method ("ddawng" → "đăng"); None if nothing to do."""
    out: list[str] = []
    tone = 0
    changed = False
    prev = ""
    i = 0
    if token.startswith("dd"):
        out.append("đ")
        i = 2
        changed = True
    while i < len(token):
        c = token[i]
        has_vowel = any(ch in _VOWELS for ch in out)
        if c in _TELEX_TONES and has_vowel:
            tone = _TELEX_TONES[c]
            changed = True
        elif c == "w":
            if not _apply_horn(out):
                out.append("ư")
            changed = True
        elif c in _HAT and prev == c and out and out[-1] == c:
            out[-1] = _HAT[c]
            changed = True
        elif c in _HAT and _apply_late_hat(out, c):
            changed = True
        else:
            out.append(c)
        prev = c
        i += 1
    if not changed:
        return None
    return _finish(out, tone)


def _decode_vni(token: str) -> str | None:
    """Decode VNI keystrokes ("d9a8ng" → "đăng"); None when a digit has no letter to act on."""
    out: list[str] = []
    tone = 0
    changed = False
    for c in token:
        if c.isdigit():
            if not out:
                return None
            if c in "12345":
                if not any(ch in _VOWELS for ch in out):
                    return None
                tone = int(c)
            elif c == "6":
                idx = [k for k, ch in enumerate(out) if ch in _HAT]
                if not idx:
                    return None
                out[idx[-1]] = _HAT[out[idx[-1]]]
            elif c in "78":
                if not _apply_horn(out):
                    return None
            elif c == "9":
                idx = [k for k, ch in enumerate(out) if ch == "d"]
                if not idx:
                    return None
                out[idx[0]] = "đ"
            elif c == "0":
                tone = 0
            changed = True
        else:
            out.append(c)
    if not changed:
        return None
    return _finish(out, tone)


# ------------------------------------------------------------------------------- repairs of the input

_INVISIBLE: Final = MappingProxyType(
    {
        **{c: None for c in range(0x200B, 0x2010)},
        0xFEFF: None,
        0x2060: None,
        0xAD: None,
        **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)},  # full-width ASCII
        0xA0: 0x20,
        0x3000: 0x20,
    }
)


def _mojibake_regex() -> re.Pattern[str]:
    def cls(lo: int, hi: int) -> str:
        chars = sorted(c for c, b in MOJIBAKE_BYTE.items() if lo <= b <= hi)
        return "[" + "".join(re.escape(c) for c in chars) + "]"

    cont = cls(0x80, 0xBF)
    return re.compile(f"(?:{cls(0xC2, 0xDF)}{cont}|{cls(0xE0, 0xEF)}{cont}{cont})+")


_MOJIBAKE_RE: Final = _mojibake_regex()


def _repair_mojibake(text: str) -> str:
    """Undo UTF-8 bytes shown as Windows-1252/Latin-1 ("Ä‘Äƒng" → "đăng"); real Vietnamese never matches."""

    def fix(m: re.Match[str]) -> str:
        raw = bytes(MOJIBAKE_BYTE[c] for c in m.group(0))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return m.group(0)

    for _ in range(3):  # text encoded wrongly twice needs two rounds
        fixed = _MOJIBAKE_RE.sub(fix, text)
        if fixed == text:
            break
        # "à" is C3 A0: when the A0 (no-break space) became a plain space, "Ã " is left.
        text = re.sub(r"(?<=\w)Ã(?: |$)", "à", fixed)
    return text


_EDGE_PUNCT: Final = "\"'()[]{}.,;:!?<>-–—…“”‘’`"


def _valid_chunks(chunks: list[str]) -> int:
    n = 0
    for chunk in chunks:
        word = unicodedata.normalize("NFC", chunk.strip(_EDGE_PUNCT).lower())
        if word and not word.isascii() and _canonical(word) is not None:
            n += 1
    return n


def _decode_tcvn3(chunk: str) -> str:
    return "".join(TCVN3.get(c, c) for c in chunk)


def _decode_vni_windows(chunk: str) -> str:
    out: list[str] = []
    i = 0
    n = len(chunk)
    while i < n:
        c = chunk[i]
        nxt = chunk[i + 1] if i + 1 < n else ""
        base = VNI_SINGLE.get(c, c) if c in "ôÔöÖ" else c
        low = base.lower()
        if low in "aeouyơư" and nxt:
            mark = ""
            tone = -1
            if low in "aeo" and nxt in VNI_HAT_MARKS:
                mark, tone = "\u0302", VNI_HAT_MARKS[nxt]
            elif low == "a" and nxt in VNI_BREVE_MARKS:
                mark, tone = "\u0306", VNI_BREVE_MARKS[nxt]
            elif nxt in VNI_TONE_MARKS:
                tone = VNI_TONE_MARKS[nxt]
            if tone >= 0:
                tone_mark = ("", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323")[tone]
                out.append(unicodedata.normalize("NFC", base + mark + tone_mark))
                i += 2
                continue
        out.append(VNI_SINGLE.get(c, c))
        i += 1
    return "".join(out)


def _repair_legacy(text: str) -> str:
    """Decode TCVN3 or VNI-Windows text when that turns more words into real syllables."""
    chars = set(text)
    tries = []
    if chars & TCVN3_SIGNAL:
        tries.append(_decode_tcvn3)
    if chars & VNI_SIGNAL:
        tries.append(_decode_vni_windows)
    if not tries:
        return text
    chunks = text.split()
    best, best_score = text, _valid_chunks(chunks)
    for decode in tries:
        decoded = [decode(c) for c in chunks]
        score = _valid_chunks(decoded)
        if score > best_score:
            best, best_score = " ".join(decoded), score
    return best


# -------------------------------------------------------------------------------------------- tokens

_TOKEN_RE: Final = re.compile(
    r"(?P<url>(?:https?://|www\.)[^\s<>\"]+|[a-z0-9][\w-]*(?:\.[\w-]+)*\.(?:vn|com|net|org|gov|edu|info|io|me)"
    r"(?![\w.])(?:/[^\s<>\"]*)?)"
    r"|(?P<mail>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<num>\d+(?:[.,/:-]\d+)+)"
    r"|(?P<word>\w+)"
    r"|(?P<stop>[.?!,;:…]+)"
)
# Without "." or "/" no URL or e-mail address can match: the same tokens from a cheaper expression.
_PLAIN_TOKEN_RE: Final = re.compile(r"(?P<num>\d+(?:[.,/:-]\d+)+)|(?P<word>\w+)|(?P<stop>[.?!,;:…]+)")
_REPEAT_RE: Final = re.compile(r"([^\W\d_])\1{2,}")
_LICENCE_RE: Final = re.compile(r"[a-f][0-9]")
_NUM_UNIT_RE: Final = re.compile(r"(\d+)([^\W\d_]+)")
_URL_TRAIL: Final = ".,;:!?)]}'\""


def _word(token: str) -> tuple[str, ...]:
    """Normalise one word token to one or more tokens."""
    exp = ABBREVIATIONS.get(token)
    if exp is not None:
        return exp
    if token in _CANONICAL:  # the common case: a real syllable in our spelling (no repeats, nothing to decode)
        return (token,)
    if len(token) > 2:
        token = _REPEAT_RE.sub(r"\1", token)  # "hôngggg" → "hông"
        exp = ABBREVIATIONS.get(token)
        if exp is not None:
            return exp
    if token in PROTECTED:
        return (token,)
    canon = _canonical(token)
    if canon is not None:
        exp = ABBREVIATIONS.get(canon)
        return exp if exp is not None else (canon,)
    if not token.isascii() or not token.isalnum():
        return (token,)
    if token.isalpha():
        decoded = _decode_telex(token)
    else:
        m = _NUM_UNIT_RE.fullmatch(token)
        if m is not None:
            unit = NUMBER_UNITS.get(m.group(2))
            return (m.group(1), unit) if unit is not None else (token,)
        if _LICENCE_RE.fullmatch(token) or token[0].isdigit():
            return (token,)
        decoded = _decode_vni(token)
    if decoded is None:
        return (token,)
    exp = ABBREVIATIONS.get(decoded)
    if exp is not None:
        return exp
    canon = _canonical(decoded)
    if canon is None:
        return (token,)
    exp = ABBREVIATIONS.get(canon)
    return exp if exp is not None else (canon,)


def _tokens(text: str) -> list[str]:
    kept: list[str] = []
    boundary_after: list[bool] = []
    pattern = _TOKEN_RE if "." in text or "/" in text else _PLAIN_TOKEN_RE
    for m in pattern.finditer(text):
        kind = m.lastgroup
        value = m.group(0)
        if kind == "stop":
            if boundary_after:
                boundary_after[-1] = True
            continue
        if kind == "url":
            value = value.rstrip(_URL_TRAIL)
            parts: tuple[str, ...] = (value,) if value else ()
        elif kind == "word":
            parts = _word(value)
        else:
            parts = (value,)
        for p in parts:
            kept.append(p)
            boundary_after.append(False)
    if boundary_after:
        boundary_after[-1] = True
    # Regional words that are also ordinary words: only where the context makes the meaning clear.
    for k, tok in enumerate(kept):
        rule = CONTEXTUAL.get(tok)
        if rule is None:
            continue
        repl, after = rule
        if boundary_after[k] or (k > 0 and kept[k - 1] in after):
            kept[k] = repl
    # Syllables typed without diacritics whose particle reading the neighbours rule out ("phai cai" is "phải cài").
    # Clause ends are not looked at: the output, joined without punctuation, must normalise to itself.
    for k, tok in enumerate(kept):
        restore = UNACCENTED.get(tok)
        if restore is None:
            continue
        prev = fold(kept[k - 1]) if k > 0 else ""
        nxt = fold(kept[k + 1]) if k + 1 < len(kept) else ""
        if prev in restore.not_after or nxt in restore.not_before:
            continue
        if prev in restore.after or nxt in restore.before:
            kept[k] = restore.accented
    return kept


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    if not text.isascii():
        text = _repair_mojibake(text)
        text = _repair_legacy(text)
        text = text.translate(_INVISIBLE)
    return unicodedata.normalize("NFC", text.lower())


def _once(text: str) -> list[str]:
    return _tokens(_prepare(text))


def _simple(text: str) -> Normalized:
    # Last resort, should a step ever fail on exotic input: lower case and whitespace only.
    tokens = tuple(unicodedata.normalize("NFC", text).lower().split())
    folded = tuple(fold(t) for t in tokens)
    return Normalized(" ".join(tokens), " ".join(folded), tokens, folded)


_SAFE: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyz0123456789./:-_@?&=%#+~,;!" + "đ" + "".join(VOWEL_TONE)
)


def normalize(text: str) -> Normalized:
    """Normalise a question or FAQ text. Total, idempotent, and the same for NFC and NFD input."""
    if not isinstance(text, str):
        text = str(text)
    try:
        tokens = _once(text)
        for _ in range(4):  # repeat until a fixed point, which makes the function idempotent
            if _SAFE.issuperset("".join(tokens)):
                break  # plain Vietnamese, digits and URL characters: every step maps them to themselves
            again = _once(" ".join(tokens))
            if again == tokens:
                break
            tokens = again
    except Exception:
        return _simple(text)
    toks = tuple(tokens)
    folded = tuple(fold(t) for t in toks)
    return Normalized(" ".join(toks), " ".join(folded), toks, folded)


# Words said around a message without changing it ("VNeID là gì ạ", "cho hỏi quên passcode", "… giúp với",
# "vâng ạ", "cảm ơn cháu"), folded (after normalising, a lone "a" has become "anh"): dropped from the ends when a
# question is compared with the FAQ's own phrases, and from the end of a short reply (handlers/router.py).
POLITE_EDGES: Final = frozenset(
    ["a", "ah", "ak", "ad", "admin", "oi", "vay", "z", "nhi", "nhe", "nha", "ha", "voi", "giup", "cho", "hoi",
     "xin", "em", "chau", "con", "bac", "toi", "minh", "anh", "chi", "chu"]
)


# How a question asks "how do I…" (or where), folded: around a phrase of the FAQ ("quên mật khẩu VNeID phải làm sao",
# "làm thế nào để kích hoạt VNeID", "tải VNeID ở đâu") they ask for that entry's steps, which is what every answer
# gives. Longest first.
HOW_TO_HEADS: Final = (("lam", "the", "nao", "de"), ("lam", "sao", "de"), ("cach", "nao", "de"), ("cach", "de"),
                       ("huong", "dan", "cach"), ("huong", "dan"), ("cach",))
HOW_TO_TAILS: Final = (("phai", "lam", "the", "nao"), ("phai", "lam", "sao"), ("lam", "the", "nao"),
                       ("nhu", "the", "nao"), ("the", "nao"), ("lam", "sao"), ("ra", "sao"), ("o", "dau"))
_HOW_TO_WORDS: Final = frozenset(w for affix in HOW_TO_HEADS + HOW_TO_TAILS for w in affix)


def _says_more(words: Sequence[str]) -> bool:
    """Whether `words` hold more than the wording of "how do I" ("làm thế nào" alone stays as it is)."""
    return any(w not in _HOW_TO_WORDS for w in words)


def phrase_key(folded_tokens: Sequence[str]) -> str:
    """A normalised question or FAQ phrase as the two are compared: its folded words, with polite words and the
    wording of "how do I…" dropped from its ends."""
    words = [w for w in folded_tokens if w.isalnum()]
    start, end = 0, len(words)
    while True:
        before = (start, end)
        while start < end and words[start] in POLITE_EDGES:
            start += 1
        while end > start and words[end - 1] in POLITE_EDGES:
            end -= 1
        for head in HOW_TO_HEADS:
            if tuple(words[start : start + len(head)]) == head and _says_more(words[start + len(head) : end]):
                start += len(head)
                break
        for tail in HOW_TO_TAILS:
            if tuple(words[end - len(tail) : end]) == tail and _says_more(words[start : end - len(tail)]):
                end -= len(tail)
                break
        if (start, end) == before:
            return " ".join(words[start:end])
