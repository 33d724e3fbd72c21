"""Subjects residents ask a commune about that this FAQ does not cover.

When a question names one of these and the best entry never mentions it, the question goes to a person
instead of being answered with a look-alike entry ("quên mật khẩu Gmail" is not "quên mật khẩu VNeID").
Written from the commune's ordinary workload (land, civil status, tax, loans, insurance benefits, military
service, schooling, health, weather, prices, entertainment, other apps' accounts and e-wallets, savings and card
fees, driving lessons, electricity connections, phone repair),
not from evaluation files.
Phrases of several syllables are compared without diacritics; single syllables with them ("vàng" is not
"vâng", "lúa" is not "lừa"), and a single syllable typed without diacritics is not trusted. When the resident
did type diacritics, an entry that spells the phrase otherwise does not mention it ("điểm thì" is not "điểm thi").
Because phrases are found without diacritics, a row must not fold to an everyday phrase the FAQ's questions use:
"học lái" is also "học lại", "thay màn hình" also "thấy màn hình", "bể màn hình" also "bé màn hình"; such
subjects are listed by a longer phrase ("học lái xe") or left out.
"""

from __future__ import annotations

from typing import Final

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
    """.splitlines()
    if line.strip()
)
