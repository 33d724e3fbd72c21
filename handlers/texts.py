"""What the assistant says, in one place (faq/STYLE.md). `{term}` is the commune's term of address."""

from __future__ import annotations

GREETING = (
    "Xin chào {term}! Tôi là Trợ lý số của {commune}.\n"
    "Tôi giúp {term} về VNeID, dịch vụ công trực tuyến và thanh toán không tiền mặt.\n"
    "{Term} có thể gõ câu hỏi (có dấu hay không dấu đều được), hoặc chọn một mục dưới đây: "
    "VNeID · Dịch vụ công · Thanh toán không tiền mặt · Kỹ năng số · Gặp người hỗ trợ."
)
HELP = (
    "**Cách dùng Trợ lý số**\n"
    "• Gõ câu hỏi bằng lời của {term}, ví dụ: \"quên mật khẩu VNeID\".\n"
    "• Gõ \"menu\" để xem các mục hỏi đáp.\n"
    "• Gõ \"gặp người hỗ trợ\" để nói chuyện với tình nguyện viên.\n"
    "• Gõ \"đăng ký nhận tin\" để nhận thông báo của {commune}; gõ /huy để ngừng.\n"
    "• Gõ /xoadulieu để xoá dữ liệu của {term}.\n"
    "⚠️ Không bao giờ gửi mã OTP, mật khẩu cho bất kỳ ai, kể cả cán bộ."
)
# Button titles fit Zalo's 20 characters; the greeting names each domain in full.
MENU_LABELS = {
    "vneid": "VNeID",
    "dvc": "Dịch vụ công",
    "payment": "Không dùng tiền mặt",
    "digital-skills": "Kỹ năng số",
}
MENU_PROMPT = "{Term} muốn hỏi về việc gì?"
DOMAIN_PROMPT = "**{title}**\n{Term} chọn một câu hỏi dưới đây, hoặc gõ câu hỏi của mình:"
MORE = "Xem thêm"
BACK_TO_MENU = "Về menu chính"
HUMAN = "Gặp người hỗ trợ"

FEEDBACK_QUESTION = "Thông tin này có giúp được {term} không?"
FEEDBACK_THANKS = "Cảm ơn {term} đã cho biết!"
FEEDBACK_SORRY = (
    "Xin lỗi vì câu trả lời chưa giúp được {term}. {Term} có muốn nói chuyện với tình nguyện viên "
    "của Tổ công nghệ số cộng đồng không?"
)
CLARIFY = "{Term} muốn hỏi về việc nào dưới đây?"
NOT_THESE = "Không phải, tôi cần người hỗ trợ"
NOT_SURE = (
    "Xin lỗi, tôi chưa tìm được câu trả lời chắc chắn cho câu hỏi này.\n"
    "{Term} có muốn chuyển câu hỏi cho tình nguyện viên của Tổ công nghệ số cộng đồng không? "
    "Hoặc {term} có thể gõ lại câu hỏi theo cách khác."
)
SOURCE_LINE = "Nguồn: {title} (kiểm tra {checked})."

HANDOFF_IN_HOURS = (
    "Tôi đã chuyển câu hỏi cho Tổ công nghệ số cộng đồng. Một tình nguyện viên sẽ trả lời {term} "
    "trong khoảng {minutes} phút, ngay tại cuộc trò chuyện này.\n"
    "Trong lúc chờ, {term} cứ nhắn thêm nếu cần, tin nhắn sẽ được chuyển đến tình nguyện viên."
)
HANDOFF_OUT_OF_HOURS = (
    "Tôi đã lưu câu hỏi và chuyển cho Tổ công nghệ số cộng đồng. Bây giờ là ngoài giờ trực "
    "({hours}), nên tình nguyện viên sẽ trả lời {term} {back}, ngay tại cuộc trò chuyện này."
)
TICKET_WAITING = (
    "Câu hỏi của {term} đang chờ tình nguyện viên trả lời. Tin nhắn này đã được lưu và sẽ được chuyển đến "
    "tình nguyện viên."
)

SUBSCRIBE_PROMPT = "{Term} ở thôn/tổ dân phố nào? Chọn để nhận thông báo của {commune} cho nơi mình ở:"
SUBSCRIBED = (
    "Đã đăng ký! {Term} sẽ nhận thông báo của {commune} cho {area}.\n"
    "Gõ /huy bất cứ lúc nào để ngừng nhận."
)
ALREADY_SUBSCRIBED = "{Term} đã đăng ký nhận thông báo cho {area} rồi. Gõ /huy để ngừng nhận."
UNSUBSCRIBED = "Đã huỷ đăng ký. {Term} sẽ không nhận thông báo nữa. Gõ \"đăng ký nhận tin\" nếu muốn nhận lại."
NOT_SUBSCRIBED = "{Term} chưa đăng ký nhận thông báo nào. Gõ \"đăng ký nhận tin\" nếu muốn nhận."

ERASE_CONFIRM = (
    "{Term} có chắc muốn xoá toàn bộ dữ liệu của mình không? Lịch sử trò chuyện, đăng ký nhận tin và câu hỏi "
    "đang chờ sẽ bị xoá và không khôi phục được."
)
ERASE_YES = "Xoá dữ liệu của tôi"
ERASE_NO = "Không xoá"
ERASED = "Đã xoá toàn bộ dữ liệu của {term}. Nếu cần hỏi gì, {term} cứ nhắn, tôi luôn sẵn sàng."
ERASE_KEPT = "Dữ liệu của {term} được giữ nguyên."

MEDIA = {
    "photo": "Tôi chưa xem được hình ảnh.",
    "sticker": "Tôi chưa hiểu được nhãn dán (sticker).",
    "voice": "Tôi chưa nghe được tin nhắn thoại.",
    "video": "Tôi chưa xem được video.",
    "file": "Tôi chưa mở được tệp đính kèm.",
    "location": "Tôi chưa đọc được vị trí.",
}
MEDIA_DEFAULT = "Tôi chưa đọc được loại tin nhắn này."
MEDIA_HINT = (
    " {Term} vui lòng gõ câu hỏi bằng chữ (có dấu hay không dấu đều được), hoặc gõ \"gặp người hỗ trợ\" "
    "để nói chuyện với tình nguyện viên."
)
SECRET_WARNING = (
    "⚠️ Tin nhắn của {term} có vẻ chứa {what}. Tôi đã che thông tin đó lại và không lưu.\n"
    "Không bao giờ gửi mã OTP, mật khẩu cho bất kỳ ai, kể cả cán bộ."
)
SECRET_NAMES = {
    "otp": "mã OTP",
    "password": "mật khẩu",
    "id_number": "số định danh cá nhân",
    "card": "số thẻ ngân hàng",
    "account": "số tài khoản",
}
ERROR = (
    "Xin lỗi, trợ lý đang gặp trục trặc. {Term} vui lòng thử lại sau ít phút hoặc gõ 'gặp người hỗ trợ'."
)
EMPTY = "{Term} gõ câu hỏi giúp tôi nhé, ví dụ: \"cách lấy lại mật khẩu VNeID\"."
TOO_LONG = "Tin nhắn hơi dài, tôi chỉ đọc {limit} ký tự đầu. {Term} có thể hỏi ngắn gọn hơn được không?"
