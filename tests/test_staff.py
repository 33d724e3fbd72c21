"""Staff create a campaign through the guided Telegram conversation, with a preview before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.store import roles
from bot.store.models import Campaign
from handlers.messages import Kind
from tests.test_handoff import MONDAY_9AM, World, build_world


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    w = await build_world(database_url, [MONDAY_9AM])
    async with w.runtime.sessions() as session, session.begin():
        await roles.grant(session, "staff", "telegram:s1", "test")
    yield w
    await w.runtime.close()


async def test_guided_campaign_with_preview_then_scheduled(world: World) -> None:
    async def staff(text: str, kind: Kind = Kind.TEXT) -> list[str]:
        return [m.text for m in await world.volunteer(text, user="s1", name="Cán bộ Hoa", kind=kind)]

    assert "Bước 1/4" in (await staff("/chiendich"))[0]
    assert "Bước 2/4" in (await staff("Ngày hội VNeID"))[0]
    replies = await world.volunteer("Sáng thứ Bảy tại nhà văn hoá, mang thẻ căn cước. https://dichvucong.gov.vn",
                                    user="s1")
    assert "Bước 3/4" in replies[0].text and replies[0].buttons[0].payload == "cdarea:all"
    area = replies[0].buttons[1]
    # words, or a button from an older list, get the question again rather than silence
    assert "Bước 3/4" in (await staff("thôn nào cũng được"))[0]
    assert "Bước 3/4" in (await staff("cdarea:99", Kind.BUTTON))[0]
    assert "Bước 4/4" in (await staff(area.payload, Kind.BUTTON))[0]
    assert "Chưa hiểu" in (await staff("sáng mai nhé"))[0]
    replies = await world.volunteer("28/11 07:30", user="s1")
    preview = replies[1]
    assert area.title in replies[0].text and "07:30 ngày 28/11/2026" in replies[0].text
    assert preview.user_id == "s1" and "Ngày hội VNeID" in preview.text and "/huy" in preview.text
    assert preview.buttons[0].url == "https://dichvucong.gov.vn"
    async with world.runtime.sessions() as session:
        assert (await session.scalars(select(Campaign))).first() is None  # nothing before confirmation

    assert "Đã lên lịch chiến dịch #1" in (await staff("cd:ok", Kind.BUTTON))[0]
    async with world.runtime.sessions() as session:
        campaign = (await session.scalars(select(Campaign))).one()
    assert (campaign.status, campaign.author, campaign.audience_areas) == ("scheduled", "telegram:s1", [area.title])
    assert campaign.send_at == datetime(2026, 11, 28, 0, 30, tzinfo=UTC)


async def test_only_staff_may_start_it_and_it_can_be_abandoned(world: World) -> None:
    replies = await world.resident("/chiendich")
    assert "chỉ dành cho cán bộ" in replies[0].text
    await world.volunteer("/chiendich", user="s1")
    replies = await world.volunteer("/thoat", user="s1")
    assert "Đã huỷ" in replies[0].text
    # back to normal: a question gets the resident's conversation
    replies = await world.volunteer("quên mật khẩu vneid", user="s1")
    assert "Bước" not in replies[0].text
