"""Our own abbreviation and regional-word table (it wins over any general chat-slang list).

Keys are lower-case NFC tokens exactly as residents type them (both "dk" and "đk" are listed, so the folded
form of the expansion is the same whichever they typed). Values are in the normaliser's canonical spelling
(one tone placement, "y" in lý/kỹ), which a test checks.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

_ABBREVIATIONS: dict[str, str] = {
    # negation and particles
    "ko": "không", "k": "không", "kg": "không", "kh": "không", "khg": "không", "hok": "không",
    "hk": "không", "hem": "không", "hơm": "không", "hông": "không", "hổng": "không", "hong": "không",
    "khum": "không", "khôg": "không", "khog": "không",
    "dc": "được", "đc": "được", "dk": "đăng ký", "đk": "đăng ký", "dky": "đăng ký", "đky": "đăng ký",
    "j": "gì", "ji": "gì", "r": "rồi", "z": "vậy", "v": "vậy", "dzậy": "vậy", "dậy": "vậy", "zậy": "vậy",
    "dzị": "vậy", "zị": "vậy", "vại": "vậy", "s": "sao", "ntn": "như thế nào",
    "bn": "bao nhiêu", "bnhiu": "bao nhiêu", "nhiu": "nhiêu", "vs": "với", "cx": "cũng", "cg": "cũng",
    "ms": "mới", "mn": "mọi người", "mng": "mọi người", "ng": "người", "lm": "làm", "bít": "biết",
    "bik": "biết", "wa": "quá", "wá": "quá", "qá": "quá", "trc": "trước", "ns": "nói", "h": "giờ",
    "hnay": "hôm nay", "hqua": "hôm qua", "nhg": "những", "ad": "admin", "e": "em", "a": "anh",
    "c": "chị", "đt": "điện thoại", "dt": "điện thoại", "đth": "điện thoại", "dth": "điện thoại",
    "tgian": "thời gian", "tg": "thời gian", "ttin": "thông tin", "kq": "kết quả", "nv": "nhân viên",
    "vd": "ví dụ", "cty": "công ty", "dthoai": "điện thoại", "đthoai": "điện thoại",
    # domain abbreviations
    "tk": "tài khoản", "mk": "mật khẩu", "sdt": "số điện thoại", "sđt": "số điện thoại",
    "cccd": "căn cước", "cmnd": "chứng minh nhân dân", "cmt": "chứng minh nhân dân",
    "dvc": "dịch vụ công", "dvcqg": "dịch vụ công quốc gia", "bhyt": "bảo hiểm y tế",
    "bhxh": "bảo hiểm xã hội", "bh": "bảo hiểm", "gplx": "giấy phép lái xe", "lltp": "lý lịch tư pháp",
    "stk": "số tài khoản", "ck": "chuyển khoản", "hs": "hồ sơ", "ks": "khai sinh", "gđ": "gia đình",
    "gd": "gia đình", "nh": "ngân hàng", "csgt": "cảnh sát giao thông", "ubnd": "ủy ban nhân dân",
    "tthc": "thủ tục hành chính", "kd": "kinh doanh", "bdhvs": "bình dân học vụ số",
    "cnsc": "công nghệ số cộng đồng", "cnscd": "công nghệ số cộng đồng", "cnscđ": "công nghệ số cộng đồng",
    "cskh": "chăm sóc khách hàng", "ddcn": "định danh cá nhân",
    "đdcn": "định danh cá nhân", "đddt": "định danh điện tử", "dddt": "định danh điện tử",
    "nvqs": "nghĩa vụ quân sự", "xkld": "xuất khẩu lao động", "xklđ": "xuất khẩu lao động",
    # regional words that are unambiguous in residents' questions
    "mần": "làm", "rứa": "vậy", "chừ": "giờ", "bựa": "bữa", "nớ": "đó", "tui": "tôi", "vô": "vào",
    "dìa": "về", "lẹ": "nhanh", "hổm": "hôm", "xài": "dùng", "xai": "dùng", "coi": "xem",
}
ABBREVIATIONS: Final = MappingProxyType({k: tuple(v.split()) for k, v in _ABBREVIATIONS.items()})

# Regional words that are also ordinary words ("chi phí", "đau răng", "mô tả"): replaced only at the end of
# a clause or after one of the listed words ("làm chi", "tới mô").
CONTEXTUAL: Final = MappingProxyType(
    {
        "chi": ("gì", frozenset({"làm", "cái", "vì", "để", "là", "hỏi"})),
        "răng": ("sao", frozenset({"làm", "tại", "vì", "ra", "là", "thế"})),
        "mô": ("đâu", frozenset({"ở", "tới", "đi", "chỗ", "nơi", "về", "đến", "vào", "bên"})),
        "ni": ("này", frozenset({"bữa", "hôm", "cái", "chỗ", "ở", "như", "vậy", "người", "đứa", "chừ", "giờ"})),
        "tê": ("kia", frozenset({"bên", "chỗ", "hôm", "cái", "đằng", "bữa"})),
        # "gõ lộn số" is "gõ nhầm số"; "lộn xộn" stays.
        "lộn": ("nhầm", frozenset({"gõ", "chuyển", "bấm", "nhập", "ghi", "đánh", "nhắn", "gửi", "khoản", "tiền", "số"})),
    }
)

# Number followed by a unit letter: "19tr", "400k", "10t".
NUMBER_UNITS: Final = MappingProxyType(
    {"tr": "triệu", "k": "nghìn", "ng": "nghìn", "t": "tuổi", "đ": "đồng", "d": "đồng", "trieu": "triệu"}
)

# Tokens that are never decoded as keystrokes even when they would make a syllable ("bus" -> "bú").
PROTECTED: Final = frozenset(
    """app apps otp vneid zalo momo vssid facebook fb gmail google email wifi nfc qr sms sim atm online web
    website link pass password ok oke okay bank banking ibanking vietqr vnpay viettel vinaphone mobifone apk
    ios android iphone samsung oppo xiaomi video file photo camera code pin mail chip id bus gas taxi grab
    shopee tiktok youtube internet data smartphone ekyc pos chplay store play update login reset admin bot
    hack nick acc max box tax fax mix six yes bar car star share user server viber zoom free face faceid
    touchid ipad tablet laptop email tivi tv vietinbank vietcombank agribank bidv techcombank mbbank tpbank
    vpbank sacombank acb shb hdbank ocb msb vib seabank lpbank scb napas visa mastercard jcb evn sawaco
    vnpt fpt mobile sos hotline""".split()
)
