"""Vietnamese syllable structure: initials, rhymes and the toned vowel letters.

The normaliser uses these to decide whether a token is already a real syllable (and must be left alone) or
a keystroke sequence (Telex/VNI) or legacy-encoded text that decodes into one.
"""

from __future__ import annotations

import unicodedata
from types import MappingProxyType
from typing import Final

# Tone numbers: 0 ngang, 1 sắc, 2 huyền, 3 hỏi, 4 ngã, 5 nặng.
TONE_COMBINING: Final = ("", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323")

# Vowel letters without tone (quality marks kept: ă â ê ô ơ ư).
BASE_VOWELS: Final = "aăâeêioôơuưy"
MODIFIED_VOWELS: Final = frozenset("ăâêôơư")


def _build_tone_tables() -> tuple[dict[str, tuple[str, int]], dict[tuple[str, int], str]]:
    split: dict[str, tuple[str, int]] = {}
    join: dict[tuple[str, int], str] = {}
    for base in BASE_VOWELS:
        for tone, mark in enumerate(TONE_COMBINING):
            ch = unicodedata.normalize("NFC", base + mark)
            split[ch] = (base, tone)
            join[(base, tone)] = ch
    return split, join


_SPLIT, _JOIN = _build_tone_tables()
# toned (or plain) vowel -> (vowel without tone, tone number)
VOWEL_TONE: Final = MappingProxyType(_SPLIT)
# (vowel without tone, tone number) -> precomposed vowel
TONED_VOWEL: Final = MappingProxyType(_JOIN)

INITIALS: Final = (
    "ngh", "ng", "nh", "ph", "th", "tr", "ch", "kh", "gh", "gi", "qu",
    "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "",
)

_OPEN_RHYMES = (
    "a e ê i o ô ơ u ư y ai ao au ay âu ây eo êu ia iu oa oe oi ôi ơi ua uê ui uơ uy ưa ưi ưu "
    "iêu yêu oai oay oeo uây uôi ươi ươu uya uyu"
)
_CLOSED_RHYMES = (
    "ac ach am an ang anh ap at ăc ăm ăn ăng ăp ăt âc âm ân âng âp ât ec em en eng ep et "
    "êch êm ên ênh êp êt ich im in inh ip it oc om on ong op ot ôc ôm ôn ông ôp ôt "
    "ơm ơn ơp ơt uc um un ung up ut ưc ưm ưn ưng ưt iêc iêm iên iêng iêp iêt yêm yên yêng yêt "
    "oac oach oam oan oang oanh oap oat oăc oăm oăn oăng oăt oem oen oeng oet uân uâng uât "
    "uêch uênh uôc uôm uôn uông uôt ươc ươm ươn ương ươp ươt uych uynh uyt uyên uyêt"
)
RHYMES: Final = frozenset((_OPEN_RHYMES + " " + _CLOSED_RHYMES).split())
# After "qu" the glide u belongs to the initial: quân = qu + ân, quyết = qu + yêt, quỳnh = qu + ynh.
QU_RHYMES: Final = frozenset(
    {r for r in RHYMES if r[0] not in "uưo"} | {r[1:] for r in RHYMES if r[0] == "u" and len(r) > 1}
)
# After "gi" the i is part of the initial: giếng = gi + êng.
GI_RHYMES: Final = frozenset({r for r in RHYMES if r[0] != "i"} | {"êng", "êt", "êc", "êm", "ên", "êp", "êu"})
STOP_FINALS: Final = ("ch", "c", "p", "t")
FRONT: Final = frozenset("ieêy")


def _build_valid() -> frozenset[str]:
    out: set[str] = set()
    for ini in INITIALS:
        if ini == "qu":
            rhymes = QU_RHYMES
        elif ini == "gi":
            rhymes = GI_RHYMES
        else:
            rhymes = RHYMES
        for r in rhymes:
            front = r[0] in FRONT
            # Spelling rules keep nonsense out: k/gh/ngh only before front vowels, c/ng never before them.
            if ini in ("k", "gh", "ngh") and not front:
                continue
            if ini in ("c", "ng") and front:
                continue
            out.add(ini + r)
    return frozenset(out)


# Every well-formed syllable without its tone, e.g. "nguyên", "đươc", "quy".
VALID_TONELESS: Final = _build_valid()
