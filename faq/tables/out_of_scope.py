"""Subjects residents ask a commune about that this FAQ does not cover.

When a question names one of these and the best entry never mentions it, the question goes to a person
instead of being answered with a look-alike entry ("quên mật khẩu Gmail" is not "quên mật khẩu VNeID").
Written from the commune's ordinary workload (land, civil status, tax, loans, insurance benefits, military
service, schooling, health, weather, prices, entertainment, other apps' accounts and e-wallets, savings and card
fees, driving lessons, electricity connections, phone repair, digital signatures, a bank app's faults, phone
credit, re-issuing vehicle papers, vocational training, updating other apps); no row is copied from an evaluation file.
Phrases of several syllables are compared without diacritics; single syllables with them ("vàng" is not
"vâng", "lúa" is not "lừa"), and a single syllable typed without diacritics is not trusted. When the resident
did type diacritics, an entry that spells the phrase otherwise does not mention it ("điểm thì" is not "điểm thi").
Because phrases are found without diacritics, a row must not fold to an everyday phrase the FAQ's questions use:
"học lái" is also "học lại", "thay màn hình" also "thấy màn hình", "bể màn hình" also "bé màn hình"; such
subjects are listed by a longer phrase ("học lái xe") or left out.
Below the table: rows that a question about VNeID makes the FAQ's again (UNLESS), and subjects the FAQ covers that a
nearby word turns into others (COMPLAINTS: "tiền điện" … "cao quá").
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, NamedTuple

OUT_OF_SCOPE: Final = tuple(
    line.strip()
    for line in """
    hộ chiếu
    thị thực
    visa
    xuất cảnh
    nhập cảnh
    du lịch
    vé máy bay
    sổ đỏ
    sổ hồng
    đất đai
    thửa đất
    quyền sử dụng đất
    thổ cư
    sang tên
    sang nhượng
    chuyển nhượng
    mua bán nhà
    xây nhà
    xây dựng
    sửa nhà
    lấn đất
    lấn chiếm
    tranh chấp
    ranh giới
    kết hôn
    ly hôn
    ly thân
    hôn nhân
    con nuôi
    giám hộ
    thừa kế
    di chúc
    nhận cha con
    tạm vắng
    thuế
    mã số thuế
    hóa đơn điện tử
    kinh doanh
    doanh nghiệp
    giấy phép kinh doanh
    vay
    vay vốn
    lãi suất
    thế chấp
    trả góp
    thất nghiệp
    thai sản
    ốm đau
    tai nạn lao động
    bảo hiểm một lần
    rút bảo hiểm
    về hưu
    nghỉ hưu
    nghĩa vụ quân sự
    nhập ngũ
    khám tuyển
    tuyển sinh
    nhập học
    học bạ
    điểm thi
    thi tốt nghiệp
    học bổng
    tuyển dụng
    việc làm
    tiêm chủng
    vắc xin
    sốt
    thuốc
    bệnh viện
    khám thai
    thời tiết
    mưa
    bão
    lũ
    nắng
    nhiệt độ
    xổ số
    xsmn
    xsmb
    xsmt
    vietlott
    lô đề
    bóng đá
    đá banh
    tỉ số
    chuyện cười
    karaoke
    ca nhạc
    phim
    giá vàng
    vàng
    giá lúa
    lúa
    giá xăng
    xăng
    giá heo
    tỷ giá
    chứng khoán
    tiền ảo
    gmail
    mật khẩu gmail
    mật khẩu facebook
    mật khẩu zalo
    mật khẩu email
    mật khẩu vssid
    nick facebook
    nick zalo
    lấy lại nick
    bị hack
    bằng lái quốc tế
    giấy phép lái xe quốc tế
    icloud
    apple id
    instagram
    tiktok
    youtube
    đăng hình
    đăng ảnh
    biển số
    đấu giá
    đăng kiểm
    cúp điện
    cắt điện
    mất điện
    cúp nước
    mất nước
    hàng xóm
    tiếng ồn
    khiếu nại
    tố cáo
    hòa giải
    kiện
    thưa kiện
    ly dị
    phân bón
    chăn nuôi
    trồng trọt
    mua điện thoại
    nên mua
    momo
    zalopay
    shopeepay
    viettel money
    gửi tiết kiệm
    sổ tiết kiệm
    phí thường niên
    nuốt thẻ
    bảo hiểm nhân thọ
    lịch khám
    học lái xe
    thi bằng lái
    trường dạy lái
    trích lục
    bản sao khai sinh
    bản sao giấy khai sinh
    lắp điện
    cấp điện mới
    công tơ điện
    chụp màn hình
    màn hình bị vỡ
    sửa điện thoại
    hao pin
    nóng máy
    bị rơi vỡ
    rớt bể
    màn hình bị nứt
    màn hình bị sọc
    trừ tiền điện thoại
    trừ tiền vô cớ
    dịch vụ giá trị gia tăng
    ngân hàng bị lỗi
    ngân hàng lỗi
    chữ ký số cá nhân
    mua chữ ký số
    đăng ký chữ ký số
    gia hạn chữ ký số
    usb token
    bảo hiểm y tế miễn phí
    bảo hiểm y tế cho người nghèo
    bảo hiểm y tế hộ nghèo
    bảo hiểm y tế cho hộ nghèo
    làm lại giấy đăng ký xe
    cấp lại giấy đăng ký xe
    làm lại đăng ký xe
    cấp lại đăng ký xe
    xe mới mua
    xe máy mới mua
    ô tô mới mua
    mới mua xe
    dạy nghề
    học nghề
    cập nhật zalo
    update zalo
    nâng cấp zalo
    cập nhật facebook
    update facebook
    """.splitlines()
    if line.strip()
)

# Rows whose subject the FAQ does cover once the question is about VNeID, the bank app or a scam: registering a
# newly bought motorbike or re-issuing its lost papers is the traffic police's business, but integrating the
# registration into the VNeID wallet is in the FAQ; updating Zalo is not, but an update of VNeID whose link came by
# Zalo is, and so is a link that claims to update Zalo; repairing a phone is not, but logging in to VNeID when the
# old phone's screen is broken is; a fault of the bank app is not, but one the resident ties to a cause the FAQ
# explains (face check, expired ID card, locked account) is. When the question also holds one of these phrases
# (compared without diacritics), the row does not name another subject.
ABOUT_VNEID: Final = ("vneid", "định danh", "tích hợp", "ví giấy tờ")
ABOUT_APPS: Final = (*ABOUT_VNEID, "ngân hàng")
ABOUT_SCAM: Final = ("link", "lừa đảo")
ABOUT_BANK_APP: Final = ("sinh trắc", "khuôn mặt", "quét mặt", "căn cước", "giấy tờ", "nfc", "chip", "mật khẩu",
                         "passcode", "otp", "bị khóa", "hết hạn", "hạn mức")
_BROKEN_PHONE: Final = ("màn hình bị vỡ", "bị rơi vỡ", "rớt bể", "màn hình bị nứt", "màn hình bị sọc")
UNLESS: Final = MappingProxyType(
    {
        **{row: ABOUT_APPS for row in _BROKEN_PHONE},
        **{row: ABOUT_BANK_APP for row in ("ngân hàng bị lỗi", "ngân hàng lỗi")},
        # who gets free health insurance is policy; the card in the VNeID wallet is the FAQ's
        **{row: ABOUT_VNEID for row in ("bảo hiểm y tế miễn phí", "bảo hiểm y tế cho người nghèo",
                                        "bảo hiểm y tế hộ nghèo", "bảo hiểm y tế cho hộ nghèo")},
        **{
            row: ABOUT_VNEID
            for row in (
                "làm lại giấy đăng ký xe",
                "cấp lại giấy đăng ký xe",
                "làm lại đăng ký xe",
                "cấp lại đăng ký xe",
                "xe mới mua",
                "xe máy mới mua",
                "ô tô mới mua",
                "mới mua xe",
            )
        },
        **{
            row: (*ABOUT_VNEID, *ABOUT_SCAM)
            for row in ("cập nhật zalo", "update zalo", "nâng cấp zalo", "cập nhật facebook", "update facebook")
        },
    }
)


class Complaint(NamedTuple):
    """A subject the FAQ covers (paying the electricity bill) that a nearby word turns into one it does not (why the
    bill is so high): "tiền điện tháng này sao cao quá". The word must come within COMPLAINT_GAP words of the
    subject, before or after it, so that "đóng tiền điện qua app ngân hàng có mất phí cao quá không" keeps its
    entries. The entry must mention both to keep its place. A single syllable with diacritics counts only when typed
    with them ("vỡ" typed "vo" is also "vô", as in "vô màn hình"); a phrase of several is compared without them,
    unless the resident typed them, so the phrases must not fold to everyday ones ("tăng quá" is also "tặng quà")."""

    subject: tuple[str, ...]  # phrases, compared without diacritics
    words: tuple[str, ...]  # syllables or phrases
    unless: tuple[str, ...] = ()  # as in UNLESS


COMPLAINT_GAP: Final = 4
COMPLAINTS: Final = (
    # the bill itself: a high or wrong reading is for the power or water company ("cao tuổi", "phí cao" are not)
    # (but how to pay it, asked in the same breath, is the FAQ's: "tiền điện cao quá, thanh toán qua app được không")
    Complaint(
        ("tiền điện", "hóa đơn điện", "tiền nước", "hóa đơn nước"),
        ("cao quá", "cao vậy", "cao thế", "cao bất thường", "tăng vọt", "tăng gấp", "tăng cao", "mắc quá", "đắt quá",
         "tính sai", "tính dư"),
        ("thanh toán", "qua app", "ngân hàng", "ví điện tử", "chuyển khoản", "dịch vụ công", *ABOUT_VNEID),
    ),
    # a broken phone is for a repair shop, unless the question is about an app on it
    Complaint(("màn hình",), ("vỡ", "bể", "nứt", "sọc"), ABOUT_APPS),
)
