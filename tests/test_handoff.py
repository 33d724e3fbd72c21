"""Handoff to volunteers: tickets, the claim race, relay across channels, closing, rating, timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.channels.base import Delivery, Result
from bot.handoff_timers import HandoffTimers
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from bot.store import migrate, reports, roles, stats
from bot.store.models import AuditEntry, FaqProposal, Message, Ticket
from handlers.messages import Incoming, Kind, Outgoing

GROUP = "-1001234"
MONDAY_9AM = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội


@dataclass
class Recorder:
    channel: str
    sent: list[Outgoing] = field(default_factory=list)
    next_id: int = 500

    async def send(self, message: Outgoing) -> Delivery:
        self.sent.append(message)
        self.next_id += 1
        return Delivery(Result.SENT, detail=str(self.next_id))

    def to(self, user_id: str) -> list[Outgoing]:
        return [m for m in self.sent if m.user_id == user_id]


@dataclass
class World:
    settings: Settings
    runtime: Runtime
    pipeline: Pipeline
    zalo: Recorder
    telegram: Recorder
    clock: list[datetime]

    async def resident(self, text: str, user: str = "z1", kind: Kind = Kind.TEXT, **extra: Any) -> list[Outgoing]:
        return list(await self.pipeline.receive(Incoming("zalo", user, kind, text=text,
                                                         received_at=self.clock[0], **extra)))

    async def volunteer(self, text: str, user: str = "v1", name: str = "Nguyễn Văn An",
                        kind: Kind = Kind.TEXT, group: bool = False) -> list[Outgoing]:
        return list(await self.pipeline.receive(Incoming(
            "telegram", user, kind, text=text, display_name=name, chat_id=GROUP if group else None,
            received_at=self.clock[0])))

    @staticmethod
    def to_resident(replies: list[Outgoing], user: str = "z1") -> list[Outgoing]:
        return [m for m in replies if (m.channel, m.user_id) == ("zalo", user)]

    async def ticket(self) -> Ticket:
        async with self.runtime.sessions() as session:
            return (await session.scalars(select(Ticket).order_by(Ticket.id.desc()))).first()  # type: ignore[return-value]


async def build_world(database_url: str, clock: list[datetime]) -> World:
    settings = load_settings(TROLY_DATABASE_URL=database_url, TELEGRAM_VOLUNTEER_CHAT_ID=GROUP)
    runtime = Runtime.build(settings)
    runtime.now = lambda: clock[0]
    await migrate.upgrade(runtime.engine)
    zalo, telegram = Recorder("zalo"), Recorder("telegram")
    return World(settings, runtime, Pipeline(runtime, {"zalo": zalo, "telegram": telegram}), zalo, telegram, clock)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    w = await build_world(database_url, [MONDAY_9AM])
    async with w.runtime.sessions() as session, session.begin():
        await roles.grant(session, "volunteer", "telegram:v1", "test")
        await roles.grant(session, "volunteer", "telegram:v2", "test")
        await roles.grant(session, "staff", "telegram:s1", "test")
    yield w
    await w.runtime.close()


async def test_escalation_posts_the_ticket_with_masked_transcript(world: World) -> None:
    await world.resident("mật khẩu là Hoa@1975 mà vneid không vô được")
    replies = await world.resident("gặp người hỗ trợ")
    assert "trong khoảng 15 phút" in replies[0].text
    post = world.telegram.to(GROUP)[-1]
    assert [b.payload for b in post.buttons] == ["claim:1"]
    assert "Hoa@1975" not in post.text and "••••" in post.text
    ticket = await world.ticket()
    assert ticket.group_message_id == world.telegram.next_id


async def test_a_photo_for_a_claimed_ticket_is_announced_to_the_volunteer(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    assert "đang chờ tình nguyện viên" in (await world.resident("bác chờ nhé"))[0].text  # waiting: no relay yet
    await world.volunteer("claim:1", group=True)
    replies = await world.resident("", kind=Kind.MEDIA, media="photo")
    to_volunteer = world.telegram.to("v1")[-1]
    assert "phiếu #1" in to_volunteer.text and "người dân gửi một hình ảnh" in to_volunteer.text
    assert "hình ảnh" in replies[-1].text and replies[-1].channel == "zalo"  # and the resident hears why


async def test_claim_relay_both_ways_close_and_rate(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", group=True)
    ticket = await world.ticket()
    assert (ticket.status, ticket.owner) == ("claimed", "telegram:v1")
    assert "đã nhận phiếu #1" in world.telegram.to("v1")[-1].text
    edit = world.telegram.to(GROUP)[-1]
    assert edit.edit_message_id == str(ticket.group_message_id) and "Nguyễn Văn An" in edit.text
    assert "Tình nguyện viên An" in world.zalo.to("z1")[-1].text

    # volunteer → resident (on Zalo), resident → volunteer (on Telegram); the bot does not answer over them
    await world.volunteer("Bác mở ứng dụng VNeID, bấm Quên mật khẩu nhé")
    assert world.zalo.to("z1")[-1].text == "**Tình nguyện viên An:** Bác mở ứng dụng VNeID, bấm Quên mật khẩu nhé"
    replies = await world.resident("quen mat khau vneid, ma OTP 123456 gui ve roi")
    # the resident is warned about the OTP, and the volunteer gets the message masked; no FAQ answer
    assert [m.channel for m in replies] == ["zalo", "telegram"] and "OTP" in replies[0].text
    assert "123456" not in world.telegram.to("v1")[-1].text and "phiếu #1" in world.telegram.to("v1")[-1].text
    ticket = await world.ticket()
    assert ticket.first_response_at == MONDAY_9AM

    world.clock[0] += timedelta(minutes=12)
    await world.volunteer("/dexuat")
    await world.volunteer("/xong")
    ticket = await world.ticket()
    assert ticket.status == "closed" and ticket.closed_at == world.clock[0]
    rating = world.zalo.to("z1")[-1]
    assert [b.payload for b in rating.buttons] == [f"rate:1:{n}" for n in (5, 4, 3, 2, 1)]
    await world.resident("rate:1:5", kind=Kind.BUTTON)
    assert (await world.ticket()).rating == 5
    async with world.runtime.sessions() as session:
        proposal = (await session.scalars(select(FaqProposal))).one()
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert "Quên mật khẩu" in proposal.answer and "123456" not in proposal.question
    assert actions[-4:] == ["ticket.open", "ticket.claim", "faq.propose", "ticket.close"][-4:]

    # after closing, the bot answers the resident again
    replies = await world.resident("quen mat khau vneid")
    assert replies[0].channel == "zalo" and "đang chờ" not in replies[0].text
    assert world.telegram.to("v1")[-1].text.startswith("Đã đóng phiếu")


async def test_people_hear_before_the_volunteers_group_post_changes(world: World) -> None:
    """A post to the group may wait for the group's pacing (20 a minute); the volunteer and the resident must not
    wait behind it."""
    await world.resident("gặp người hỗ trợ")
    order: list[str] = []
    for recorder in (world.zalo, world.telegram):
        async def send(message: Outgoing, original: Any = recorder.send) -> Delivery:
            order.append(message.user_id)
            return await original(message)  # type: ignore[no-any-return]
        recorder.send = send  # type: ignore[method-assign]
    await world.volunteer("claim:1", group=True)
    assert order == ["v1", "z1", GROUP]
    order.clear()
    await world.volunteer("/xong")
    assert order == ["v1", "z1", GROUP]


async def test_someone_without_the_role_cannot_claim(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", user="stranger", group=True)
    assert (await world.ticket()).status == "waiting"
    assert "Chỉ tình nguyện viên" in world.telegram.to("stranger")[-1].text


async def test_a_resident_writing_while_the_ticket_waits_is_told_and_kept(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    replies = await world.resident("quen mat khau vneid")
    assert "đang chờ tình nguyện viên" in replies[0].text
    async with world.runtime.sessions() as session:
        stored = (await session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))).all()
    assert stored[-1].ticket_id == 1 and stored[-1].text == "quen mat khau vneid"


async def test_give_back_reannounces_and_another_can_claim(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", group=True)
    await world.volunteer("claim:1", user="v2", name="Trần Thị Bình", group=True)
    assert "đã được Nguyễn Văn An nhận" in world.telegram.to("v2")[-1].text
    await world.volunteer("/tra")
    assert (await world.ticket()).status == "waiting"
    assert world.telegram.to(GROUP)[-1].buttons[0].payload == "claim:1"
    await world.volunteer("claim:1", user="v2", name="Trần Thị Bình", group=True)
    assert (await world.ticket()).owner == "telegram:v2"


async def test_a_volunteer_typing_a_command_word_without_the_slash_is_talking_to_the_resident(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", group=True)
    await world.volunteer("Xong")  # "done" (the step worked), not /xong
    assert world.zalo.to("z1")[-1].text.endswith("Xong")
    assert (await world.ticket()).status == "claimed"


async def test_help_for_volunteers_and_staff_lists_their_commands(world: World) -> None:
    [reply] = await world.volunteer("/trogiup")
    assert "/phieu" in reply.text and "/xong" in reply.text and "/chiendich" not in reply.text
    [reply] = await world.volunteer("/trogiup", user="s1", name="Cán bộ Hoa")
    assert "/chiendich" in reply.text


async def test_waiting_list_and_commands_without_a_ticket(world: World) -> None:
    await world.volunteer("/phieu")
    assert world.telegram.to("v1")[-1].text == "Hiện không có phiếu nào đang chờ."
    for command in ("/xong", "/tra", "/chuyen", "/dexuat"):
        await world.volunteer(command)
        assert "chưa nhận phiếu nào" in world.telegram.to("v1")[-1].text
    await world.resident("gặp người hỗ trợ")
    await world.resident("gặp người hỗ trợ", user="z2")
    await world.volunteer("/phieu")
    listing = world.telegram.to("v1")[-1]
    assert "#1" in listing.text and "#2" in listing.text
    assert [b.payload for b in listing.buttons] == ["claim:1", "claim:2"]


async def test_a_resident_who_erases_their_data_closes_their_ticket(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.resident("/xoadulieu")
    assert "Đã xoá" in (await world.resident("erase:yes", kind=Kind.BUTTON))[0].text
    post = world.telegram.to(GROUP)[-1]
    assert post.edit_message_id is not None and "xoá dữ liệu" in post.text and not post.buttons
    # a volunteer pressing the button of an older copy of the post is told it is gone
    await world.volunteer("claim:1", group=True)
    assert world.telegram.to("v1")[-1].text == "Phiếu #1 không còn mở."


async def test_the_volunteer_of_a_resident_who_erases_their_data_is_told(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", group=True)
    await world.resident("/xoadulieu")
    await world.resident("erase:yes", kind=Kind.BUTTON)
    assert "người dân đã xoá dữ liệu" in world.telegram.to("v1")[-1].text
    async with world.runtime.sessions() as session:
        assert (await session.scalars(select(Ticket))).first() is None


async def test_a_resident_can_withdraw_a_waiting_request_with_its_button(world: World) -> None:
    [handoff] = world.to_resident(await world.resident("gặp người hỗ trợ"))
    assert [b.payload for b in handoff.buttons] == ["cancel"]
    [reply] = world.to_resident(await world.resident("cancel", kind=Kind.BUTTON))
    assert "đã huỷ yêu cầu" in reply.text and [b.payload for b in reply.buttons] == ["human", "menu"]
    ticket = await world.ticket()
    assert ticket.status == "closed" and ticket.closed_at is not None
    post = world.telegram.to(GROUP)[-1]
    assert post.edit_message_id is not None and "không cần hỗ trợ nữa" in post.text and not post.buttons
    async with world.runtime.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions[-1] == "ticket.cancel"
    # the bot answers again, and a new request opens a new ticket
    assert "đang chờ" not in (await world.resident("quên mật khẩu vneid"))[0].text
    await world.resident("gặp người hỗ trợ")
    assert (await world.ticket()).id == 2
    await world.volunteer("claim:1", group=True)
    assert world.telegram.to("v1")[-1].text == "Phiếu #1 không còn mở."


async def test_a_withdrawn_request_is_reported_apart_from_resolved_ones(world: World) -> None:
    await world.resident("gặp người hỗ trợ", user="z1")
    await world.resident("gặp người hỗ trợ", user="z2")
    world.clock[0] += timedelta(minutes=10)
    await world.volunteer("claim:2", group=True)
    await world.volunteer("bác thử lại nhé")
    world.clock[0] += timedelta(minutes=20)
    await world.volunteer("/xong")
    await world.resident("huỷ yêu cầu", user="z1")
    zone = world.settings.timezone
    today = world.clock[0].astimezone(zone).date()
    async with world.runtime.sessions() as session:
        figures = (await stats.overview(session, stats.Period(today, today, zone))).to_json()["tickets"]
        report = await reports.build_report(session, "daily", today, zone, world.runtime.knowledge.content,
                                            "Phường Thử", world.clock[0])
    assert (figures["created"], figures["closed"], figures["cancelled_by_resident"]) == (2, 2, 1)
    assert figures["median_resolution_seconds"] == 30 * 60  # the resolved one only: a withdrawal resolved nothing
    summary = report.sheets[0]
    total = dict(zip(summary.columns, summary.rows[-1], strict=True))
    assert (total["Phiếu đã đóng"], total["Người dân tự huỷ"], total["Phiếu chưa đóng"]) == (2, 1, 0)
    assert total["Giải quyết xong, trung vị (phút)"] == 30


@pytest.mark.parametrize("typed", ["huỷ yêu cầu", "thôi không cần nữa cháu ơi", "khong can nua", "ko cần nữa",
                                   "thôi khỏi"])
async def test_a_resident_can_withdraw_a_claimed_request_in_words(world: World, typed: str) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", group=True)
    relayed = len(world.telegram.to("v1"))
    [reply] = world.to_resident(await world.resident(typed))
    assert "đã huỷ yêu cầu" in reply.text
    assert (await world.ticket()).status == "closed"
    to_volunteer = world.telegram.to("v1")[relayed:]
    assert len(to_volunteer) == 1 and "không cần hỗ trợ nữa" in to_volunteer[0].text  # told, not relayed
    await world.volunteer("bác thử lại nhé")  # nothing of theirs reaches the resident now
    assert not any("bác thử lại" in m.text for m in world.zalo.to("z1"))


@pytest.mark.parametrize("asked", ["sổ hộ khẩu giờ không cần nữa à", "hủy yêu cầu chuyển tiền được không"])
async def test_a_question_that_uses_the_words_does_not_withdraw(world: World, asked: str) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", group=True)
    await world.resident(asked)
    assert (await world.ticket()).status == "claimed"
    assert world.telegram.to("v1")[-1].text.endswith(asked)  # relayed to the volunteer, not lost


async def test_withdrawing_without_a_request_is_answered_kindly(world: World) -> None:
    [reply] = await world.resident("cancel", kind=Kind.BUTTON)
    assert "không có yêu cầu nào" in reply.text and reply.buttons
    # without an open request the words are an ordinary message, not a withdrawal
    assert "không có yêu cầu nào" not in (await world.resident("không cần nữa"))[0].text


async def test_asking_twice_keeps_one_ticket(world: World) -> None:
    await world.resident("human:asked", kind=Kind.BUTTON)
    replies = await world.resident("human:asked", kind=Kind.BUTTON)
    assert "đang chờ tình nguyện viên" in replies[0].text
    async with world.runtime.sessions() as session:
        assert len((await session.scalars(select(Ticket))).all()) == 1


async def test_raise_to_staff_by_the_volunteer(world: World) -> None:
    await world.resident("gặp người hỗ trợ")
    await world.volunteer("claim:1", group=True)
    await world.volunteer("/chuyen")
    assert (await world.ticket()).status == "raised"
    assert "cần cán bộ" in world.telegram.to("s1")[-1].text
    assert "cán bộ" in world.zalo.to("z1")[-1].text


@pytest.mark.parametrize("trial", range(8))
async def test_claim_race_has_exactly_one_owner(world: World, trial: int) -> None:
    await world.resident("gặp người hỗ trợ", user=f"z{trial}")
    ticket = await world.ticket()
    await asyncio.gather(
        world.volunteer(f"claim:{ticket.id}", user="v1", group=True),
        world.volunteer(f"claim:{ticket.id}", user="v2", name="Trần Thị Bình", group=True),
    )
    ticket = await world.ticket()
    assert ticket.status == "claimed" and ticket.owner in ("telegram:v1", "telegram:v2")
    loser = "v2" if ticket.owner == "telegram:v1" else "v1"
    winner = ticket.owner.partition(":")[2]
    assert "đã nhận phiếu" in world.telegram.to(winner)[-1].text
    winner_name = "Trần Thị Bình" if winner == "v2" else "Nguyễn Văn An"
    assert f"đã được {winner_name} nhận rồi" in world.telegram.to(loser)[-1].text  # by name, not an address
    async with world.runtime.sessions() as session:
        claims = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "ticket.claim")
        )
    assert claims == 1


async def test_timers_survive_a_restart(database_url: str) -> None:
    clock = [MONDAY_9AM]
    first = await build_world(database_url, clock)
    async with first.runtime.sessions() as session, session.begin():
        await roles.grant(session, "staff", "telegram:s1", "test")
        await roles.grant(session, "volunteer", "telegram:v1", "test")
    await first.resident("gặp người hỗ trợ")
    await first.resident("gặp người hỗ trợ", user="z2")
    await first.volunteer("claim:2", group=True)
    await first.runtime.close()  # the process stops with two open tickets

    clock[0] += timedelta(minutes=11)
    second = await build_world(database_url, clock)
    timers = HandoffTimers(second.pipeline)
    sent = await timers.sweep()
    assert next(m.text for m in sent if m.user_id == GROUP).startswith("🔔 Nhắc lại: phiếu #1")
    assert await timers.sweep() == []  # once per interval, not on every sweep

    clock[0] += timedelta(minutes=10)  # claimed ticket silent for 21 minutes
    sent = await timers.sweep()
    assert any(m.user_id == "v1" and "⏰ Phiếu #2" in m.text for m in sent)
    assert not any(m.user_id == "v1" for m in await timers.sweep())  # reminded once

    clock[0] += timedelta(minutes=10)  # ticket 1 unclaimed for 31 minutes
    sent = await timers.sweep()
    assert any(m.user_id == "s1" and "Phiếu #1 cần cán bộ" in m.text for m in sent)
    assert (await second.ticket()).status == "claimed"  # ticket 2 untouched
    async with second.runtime.sessions() as session:
        assert (await session.get(Ticket, 1)).status == "raised"  # type: ignore[union-attr]
    await second.runtime.close()


async def test_out_of_hours_tickets_wait_for_the_morning(database_url: str) -> None:
    clock = [MONDAY_9AM + timedelta(hours=12)]  # 21:00
    world = await build_world(database_url, clock)
    replies = await world.resident("gặp người hỗ trợ")
    assert "ngoài giờ trực" in replies[0].text
    timers = HandoffTimers(world.pipeline)
    clock[0] += timedelta(hours=2)
    assert await timers.sweep() == []
    clock[0] = MONDAY_9AM + timedelta(days=1, minutes=-85)  # Tuesday 07:35: five working minutes
    assert await timers.sweep() == []
    clock[0] += timedelta(minutes=10)
    assert len(await timers.sweep()) == 1
    await world.runtime.close()


def test_staff_accept_or_reject_proposals_from_the_cli(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"

    async def a_volunteer_proposes() -> None:
        world = await build_world(url, [MONDAY_9AM])
        async with world.runtime.sessions() as session, session.begin():
            await roles.grant(session, "volunteer", "telegram:v1", "test")
        await world.resident("gặp người hỗ trợ")
        await world.volunteer("claim:1", group=True)
        await world.resident("con tôi đổi tên rồi, VNeID vẫn tên cũ")
        await world.volunteer("Bác ra Công an xã mang giấy tờ đổi tên để cập nhật nhé")
        await world.volunteer("/dexuat")
        await world.runtime.close()

    asyncio.run(a_volunteer_proposes())

    monkeypatch.setenv("TROLY_DATABASE_URL", url)

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_:
            main(list(argv))
        return int(exit_.value.code or 0), capsys.readouterr().out

    code, out = run("faq", "proposals")
    assert code == 0 and "#1 [pending]" in out and "Công an xã" in out and "VNeID vẫn tên cũ" in out
    assert run("faq", "accept", "1")[0] == 0
    assert run("faq", "reject", "1")[0] == 1  # already decided
    code, out = run("faq", "proposals")
    assert "0 đề xuất" in out
