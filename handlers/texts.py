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
    "• Gõ \"gặp người hỗ trợ\" để nói chuyện với tình nguyện viên; gõ \"huỷ yêu cầu\" nếu không cần nữa.\n"
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
YOU_ARE_WELCOME = "Dạ, không có gì ạ. Khi cần, {term} cứ nhắn cho tôi."
ACKNOWLEDGED = "Dạ. {Term} cần hỏi gì cứ gõ, hoặc chọn một mục dưới đây:"
OFFER_DECLINED = "Dạ vâng. {Term} cứ gõ câu hỏi khác, hoặc gõ \"gặp người hỗ trợ\" khi cần."
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
    "Tôi đã báo Tổ công nghệ số cộng đồng. Một tình nguyện viên sẽ trả lời {term} "
    "trong khoảng {minutes} phút, ngay tại cuộc trò chuyện này.\n"
    "Trong lúc chờ, {term} cứ nhắn thêm nếu cần, tin nhắn sẽ được chuyển đến tình nguyện viên. "
    "Không cần nữa thì {term} bấm \"Huỷ yêu cầu\"."
)
HANDOFF_OUT_OF_HOURS = (
    "Tôi đã báo Tổ công nghệ số cộng đồng. Bây giờ là ngoài giờ trực "
    "({hours}), nên tình nguyện viên sẽ trả lời {term} {back}, ngay tại cuộc trò chuyện này. "
    "Không cần nữa thì {term} bấm \"Huỷ yêu cầu\"."
)
TICKET_WAITING = (
    "Câu hỏi của {term} đang chờ tình nguyện viên trả lời. Tôi sẽ chuyển tin nhắn này đến tình nguyện viên."
)
CANCEL_REQUEST = "Huỷ yêu cầu"
REQUEST_CANCELLED = (
    "Dạ, tôi đã huỷ yêu cầu gặp người hỗ trợ. Khi cần, {term} cứ gõ câu hỏi hoặc bấm \"Gặp người hỗ trợ\"."
)
NO_REQUEST = "{Term} không có yêu cầu nào đang chờ người hỗ trợ. {Term} muốn hỏi về việc gì?"

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
    "audio": "Tôi chưa nghe được tệp âm thanh.",
    "contact": "Tôi chưa đọc được danh bạ gửi kèm.",
    "gif": "Tôi chưa xem được ảnh động.",
    "poll": "Tôi chưa đọc được cuộc bình chọn.",
    "dice": "Tôi chưa hiểu được biểu tượng này.",
    "link": "Tôi chưa mở được đường link.",
}
MEDIA_DEFAULT = "Tôi chưa đọc được loại tin nhắn này."
# What the volunteer is told the resident sent (the keys of MEDIA).
MEDIA_NAMES = {
    "photo": "một hình ảnh", "sticker": "một nhãn dán", "voice": "một tin nhắn thoại", "video": "một video",
    "file": "một tệp đính kèm", "location": "vị trí", "audio": "một tệp âm thanh", "contact": "một danh bạ",
    "gif": "một ảnh động", "poll": "một cuộc bình chọn", "dice": "một biểu tượng", "link": "một đường link",
}
MEDIA_NAME_DEFAULT = "một loại tin nhắn khác"
MEDIA_HINT = (
    " {Term} vui lòng gõ câu hỏi bằng chữ (có dấu hay không dấu đều được), hoặc gõ \"gặp người hỗ trợ\" "
    "để nói chuyện với tình nguyện viên."
)
SECRET_WARNING = (
    "⚠️ Tin nhắn của {term} có vẻ chứa {what}. Tôi đã che thông tin đó lại và không lưu.\n"
    "Không bao giờ gửi mã OTP, mật khẩu cho bất kỳ ai, kể cả cán bộ."
)
SECRET_NAMES = {
    "otp": "mã OTP hoặc mã PIN",
    "password": "mật khẩu",
    "id_number": "số định danh cá nhân",
    "card": "số thẻ ngân hàng",
    "account": "số tài khoản",
}
ERROR = (
    "Xin lỗi, trợ lý đang gặp trục trặc. {Term} vui lòng thử lại sau ít phút hoặc gõ 'gặp người hỗ trợ'."
)
EMPTY = "{Term} gõ câu hỏi giúp tôi nhé, ví dụ: \"cách lấy lại mật khẩu VNeID\"."
NO_WORDS = (
    "Tôi chỉ hiểu được câu hỏi bằng chữ. {Term} gõ câu hỏi giúp tôi, ví dụ: \"quên mật khẩu VNeID\", "
    "hoặc chọn một mục dưới đây:"
)
TOO_LONG = "Tin nhắn hơi dài, tôi chỉ đọc {limit} ký tự đầu. {Term} có thể hỏi ngắn gọn hơn được không?"

# ---- volunteers ------------------------------------------------------------------------------------------------
CLAIM = "Nhận hỗ trợ"
TICKET_POST = (
    "**Phiếu #{id}** · {channel} · {reason}\n"
    "{summary}\n\n"
    "Bấm \"Nhận hỗ trợ\" để trả lời người dân qua chat riêng với bot."
)
TICKET_POST_AGAIN = "🔔 Nhắc lại: phiếu #{id} vẫn chưa có ai nhận ({minutes} phút)."
TICKET_POST_CLAIMED = "**Phiếu #{id}** · {channel} · {reason}\nĐã được {owner} nhận lúc {time}."
TICKET_POST_CLOSED = "**Phiếu #{id}** · đã xong ({owner})."
TICKET_POST_ERASED = "**Phiếu #{id}** · đã đóng: người dân đã xoá dữ liệu của mình."
TICKET_POST_CANCELLED = "**Phiếu #{id}** · đã đóng: người dân báo không cần hỗ trợ nữa."
TICKET_CANCELLED_VOLUNTEER = (
    "Phiếu #{id} đã đóng: người dân báo không cần hỗ trợ nữa, tin anh/chị gõ không còn được chuyển đi."
)
TICKET_ERASED_VOLUNTEER = "Phiếu #{id} đã đóng: người dân đã xoá dữ liệu của mình, tin anh/chị gõ không còn được chuyển đi."
CLAIMED_YOU = (
    "Anh/chị đã nhận phiếu #{id}. Tin anh/chị gõ ở đây sẽ được chuyển đến người dân.\n"
    "Lệnh: /xong khi đã giải quyết · /tra để trả lại phiếu · /chuyen để chuyển cán bộ · "
    "/dexuat để đề xuất câu trả lời thành câu hỏi thường gặp.\n\n"
    "Nội dung trước đó (đã che thông tin bí mật):\n{summary}"
)
CLAIMED_BY_OTHER = "Phiếu #{id} đã được {owner} nhận rồi. Cảm ơn anh/chị!"
ANOTHER_HELPER = "một thành viên khác của Tổ"
CLAIM_NOT_ALLOWED = (
    "Chỉ tình nguyện viên đã được cấp quyền mới nhận được phiếu. Anh/chị liên hệ cán bộ xã/phường để được cấp quyền."
)
TICKET_GONE = "Phiếu #{id} không còn mở."
RESIDENT_CONNECTED = "Tình nguyện viên {name} của Tổ công nghệ số cộng đồng đã nhận câu hỏi và sẽ trả lời {term} ngay tại đây."
FROM_VOLUNTEER = "**Tình nguyện viên {name}:** {text}"
FROM_RESIDENT = "**Người dân (phiếu #{id}):** {text}"
RESIDENT_SENT_MEDIA = "(người dân gửi {media}; trợ lý chưa chuyển được loại tin này, anh/chị nhờ họ gõ chữ)"
NO_TICKET = (
    "Anh/chị chưa nhận phiếu nào. Phiếu đang chờ được đăng trong nhóm tình nguyện viên; gõ /phieu để xem danh sách."
)
WAITING_LIST = "Phiếu đang chờ:\n{lines}"
WAITING_NONE = "Hiện không có phiếu nào đang chờ."
CLOSED_VOLUNTEER = "Đã đóng phiếu #{id}. Cảm ơn anh/chị!"
CLOSED_RESIDENT = (
    "Tình nguyện viên đã hoàn tất hỗ trợ. {Term} chấm điểm giúp Tổ công nghệ số nhé (5 sao là rất hài lòng):"
)
RATED = "Cảm ơn {term} đã đánh giá! Nếu cần hỏi thêm, {term} cứ nhắn."
RETURNED_VOLUNTEER = "Đã trả lại phiếu #{id}; phiếu được đăng lại trong nhóm."
RETURNED_RESIDENT = "Câu hỏi của {term} đang được chuyển cho một tình nguyện viên khác, {term} vui lòng chờ thêm ít phút."
RAISED_VOLUNTEER = "Đã chuyển phiếu #{id} cho cán bộ xã/phường."
RAISED_STAFF = "⚠️ Phiếu #{id} cần cán bộ xử lý ({why}).\n{summary}"
RAISED_RESIDENT = "Câu hỏi của {term} đã được chuyển cho cán bộ {commune}. Cán bộ sẽ liên hệ lại với {term}."
REMIND_OWNER = "⏰ Phiếu #{id}: người dân chưa nhận được trả lời trong {minutes} phút. Anh/chị trả lời giúp nhé (hoặc /tra)."
PROPOSED = "Đã gửi đề xuất #{id} cho cán bộ duyệt thành câu hỏi thường gặp. Cảm ơn anh/chị!"
NOTHING_TO_PROPOSE = "Chưa có câu hỏi của người dân và câu trả lời của anh/chị trong phiếu này để đề xuất."
VOLUNTEER_HELP = (
    "**Lệnh cho người hỗ trợ**\n"
    "/phieu: các phiếu đang chờ, bấm để nhận\n"
    "/xong: đóng phiếu đang làm (người dân được mời chấm sao)\n"
    "/tra: trả lại phiếu cho người khác nhận\n"
    "/chuyen: chuyển phiếu cho cán bộ\n"
    "/dexuat: đề xuất câu trả lời vừa rồi thành câu hỏi thường gặp\n"
    "Khi đã nhận phiếu, tin anh/chị gõ ở đây được chuyển đến người dân."
)
STAFF_HELP = "/chiendich: soạn và lên lịch thông báo cho người dân. Báo cáo và hỏi đáp: trang quản trị."
REASONS = {
    "asked": "người dân muốn gặp người",
    "not_found": "trợ lý không tìm được câu trả lời",
    "thumbs_down": "câu trả lời chưa giúp được",
    "clarify": "câu hỏi không có trong danh sách",
}
RATE_LIMITED = "{Term} gửi nhanh quá, tôi chưa kịp đọc hết. {Term} vui lòng chờ một phút rồi gửi lại giúp tôi nhé."

# ---- staff: the guided campaign conversation -------------------------------------------------------------------
STAFF_ONLY = "Lệnh này chỉ dành cho cán bộ xã/phường đã được cấp quyền."
CD_TITLE = "Tạo thông báo chiến dịch (gõ /thoat để dừng).\nBước 1/4: Tiêu đề thông báo là gì? Ví dụ: \"Ngày hội VNeID tại phường\"."
CD_TEXT = "Bước 2/4: Nội dung thông báo? Có thể kèm một đường link (https://…), link sẽ thành nút bấm."
CD_AREA = "Bước 3/4: Gửi cho người dân ở đâu?"
CD_ALL_AREAS = "Tất cả các thôn, tổ"
CD_TIME = "Bước 4/4: Gửi lúc nào? Gõ \"ngay\", hoặc ngày giờ theo dạng 25/11 08:00."
CD_BAD_TIME = "Chưa hiểu thời gian \"{text}\". Gõ \"ngay\", hoặc ngày giờ theo dạng 25/11 08:00 (giờ Việt Nam, trong tương lai)."
CD_TOO_LONG = "{what} dài quá ({n} ký tự, tối đa {limit}). Anh/chị gõ ngắn lại giúp nhé."
CD_PREVIEW = "Xem trước: người dân sẽ nhận đúng tin dưới đây. Gửi cho {audience}, {when}."
CD_CONFIRM = "Xác nhận gửi"
CD_CANCEL = "Huỷ"
CD_SCHEDULED = "Đã lên lịch chiến dịch #{id}: {when}. Khi gửi xong, anh/chị sẽ nhận báo cáo kết quả."
CD_CANCELLED = "Đã huỷ, không có thông báo nào được gửi."
CD_NOW = "gửi ngay"
