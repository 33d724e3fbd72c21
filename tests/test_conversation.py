"""The resident's conversation on the real handlers, pipeline and database (channel-agnostic)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.channels import telegram, zalo
from bot.channels.base import Delivery, Result
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import migrate
from bot.store.models import AuditEntry, Base, Feedback, Identity, Message, ProcessedUpdate, Subscription, Ticket
from faq.content import shown_length
from handlers import texts
from handlers.messages import Incoming, Kind, Outgoing
from handlers.router import Router

# Monday 24 Nov 2026, 09:00 in Hà Nội (02:00 UTC): inside working hours. Sunday 22:00 local: outside.
IN_HOURS = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
OUT_OF_HOURS = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


@dataclass
class RecordingSender:
    channel: str
    sent: list[Outgoing] = field(default_factory=list)
    result: Result = Result.SENT

    async def send(self, message: Outgoing) -> Delivery:
        self.sent.append(message)
        return Delivery(self.result)


@dataclass
class Bot:
    pipeline: Pipeline
    runtime: Runtime
    sender: RecordingSender
    clock: list[datetime]
    counter: int = 0

    async def say(self, text: str, user: str = "u1", key: str | None = None) -> list[Outgoing]:
        return list(await self.pipeline.receive(Incoming("zalo", user, Kind.TEXT, text=text, update_key=key,
                                                         received_at=self.clock[0])))

    async def press(self, payload: str, user: str = "u1") -> list[Outgoing]:
        return list(await self.pipeline.receive(Incoming("zalo", user, Kind.BUTTON, text=payload,
                                                         received_at=self.clock[0])))

    async def count(self, model: Any, *where: Any) -> int:
        async with self.runtime.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[Bot]:
    settings = load_settings(TROLY_DATABASE_URL=database_url, TROLY_AREAS="Thôn Đông,Thôn Tây,Tổ 1,Tổ 2,Tổ 3")
    clock = [IN_HOURS]
    runtime = Runtime.build(settings)
    runtime.now = lambda: clock[0]
    await migrate.upgrade(runtime.engine)
    sender = RecordingSender("zalo")
    yield Bot(Pipeline(runtime, {"zalo": sender}), runtime, sender, clock)
    await runtime.close()


def payloads(message: Outgoing) -> list[str]:
    return [b.payload for b in message.buttons]


async def test_follow_greets_with_the_main_menu(bot: Bot) -> None:
    replies = await bot.pipeline.receive(Incoming("zalo", "u1", Kind.FOLLOW))
    assert "Trợ lý số" in replies[0].text
    assert payloads(replies[0]) == ["menu:vneid", "menu:dvc", "menu:payment", "menu:digital-skills", "human"]
    assert bot.sender.sent == list(replies)


async def test_a_clear_question_gets_an_answer_with_source_and_feedback(bot: Bot) -> None:
    [answer] = await bot.say("quen mat khau vneid thi lay lai the nao")
    assert "Nguồn:" in answer.text and "kiểm tra" in answer.text
    assert answer.text.endswith("Thông tin này có giúp được anh/chị không?")  # the buttons' question, under it
    assert payloads(answer) == ["fb:vneid.password.forgot:1", "fb:vneid.password.forgot:0"]
    async with bot.runtime.sessions() as session:
        stored = (await session.scalars(select(Message).where(Message.direction == "in"))).one()
    assert (stored.faq_id, stored.decision) == ("vneid.password.forgot", "answer")

    await bot.press("fb:vneid.password.forgot:1")
    assert await bot.count(Feedback, Feedback.helpful.is_(True)) == 1

    # What `troly faq check` measures against one screen is what is shown, up to the link.
    entry = bot.runtime.knowledge.content.by_id["vneid.password.forgot"]
    shown = answer.text[:answer.text.index("\n" + entry.source.url)]
    assert len(shown.replace("**", "")) == shown_length(entry)


async def test_thumbs_down_offers_a_person_and_yes_opens_a_ticket(bot: Bot) -> None:
    await bot.say("quen mat khau vneid thi lay lai the nao")
    replies = await bot.press("fb:vneid.password.forgot:0")
    assert "human:thumbs_down" in payloads(replies[0])
    replies = await bot.say("có")
    assert "trong khoảng 15 phút" in replies[0].text
    async with bot.runtime.sessions() as session:
        ticket = (await session.scalars(select(Ticket))).one()
    assert (ticket.reason, ticket.status) == ("thumbs_down", "waiting")
    assert "quen mat khau vneid" in (ticket.summary or "")


async def test_out_of_scope_is_not_answered_and_out_of_hours_is_honest(bot: Bot) -> None:
    bot.clock[0] = OUT_OF_HOURS
    replies = await bot.say("dự báo thời tiết ngày mai ở Hà Nội có mưa to không")
    assert "chưa tìm được câu trả lời" in replies[0].text
    assert "human:not_found" in payloads(replies[0])
    replies = await bot.press("human:not_found")
    assert "ngoài giờ trực" in replies[0].text and "7:30 sáng mai" in replies[0].text
    # while the ticket waits, the bot does not answer over the volunteer
    replies = await bot.say("quen mat khau vneid thi lay lai the nao")
    assert "đang chờ tình nguyện viên" in replies[0].text
    assert await bot.count(Ticket) == 1


async def test_asking_for_a_person_in_words(bot: Bot) -> None:
    replies = await bot.say("cho tôi gặp người hỗ trợ với")
    assert "tình nguyện viên" in replies[0].text
    assert await bot.count(Ticket) == 1
    replies = await bot.say("gap nguoi ho tro")
    assert "đang chờ" in replies[0].text
    assert await bot.count(Ticket) == 1


async def test_browsing_a_domain_pages_through_its_topics(bot: Bot) -> None:
    replies = await bot.press("menu:vneid")
    buttons = payloads(replies[0])
    assert len(buttons) == 5 and buttons[-1] == "menu:vneid:1"
    assert all(p.startswith("faq:vneid.") for p in buttons[:4])
    assert all(len(b.title) <= 20 for b in replies[0].buttons)
    replies = await bot.press(buttons[0])
    assert "Nguồn:" in replies[0].text


async def test_the_last_page_of_a_domain_leads_back_to_the_menu(bot: Bot) -> None:
    page, buttons = 0, payloads((await bot.press("menu:vneid"))[0])
    while buttons[-1].startswith("menu:vneid:"):
        page += 1
        assert buttons[-1] == f"menu:vneid:{page}"
        buttons = payloads((await bot.press(buttons[-1]))[0])
    assert page > 0 and buttons[-1] == "menu"


async def test_typing_the_number_of_a_listed_topic_chooses_it(bot: Bot) -> None:
    by_id = bot.runtime.knowledge.content.by_id
    first_page = (await bot.press("menu:vneid"))[0]
    second = by_id[first_page.buttons[1].payload.partition(":")[2]]
    replies = await bot.say("2")
    assert replies[0].text.startswith(f"**{second.title}**") and "Nguồn:" in replies[0].text
    # every page is numbered from 1, like its buttons: "2" on page two is the second button there
    second_page = (await bot.press(first_page.buttons[-1].payload))[0]
    second_there = by_id[second_page.buttons[1].payload.partition(":")[2]]
    assert "\n1. " in second_page.text and f"\n2. {second_there.title}" in second_page.text
    assert "\n5. " not in second_page.text
    assert (await bot.say("số 2"))[0].text.startswith(f"**{second_there.title}**")
    # a number that is not on the list is read as a question
    await bot.press("menu:vneid")
    await bot.say("6")
    async with bot.runtime.sessions() as session:
        decision = await session.scalar(select(Message.decision).where(Message.direction == "in")
                                        .order_by(Message.id.desc()).limit(1))
    assert decision != "chosen"


async def test_typing_the_number_of_a_clarify_choice_chooses_it(bot: Bot) -> None:
    question = "vneid ko nhan dc otp"
    assert bot.runtime.knowledge.matcher.match(question).decision == "clarify"  # what this test relies on
    choices = (await bot.say(question))[0]
    first = bot.runtime.knowledge.content.by_id[choices.buttons[0].payload.partition(":")[2]]
    assert (await bot.say("1"))[0].text.startswith(f"**{first.title}**")


async def test_phones_capitalising_the_first_letter_change_nothing(bot: Bot) -> None:
    assert "Trợ lý số" in (await bot.say("Xin chào"))[0].text
    assert "Trợ lý số" in (await bot.say("Menu"))[0].text
    assert "Tôi là Trợ lý số" in (await bot.say("Bạn là ai?"))[0].text
    assert "chưa đăng ký nhận thông báo" in (await bot.say("Hủy đăng ký"))[0].text
    await bot.say("Đăng ký nhận tin")
    assert "Thôn Tây" in (await bot.say("thôn tây"))[0].text  # the area's name, typed in another case
    await bot.say("đăng ký nhận tin")
    assert "không có gì" in (await bot.say("Cảm ơn"))[0].text  # not an area: heard as what it is
    assert await bot.count(Subscription, Subscription.area == "Thôn Tây") == 1


async def test_an_emoji_after_an_answer_is_the_vote_not_pressed(bot: Bot) -> None:
    question = "quen mat khau vneid thi lay lai the nao"
    await bot.say(question)
    assert "không có gì" in (await bot.say("👍👍"))[0].text
    await bot.say(question)
    assert "chưa giúp được" in (await bot.say("😢"))[0].text  # and the offer of a person follows
    async with bot.runtime.sessions() as session:
        votes = list(await session.scalars(select(Feedback.helpful).order_by(Feedback.id)))
    assert votes == [True, False]


@pytest.mark.parametrize("typed", ["😀", "❤️", "😢", "5", "0912 345 678", "..."])
async def test_a_message_without_words_gets_the_menu_not_a_handoff(bot: Bot, typed: str) -> None:
    [reply] = await bot.say(typed)
    assert "bằng chữ" in reply.text or reply.text.startswith("Dạ.")  # a heart out of the blue: acknowledged
    assert [b.payload for b in reply.buttons][:1] == ["menu:vneid"]
    assert "Tổ công nghệ số cộng đồng không?" not in reply.text  # no "shall I find a person" for a smiley
    assert await bot.count(Feedback) == 0 and await bot.count(Ticket) == 0


@pytest.mark.parametrize("typed", ["dạ", "vâng ạ", "ok", "hay quá"])
async def test_an_acknowledgement_out_of_the_blue_gets_the_menu_and_opens_nothing(bot: Bot, typed: str) -> None:
    [reply] = await bot.say(typed)
    assert reply.text.startswith("Dạ.") and [b.payload for b in reply.buttons][-1] == "human"
    await bot.say("vâng")  # a second "yes" accepts no offer: none was made
    assert await bot.count(Ticket) == 0 and await bot.count(Feedback) == 0


async def test_polite_words_after_a_short_reply_do_not_hide_it(bot: Bot) -> None:
    await bot.say("quen mat khau vneid thi lay lai the nao")
    assert "Cảm ơn" in (await bot.say("vang a"))[0].text
    assert "không có gì" in (await bot.say("cam on nhieu a"))[0].text
    assert await bot.count(Feedback, Feedback.helpful.is_(True)) == 1


@pytest.mark.parametrize(("typed", "domain"), [("VNeID", "vneid"), ("dich vu cong", "dvc"),
                                               ("Kỹ năng số", "digital-skills")])
async def test_a_menu_label_typed_opens_that_menu(bot: Bot, typed: str, domain: str) -> None:
    [reply] = await bot.say(typed)
    assert all(b.payload.startswith(("faq:", f"menu:{domain}")) for b in reply.buttons)
    assert reply.buttons[0].payload.partition(":")[2] in {e.id for e in bot.runtime.knowledge.content.by_id.values()
                                                          if e.domain == domain}
    assert (await bot.say("về menu chính"))[0].buttons[0].payload == "menu:vneid"


async def test_the_feedback_question_can_be_answered_in_words(bot: Bot) -> None:
    question = "quen mat khau vneid thi lay lai the nao"
    await bot.say(question)
    assert "Cảm ơn" in (await bot.say("Có ạ!"))[0].text
    assert "không có gì" in (await bot.say("cảm ơn"))[0].text  # thanks after the 👍: no second vote
    await bot.say(question)
    assert "chưa giúp được" in (await bot.say("chưa được"))[0].text
    assert "Dạ vâng" in (await bot.say("không"))[0].text  # declines the offer of a person: no ticket
    await bot.say(question)
    assert "không có gì" in (await bot.say("Cảm ơn nhiều"))[0].text  # thanks for an answer is a 👍
    async with bot.runtime.sessions() as session:
        votes = list(await session.scalars(select(Feedback.helpful).order_by(Feedback.id)))
    assert votes == [True, False, True]
    assert await bot.count(Ticket) == 0
    assert "không có gì" in (await bot.say("cam on"))[0].text  # thanks at any other time: a kind word, no vote
    assert await bot.count(Feedback) == 3
    await bot.say(question)
    assert "chưa giúp được" in (await bot.say("ko dc"))[0].text  # chat abbreviations too
    assert await bot.count(Feedback, Feedback.helpful.is_(False)) == 2


async def test_a_long_message_we_could_not_place_says_what_was_read(bot: Bot) -> None:
    story = "Hôm qua tôi ra chợ gặp bà hàng xóm, hai bà cháu nói chuyện mãi về con gà. " * 20
    replies = await bot.say(story + " vậy thì làm sao")
    assert "chỉ đọc 1000 ký tự đầu" in replies[0].text
    assert payloads(replies[1])[0] == "human:not_found"


async def test_help_explains_and_shows_the_menu(bot: Bot) -> None:
    for asked in ("/trogiup", "trợ giúp", "huong dan"):
        [reply] = await bot.say(asked)
        assert "Cách dùng Trợ lý số" in reply.text
        assert payloads(reply) == ["menu:vneid", "menu:dvc", "menu:payment", "menu:digital-skills", "human"]


async def test_buttons_from_an_old_menu_lead_to_the_main_menu(bot: Bot) -> None:
    """A button pressed after the content changed (or a payload typed by hand) names nothing we have."""
    for payload in ("menu:no-such-domain", "faq:no.such.entry", "menu", "fb:no.such.entry:1", "rate:999:5"):
        [reply] = await bot.press(payload)
        assert "muốn hỏi về việc gì" in reply.text and "human" in payloads(reply)


async def test_unfollowing_marks_the_resident_inactive(bot: Bot) -> None:
    await bot.say("xin chào")
    assert await bot.count(Identity, Identity.external_id == "u1", Identity.active.is_(True)) == 1
    assert await bot.pipeline.receive(Incoming("zalo", "u1", Kind.UNFOLLOW)) == []
    assert await bot.count(Identity, Identity.external_id == "u1", Identity.active.is_(False)) == 1


async def test_subscribe_by_area_then_unsubscribe(bot: Bot) -> None:
    replies = await bot.say("đăng ký nhận tin")
    assert payloads(replies[0])[:4] == ["area:0", "area:1", "area:2", "area:3"]
    assert payloads(replies[0])[4] == "sub:1"
    replies = await bot.press("sub:1")
    assert payloads(replies[0]) == ["area:4"]
    fifth = bot.runtime.settings.areas[4]
    assert f"\n1. {fifth}" in replies[0].text  # numbered like its one button
    await bot.say("1")
    assert await bot.count(Subscription, Subscription.area == fifth) == 1
    await bot.say("/huy")
    replies = await bot.press("area:1")
    assert "Thôn Tây" in replies[0].text and "/huy" in replies[0].text
    assert await bot.count(Subscription, Subscription.area == "Thôn Tây") == 1
    await bot.say("dang ky nhan thong bao")
    await bot.say("1")  # typing the number from the list works too
    assert await bot.count(Subscription) == 1
    assert await bot.count(Subscription, Subscription.area == "Thôn Đông") == 1
    replies = await bot.say("/huy")
    assert "Đã huỷ đăng ký" in replies[0].text
    assert await bot.count(Subscription) == 0
    # the slash is hard to find on a phone keyboard: the command's name alone does the same
    await bot.say("dangky")
    await bot.say("2")
    assert await bot.count(Subscription) == 1
    assert "Đã huỷ đăng ký" in (await bot.say("Huỷ"))[0].text
    assert await bot.count(Subscription) == 0
    replies = await bot.say("hủy đăng ký")
    assert "chưa đăng ký" in replies[0].text


@pytest.mark.parametrize("question", [
    "vneid khong nhan thong bao nua", "không nhận thông báo OTP", "thôi nhận tiền mặt à",
])
async def test_a_problem_with_notifications_is_a_question_not_an_unsubscribe(bot: Bot, question: str) -> None:
    await bot.say("đăng ký nhận tin")
    await bot.press("area:0")
    replies = await bot.say(question)
    assert not any("huỷ đăng ký" in r.text or "chưa đăng ký" in r.text for r in replies)
    assert await bot.count(Subscription) == 1
    assert "không nhận thông báo nữa" in (await bot.say("không nhận thông báo nữa"))[0].text  # the request itself
    assert await bot.count(Subscription) == 0


@pytest.mark.parametrize("question", ["tôi nhận thông báo lạ từ ngân hàng", "dang ky nhan tin nhan otp"])
async def test_a_question_using_the_subscribe_phrase_is_not_a_subscription(bot: Bot, question: str) -> None:
    replies = await bot.say(question)
    assert not any("thôn/tổ dân phố nào" in r.text for r in replies)
    for request in ("tôi muốn nhận thông báo", "đăng ký nhận thông báo qua zalo", "đăng ký nhận tin nhắn"):
        assert "thôn/tổ dân phố nào" in (await bot.say(request))[0].text


@pytest.mark.parametrize("question", [
    "nguoi goi xung la nhan vien ho tro ngan hang", "tinh nguyen vien co thu tien khong",
    "co can gap can bo cong an de lam muc 2 khong", "tình nguyện viên có làm giúp không",
])
async def test_a_question_about_people_is_answered_not_handed_over(bot: Bot, question: str) -> None:
    await bot.say(question)
    assert await bot.count(Ticket) == 0
    await bot.say("cho tôi gặp người hỗ trợ")
    assert await bot.count(Ticket) == 1


async def test_the_volunteers_summary_holds_what_the_resident_wrote_masked_and_no_button_codes(bot: Bot) -> None:
    replies = await bot.say("mật khẩu VNeID là Lan@1960 mà không vào được")
    assert "mật khẩu" in replies[0].text and "Không bao giờ gửi" in replies[0].text
    await bot.press("human:clarify")
    async with bot.runtime.sessions() as session:
        summary = await session.scalar(select(Ticket.summary))
    assert summary is not None and "Người dân: mật khẩu VNeID là ••••" in summary
    assert "Lan@1960" not in summary and "human:" not in summary


async def test_erasure_needs_confirmation_and_then_leaves_nothing(bot: Bot) -> None:
    await bot.say("quen mat khau vneid thi lay lai the nao")
    await bot.press("fb:vneid.password.forgot:1")
    await bot.say("đăng ký nhận tin")
    await bot.press("area:0")
    await bot.say("gặp người hỗ trợ")
    await bot.say("/xoadulieu")
    replies = await bot.press("erase:no")
    assert "giữ nguyên" in replies[0].text
    assert await bot.count(Identity) == 1
    await bot.say("/xoadulieu")
    replies = await bot.press("erase:yes")
    assert "Đã xoá" in replies[0].text
    for model in Base.metadata.sorted_tables:
        if model.name in ("residents", "identities", "messages", "feedback", "subscriptions", "tickets",
                          "conversations"):
            assert await bot.count(model) == 0, model.name
    # the audit log keeps what staff and volunteers did, but not the erased resident's address
    assert await bot.count(AuditEntry) >= 1
    assert await bot.count(AuditEntry, AuditEntry.actor == "zalo:u1") == 0


@pytest.mark.parametrize("greeting", ["chào cháu", "chao em", "alo alo", "Chào ạ!"])
async def test_a_greeting_as_elderly_residents_write_it_gets_the_menu(bot: Bot, greeting: str) -> None:
    replies = await bot.say(greeting)
    assert "menu:vneid" in payloads(replies[0]) and "chưa tìm được" not in replies[0].text


async def test_the_erasure_question_can_be_answered_in_words(bot: Bot) -> None:
    await bot.say("đăng ký nhận tin")
    await bot.press("area:0")
    await bot.say("/xoadulieu")
    assert "giữ nguyên" in (await bot.say("thôi"))[0].text
    assert await bot.count(Subscription) == 1
    await bot.say("quen mat khau vneid")
    assert "giữ nguyên" not in (await bot.say("co"))[0].text  # no question pending: "có" erases nothing
    assert await bot.count(Subscription) == 1
    await bot.say("xoá dữ liệu của tôi")
    assert "Đã xoá" in (await bot.say("Có ạ"))[0].text
    assert await bot.count(Subscription) == 0 and await bot.count(Identity) == 0


async def test_media_gets_a_kind_answer(bot: Bot) -> None:
    for media, words in [("photo", "hình ảnh"), ("voice", "tin nhắn thoại"), ("location", "vị trí")]:
        replies = await bot.pipeline.receive(Incoming("zalo", "u1", Kind.MEDIA, media=media))
        assert words in replies[0].text and "gõ câu hỏi" in replies[0].text


def test_every_media_kind_a_channel_reports_has_words_for_the_resident_and_the_volunteer() -> None:
    reported = {media for _, media in telegram.MEDIA} | set(zalo.MEDIA_EVENTS.values())
    assert reported <= set(texts.MEDIA) and set(texts.MEDIA) == set(texts.MEDIA_NAMES)


async def test_secrets_are_masked_before_storage_and_the_resident_is_warned(bot: Bot) -> None:
    replies = await bot.say("mã OTP của tôi là 482913, số căn cước 001203004567")
    assert "Không bao giờ gửi mã OTP" in replies[0].text
    async with bot.runtime.sessions() as session:
        texts = [m.text or "" for m in (await session.scalars(select(Message))).all()]
    assert texts and not any("482913" in t or "001203004567" in t for t in texts)


async def test_a_redelivered_update_is_answered_once(bot: Bot) -> None:
    first = await bot.say("quen mat khau vneid", key="m-1")
    again = await bot.say("quen mat khau vneid", key="m-1")
    assert first and again == []
    assert await bot.count(ProcessedUpdate) == 1
    assert await bot.count(Message, Message.direction == "in") == 1


async def test_an_internal_error_gives_a_polite_apology(bot: Bot) -> None:
    broken = Router()

    @broken.on(lambda turn: True)
    async def explode(turn: Any) -> None:
        raise RuntimeError("boom")

    bot.pipeline.router = broken
    replies = await bot.say("xin chào")
    assert len(replies) == 1 and replies[0].text.startswith("Xin lỗi, trợ lý đang gặp trục trặc")
    assert "boom" not in replies[0].text and "Traceback" not in replies[0].text


async def test_a_blocked_recipient_is_marked_inactive(bot: Bot) -> None:
    bot.sender.result = Result.BLOCKED
    await bot.say("xin chào")
    assert await bot.count(Identity, Identity.active.is_(False)) == 1


async def test_a_flood_is_rate_limited_politely_and_nothing_is_lost(bot: Bot) -> None:
    limit = bot.runtime.settings.rate_limit_per_minute
    for i in range(limit):
        await bot.say(f"câu hỏi số {i}")
    replies = await bot.say("thêm một câu")
    assert "gửi nhanh quá" in replies[0].text
    assert await bot.say("và một câu nữa") == []  # told once per window, not on every message
    assert await bot.count(Message, Message.direction == "in") == limit + 2
    bot.clock[0] = bot.clock[0].replace(minute=bot.clock[0].minute + 2)
    replies = await bot.say("quen mat khau vneid")
    assert "gửi nhanh quá" not in replies[0].text
