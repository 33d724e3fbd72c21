"""Legacy Vietnamese 8-bit encodings (TCVN3/ABC, VNI-Windows) and the byte view used to undo mojibake.

Text pasted from a document typed in a legacy font arrives as Latin-1 look-alikes ("Céng hoµ", "Coäng
hoøa"); text whose UTF-8 bytes were read as Windows-1252 arrives as "Ä‘Äƒng kÃ½". These tables let the
normaliser turn both back into Unicode.
"""

from __future__ import annotations

import contextlib
from types import MappingProxyType
from typing import Final

# TCVN 5712:1993 (VN3, the ".VnTime" fonts). Upper-case toned letters share the lower-case codes (the
# ".VnTimeH" fonts draw them as capitals), so decoding yields lower case, which is all we need.
_TCVN3_PAIRS = (
    "\xa1Ă \xa2Â \xa3Ê \xa4Ô \xa5Ơ \xa6Ư \xa7Đ \xa8ă \xa9â \xaaê \xabô \xacơ \xadư \xaeđ "
    "\xb5à \xb6ả \xb7ã \xb8á \xb9ạ \xbbằ \xbcẳ \xbdẵ \xbeắ \xc6ặ \xc7ầ \xc8ẩ \xc9ẫ \xcaấ \xcbậ "
    "\xccè \xceẻ \xcfẽ \xd0é \xd1ẹ \xd2ề \xd3ể \xd4ễ \xd5ế \xd6ệ \xd7ì \xd8ỉ \xdcĩ \xddí \xdeị "
    "\xdfò \xe1ỏ \xe2õ \xe3ó \xe4ọ \xe5ồ \xe6ổ \xe7ỗ \xe8ố \xe9ộ \xeaờ \xebở \xecỡ \xedớ \xeeợ "
    "\xefù \xf1ủ \xf2ũ \xf3ú \xf4ụ \xf5ừ \xf6ử \xf7ữ \xf8ứ \xf9ự \xfaỳ \xfbỷ \xfcỹ \xfdý \xfeỵ"
)
TCVN3: Final = MappingProxyType({p[0]: p[1] for p in _TCVN3_PAIRS.split()})
# Characters that appear in TCVN3 text but never in Unicode Vietnamese: their presence makes decoding
# worth trying.
TCVN3_SIGNAL: Final = frozenset(c for c in TCVN3 if c not in "àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")

# VNI-Windows writes a base letter followed by a mark character.
VNI_TONE_MARKS: Final = MappingProxyType(
    {"ù": 1, "ø": 2, "û": 3, "õ": 4, "ï": 5, "Ù": 1, "Ø": 2, "Û": 3, "Õ": 4, "Ï": 5}
)
# circumflex (for a, e, o) with a tone
VNI_HAT_MARKS: Final = MappingProxyType(
    {"â": 0, "á": 1, "à": 2, "å": 3, "ã": 4, "ä": 5, "Â": 0, "Á": 1, "À": 2, "Å": 3, "Ã": 4, "Ä": 5}
)
# breve (for a) with a tone
VNI_BREVE_MARKS: Final = MappingProxyType(
    {"ê": 0, "é": 1, "è": 2, "ú": 3, "ü": 4, "ë": 5, "Ê": 0, "É": 1, "È": 2, "Ú": 3, "Ü": 4, "Ë": 5}
)
# Letters that stand alone in VNI-Windows.
VNI_SINGLE: Final = MappingProxyType(
    {
        "ô": "ơ", "Ô": "Ơ", "ö": "ư", "Ö": "Ư", "ñ": "đ", "Ñ": "Đ",
        "æ": "ỉ", "Æ": "Ỉ", "ó": "ĩ", "Ó": "Ĩ", "ò": "ị", "Ò": "Ị", "î": "ỵ", "Î": "Ỵ",
    }
)
VNI_SIGNAL: Final = frozenset("øïåäëüæîöñØÏÅÄËÜÆÎÖÑ")


def _byte_view() -> dict[str, int]:
    # Each character a UTF-8 byte can turn into when read as Windows-1252 or Latin-1.
    view: dict[str, int] = {}
    for b in range(0x80, 0x100):
        view[chr(b)] = b  # Latin-1 (and the C1 controls cp1252 leaves undefined)
        with contextlib.suppress(UnicodeDecodeError):  # five bytes cp1252 leaves undefined
            view[bytes([b]).decode("cp1252")] = b
    return view


MOJIBAKE_BYTE: Final = MappingProxyType(_byte_view())
