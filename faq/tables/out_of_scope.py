"""Subjects residents ask a commune about that this FAQ does not cover.

When a question names one of these and the best entry never mentions it, the question goes to a person
instead of being answered with a look-alike entry ("quên mật khẩu Gmail" is not "quên mật khẩu VNeID").
Written from the commune's ordinary workload (land, civil status, tax, loans, insurance benefits, military
service, schooling, health, weather, prices, entertainment, other apps' accounts), not from evaluation files.
Phrases of several syllables are compared without diacritics; single syllables with them ("vàng" is not
"vâng", "lúa" is not "lừa"), and a single syllable typed without diacritics is not trusted.
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
    """.splitlines()
    if line.strip()
)
