"""Campaigns: audiences, idempotent firing, schedules (once, recurring, across a restart, a missed run), the
staff JSON API and the `troly campaign` / `troly subscribers` commands. Real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.cli import main as troly
from bot.outbox.sender import OutboxSender
from bot.scheduler.campaigns import CampaignScheduler
from bot.store import campaigns
from bot.store.models import CampaignRun, Identity, OutboxMessage
from bot.web.api import CampaignApi
from bot.web.app import build_app
from tests.pg_hold import holder, stop_while_held, until_a_statement_waits
from tests.test_outbox import World, build_world

HANOI_8AM = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    w = await build_world(database_url, TROLY_ADMIN_TOKEN="bi-mat-123")
    try:
        yield w
    finally:
        await w.runtime.close()


def at(world: World, minutes: float) -> datetime:
    """Move the world's clock to 08:00 Hà Nội plus `minutes`, and return that time."""
    world.clock.t = minutes * 60
    return world.clock.now()


async def runs(world: World, campaign_id: int) -> list[datetime]:
    async with world.runtime.sessions() as session:
        return [run.scheduled_for for run in await campaigns.runs_of(session, campaign_id)]


async def outbox_rows(world: World) -> int:
    async with world.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


# ---- audiences and firing ------------------------------------------------------------------------------------


async def test_the_audience_is_active_subscribers_of_the_chosen_areas_and_channels(world: World) -> None:
    await world.subscribe([("telegram", "t1", "Thôn 1"), ("telegram", "t2", "Thôn 2"), ("zalo", "z1", "Thôn 1"),
                           ("zalo", "z2", "Tổ dân phố 1"), ("web", "w1", "Thôn 2"), ("telegram", "gone", "Thôn 1")])
    async with world.runtime.sessions() as session, session.begin():
        gone = await session.scalar(select(Identity).where(Identity.external_id == "gone"))
        assert gone is not None
        gone.active = False
        # Someone who wrote to the bot but never subscribed.
        session.add(Identity(resident_id=gone.resident_id, channel="zalo", external_id="never"))

    async def who(**audience: Any) -> list[str]:
        campaign_id = await world.campaign(**audience)
        async with world.runtime.sessions() as session:
            campaign = await campaigns.get_campaign(session, campaign_id)
            assert campaign is not None
            return sorted(r.external_id for r in await campaigns.audience(session, campaign))

    assert await who() == ["t1", "t2", "w1", "z1", "z2"]
    assert await who(areas=("Thôn 1",)) == ["t1", "z1"]
    assert await who(channels=("zalo",)) == ["z1", "z2"]
    assert await who(areas=("Thôn 1", "Thôn 2"), channels=("telegram", "web")) == ["t1", "t2", "w1"]


async def test_an_occurrence_fires_once_with_one_row_per_recipient(world: World) -> None:
    await world.subscribe([("telegram", f"u{i}", "Thôn 1") for i in range(5)])
    campaign_id = await world.campaign()
    when = world.clock.now()
    assert await world.fire(campaign_id, when) is not None
    assert await world.fire(campaign_id, when) is None  # the same occurrence again: nothing
    assert await outbox_rows(world) == 5
    async with world.runtime.sessions() as session:
        priorities = set((await session.scalars(select(OutboxMessage.priority))).all())
    assert priorities == {campaigns.BROADCAST_PRIORITY}
    assert await world.campaign_status(campaign_id) == "sending"


async def test_invalid_campaigns_are_refused_in_vietnamese() -> None:
    hanoi = ZoneInfo("Asia/Ho_Chi_Minh")
    now = HANOI_8AM
    cases = {
        "Thiếu tiêu đề": campaigns.CampaignSpec("  ", "x", "api"),
        "Thiếu nội dung": campaigns.CampaignSpec("T", "", "api"),
        "Kênh không hợp lệ": campaigns.CampaignSpec("T", "x", "api", channels=("sms",)),
        "Lịch lặp lại không hợp lệ": campaigns.CampaignSpec("T", "x", "api", recurrence="mỗi sáng"),
        "Chỉ chiến dịch lặp lại": campaigns.CampaignSpec("T", "x", "api", until=now + timedelta(days=1)),
        "phải sau": campaigns.CampaignSpec("T", "x", "api", recurrence="0 8 * * *", send_at=now, until=now),
        "Liên kết": campaigns.CampaignSpec("T", "x", "api", link_url="javascript:alert(1)"),
    }
    for expected, spec in cases.items():
        with pytest.raises(campaigns.CampaignError, match=expected):
            campaigns.validate(spec, now, hanoi)
    ok = campaigns.validate(campaigns.CampaignSpec("T", "x", "api"), now, hanoi)
    assert ok.send_at == now  # no time given: now


# ---- schedules --------------------------------------------------------------------------------------------------


async def test_a_one_shot_campaign_fires_at_its_time_and_never_again_even_after_a_restart(world: World) -> None:
    at(world, 0)
    campaign_id = await world.campaign(send_at=at(world, 30))
    at(world, 0)
    scheduler = CampaignScheduler(world.runtime)
    assert await scheduler.sync() == []
    assert scheduler.planned == {campaign_id: HANOI_8AM + timedelta(minutes=30)}

    at(world, 31)  # the process was down at 08:30: the start-up sweep fires it
    assert len(await scheduler.sync()) == 1
    restarted = CampaignScheduler(world.runtime)
    assert await restarted.sync() == []
    assert await runs(world, campaign_id) == [HANOI_8AM + timedelta(minutes=30)]
    assert restarted.planned == {}


async def test_a_recurrence_fires_each_occurrence_and_after_downtime_only_the_latest_missed(world: World) -> None:
    at(world, 0)
    campaign_id = await world.campaign(recurrence="*/10 * * * *", until=HANOI_8AM + timedelta(hours=1))
    scheduler = CampaignScheduler(world.runtime)
    await scheduler.sync()
    assert await runs(world, campaign_id) == [HANOI_8AM]  # 08:00 is an occurrence and it is now
    assert scheduler.planned[campaign_id] == HANOI_8AM + timedelta(minutes=10)

    at(world, 10)
    await scheduler.sync()
    at(world, 37)  # down from 08:11 to 08:37: 08:20 and 08:30 fell due; only 08:30 is sent
    restarted = CampaignScheduler(world.runtime)
    await restarted.sync()
    assert await runs(world, campaign_id) == [HANOI_8AM + timedelta(minutes=m) for m in (0, 10, 30)]
    assert restarted.planned[campaign_id] == HANOI_8AM + timedelta(minutes=40)

    # Runs finish; after the last occurrence (09:00) the campaign is done and nothing is planned.
    sender = world.sender()
    await sender.drain()
    assert await world.campaign_status(campaign_id) == "scheduled"
    at(world, 61)
    await restarted.sync()
    assert (await runs(world, campaign_id))[-1] == HANOI_8AM + timedelta(hours=1)
    await sender.drain()
    assert await world.campaign_status(campaign_id) == "done"
    await restarted.sync()
    assert restarted.planned == {}


async def test_cron_times_are_in_the_commune_time_zone(world: World) -> None:
    at(world, -120)  # 06:00 Hà Nội
    campaign_id = await world.campaign(recurrence="0 8 * * *")
    scheduler = CampaignScheduler(world.runtime)
    await scheduler.sync()
    assert scheduler.planned[campaign_id] == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 08:00 +07:00
    assert await runs(world, campaign_id) == []


async def test_apscheduler_wakes_a_campaign_and_the_sender_is_told(world: World) -> None:
    world.runtime.now = lambda: datetime.now(UTC)
    await world.subscribe([("telegram", "u1", "Thôn 1")])
    woken = asyncio.Event()
    scheduler = CampaignScheduler(world.runtime, on_fired=woken.set)
    await scheduler.start()
    try:
        campaign_id = await world.campaign(send_at=datetime.now(UTC) + timedelta(seconds=0.4))
        await scheduler.refresh(campaign_id)
        assert campaign_id in scheduler.planned
        await asyncio.wait_for(woken.wait(), timeout=5)
        assert len(await runs(world, campaign_id)) == 1
        assert await outbox_rows(world) == 1
    finally:
        await scheduler.stop()


# ---- the staff API ----------------------------------------------------------------------------------------------


@pytest.fixture
async def api(world: World) -> AsyncIterator[tuple[TestClient[Any, Any], World, CampaignScheduler]]:
    scheduler = CampaignScheduler(world.runtime)
    app = build_app(world.runtime, [CampaignApi(world.runtime, on_change=scheduler.refresh).mount])
    async with TestClient(TestServer(app)) as client:
        yield client, world, scheduler


AUTH = {"Authorization": "Bearer bi-mat-123"}


async def test_the_api_needs_the_admin_token(api: tuple[TestClient[Any, Any], World, CampaignScheduler]) -> None:
    client, _, _ = api
    response = await client.get("/api/campaigns/1")
    assert response.status == 401 and "Authorization" in (await response.json())["error"]
    response = await client.get("/api/campaigns/1", headers={"Authorization": "Bearer sai"})
    assert response.status == 403
    response = await client.post("/api/campaigns", json={"title": "x", "text": "y"},
                                 headers={"Authorization": "Basic abc"})
    assert response.status == 401


async def test_without_a_configured_token_the_api_says_so(sqlite_url: str) -> None:
    w = await build_world(sqlite_url)
    try:
        app = build_app(w.runtime, [CampaignApi(w.runtime).mount])
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/api/campaigns/1", headers={"Authorization": "Bearer x"})
            assert response.status == 503
            assert "TROLY_ADMIN_TOKEN" in (await response.json())["error"]
    finally:
        await w.runtime.close()


async def test_the_api_validates_in_vietnamese(api: tuple[TestClient[Any, Any], World, CampaignScheduler]) -> None:
    client, _, _ = api
    bad = [
        (b"{not json", "JSON"),
        (b'["a"]', "đối tượng JSON"),
        (b'{"title": "T"}', "Thiếu nội dung"),
        (b'{"title": "T", "text": "x", "send_at": "mai"}', "Thời gian send_at"),
        (b'{"title": "T", "text": "x", "audience": {"areas": "Th\xc3\xb4n 1"}}', "audience.areas"),
        (b'{"title": "T", "text": "x", "recurrence": "* *"}', "Lịch lặp lại"),
        # A misspelt area would reach nobody without a word: the commune's own list is named instead.
        ('{"title": "T", "text": "x", "audience": {"areas": ["Thôn 1", "Thon Mot"]}}'.encode(),
         "Khu vực không có trong danh sách của xã/phường: Thon Mot"),
        # A misspelt field would leave the audience empty, which is everyone: refused, not ignored.
        ('{"title": "T", "text": "x", "area": ["Thôn 1"]}'.encode(), "Không có trường area"),
        ('{"title": "T", "text": "x", "audience": {"area": ["Thôn 1"]}}'.encode(), "Không có trường audience.area"),
    ]
    for body, message in bad:
        response = await client.post("/api/campaigns", data=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status == 400, body
        assert message in (await response.json())["error"], body
    response = await client.get("/api/campaigns/999", headers=AUTH)
    assert response.status == 404


async def test_create_send_show_counts_and_cancel_over_the_api(
    api: tuple[TestClient[Any, Any], World, CampaignScheduler],
) -> None:
    client, world, _ = api
    await world.subscribe([("telegram", f"u{i}", "Thôn 1") for i in range(4)] + [("zalo", "z1", "Thôn 1")])
    world.zalo.rules.append(lambda m, n: campaigns_outside())
    response = await client.post("/api/campaigns", headers=AUTH, json={
        "title": "Hạn liên kết tài khoản BHXH", "text": "Trước ngày 15/12.",
        "audience": {"areas": ["Thôn 1"], "channels": []}, "send_at": None,
    })
    assert response.status == 201
    created = await response.json()
    assert created["status"] == "sending"  # no time given: fired at once through the scheduler hook
    await world.sender().drain()
    shown = await (await client.get(f"/api/campaigns/{created['id']}", headers=AUTH)).json()
    assert shown["status"] == "done"
    assert shown["counts"] == {"pending": 0, "sent": 4, "blocked": 0, "outside_window": 1, "failed": 0,
                               "uncertain": 0, "cancelled": 0}
    response = await client.post(f"/api/campaigns/{created['id']}/cancel", headers=AUTH)
    assert response.status == 409  # already done

    later = await (await client.post("/api/campaigns", headers=AUTH, json={
        "title": "Tuần lễ VNeID", "text": "Mỗi sáng thứ Hai.", "audience": {}, "recurrence": "0 8 * * 1",
        "send_at": "2027-01-04T08:00", "until": "2027-03-01T00:00",
    })).json()
    assert later["status"] == "scheduled" and later["send_at"] == "2027-01-04T01:00:00+00:00"  # naive = Hà Nội
    cancelled = await (await client.post(f"/api/campaigns/{later['id']}/cancel", headers=AUTH)).json()
    assert cancelled["status"] == "cancelled"


async def test_a_draft_is_previewed_to_its_author_and_sent_only_once_scheduled(
    api: tuple[TestClient[Any, Any], World, CampaignScheduler],
) -> None:
    client, world, _ = api
    await world.subscribe([("telegram", f"u{i}", "Thôn 1") for i in range(3)])
    draft = await (await client.post("/api/campaigns", headers=AUTH, json={
        "title": "Ngày hội VNeID", "text": "Sáng thứ Bảy tại nhà văn hoá.", "audience": {}, "send_at": None,
        "author": "telegram:staff-1", "draft": True,
    })).json()
    assert draft["status"] == "draft"
    await world.sender().drain()
    assert list(world.telegram.users()) == ["staff-1"]  # only the preview went out
    preview = world.telegram.received[-1][1]
    assert preview.text.startswith(f"Xem trước chiến dịch #{draft['id']} (bản nháp)")
    assert "Ngày hội VNeID" in preview.text and "/huy" in preview.text

    response = await client.post(f"/api/campaigns/{draft['id']}/schedule", headers=AUTH)
    assert response.status == 200 and (await response.json())["status"] == "sending"
    await world.sender().drain()
    # each resident once; the author had the preview and now the delivery report
    assert world.telegram.users() == {"staff-1": 2, "u0": 1, "u1": 1, "u2": 1}
    report = [m for _, m in world.telegram.received if m.user_id == "staff-1"][-1]
    assert not report.text.startswith("Xem trước") and "3" in report.text
    assert (await client.post(f"/api/campaigns/{draft['id']}/schedule", headers=AUTH)).status == 409


def campaigns_outside() -> Any:
    from bot.channels.base import Delivery, Result

    return Delivery(Result.OUTSIDE_WINDOW)


# ---- the commands ---------------------------------------------------------------------------------------------


def run_troly(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        troly(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_subscribers_import_is_all_or_nothing_and_export_round_trips(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TROLY_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("channel,user_id,area\ntelegram,1,Thôn 1\nsms,2,Thôn 1\nzalo,,Thôn 2\nzalo,3,Thôn 9\n"
                   "telegram,1,Thôn 2\n", encoding="utf-8")
    code, out, err = run_troly(["subscribers", "import", str(bad)], capsys)
    assert code == 1
    for line in ("dòng 3", "dòng 4", "dòng 5", "dòng 6"):
        assert line in err
    assert "LỖI dòng 2" not in err and "đã có ở dòng 2" in err and "Không nhập gì: 4 dòng lỗi" in err
    code, out, _ = run_troly(["subscribers", "export"], capsys)
    assert out == "channel,user_id,area\n"  # nothing half-imported

    good = tmp_path / "good.csv"
    good.write_text("\ufeffchannel,user_id,area\ntelegram,1,Thôn 1\nzalo,2,Tổ dân phố 2\n", encoding="utf-8")
    code, out, _ = run_troly(["subscribers", "import", str(good)], capsys)
    assert code == 0 and "2 người mới" in out
    code, out, _ = run_troly(["subscribers", "import", str(good)], capsys)
    assert "2 không đổi" in out
    code, out, _ = run_troly(["subscribers", "export"], capsys)
    assert out == "channel,user_id,area\ntelegram,1,Thôn 1\nzalo,2,Tổ dân phố 2\n"


def test_campaign_commands(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TROLY_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_troly(["campaign", "create", "--title", "T", "--text", "x", "--channel", "sms"], capsys)
    assert code == 2 and "Kênh không hợp lệ" in err
    code, _, err = run_troly(["campaign", "create", "--title", "T", "--text", "x", "--area", "Thôn Chín"], capsys)
    assert code == 2 and "Thôn Chín" in err and "Thôn 1" in err
    code, out, _ = run_troly(["campaign", "create", "--title", "Cảnh báo lừa đảo", "--text", "Không cung cấp OTP.",
                              "--area", "Thôn 1", "--send-at", "2030-01-01T08:00"], capsys)
    assert code == 0 and "#1" in out
    code, out, _ = run_troly(["campaign", "list"], capsys)
    assert "Cảnh báo lừa đảo" in out and "2030-01-01 08:00" in out
    code, out, _ = run_troly(["campaign", "show", "1"], capsys)
    assert "khu vực Thôn 1" in out and "Tổng: Đang chờ gửi: 0 · Đã gửi: 0" in out
    code, out, _ = run_troly(["campaign", "cancel", "1"], capsys)
    assert code == 0 and "Đã huỷ" in out
    code, out, _ = run_troly(["campaign", "show", "1"], capsys)
    assert "đã huỷ (cancelled)" in out
    code, _, err = run_troly(["campaign", "show", "7"], capsys)
    assert code == 1 and "#7" in err
    code, out, _ = run_troly(["campaign", "create", "--title", "Nháp", "--text", "Chưa gửi.", "--draft",
                              "--author", "telegram:42"], capsys)
    assert code == 0 and "#2" in out
    code, out, _ = run_troly(["campaign", "show", "2"], capsys)
    assert "nháp" in out.lower()
    assert run_troly(["campaign", "schedule", "2"], capsys)[0] == 0
    assert run_troly(["campaign", "schedule", "2"], capsys)[0] == 1  # no longer a draft


async def test_runs_reach_done_through_the_sender(world: World) -> None:
    """A run with nobody in its audience still finishes (and its campaign with it)."""
    campaign_id = await world.campaign(areas=("Thôn 2",))
    await world.fire(campaign_id)
    sender = OutboxSender(world.runtime, {}, rate=25, clock=world.clock.monotonic, sleep=world.clock.sleep)
    assert len(await sender.finish_runs()) == 1
    assert await world.campaign_status(campaign_id) == "done"
    async with world.runtime.sessions() as session:
        assert await session.scalar(select(CampaignRun.status)) == "done"


def test_the_cli_speaks_to_the_operator_in_vietnamese(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TROLY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("TROLY_TIMEZONE", "Asia/Ho_Chi_Minh")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_troly(["faq"], capsys)  # a group alone shows its own actions, not the top-level list
    assert code == 2 and "check" in out and "serve" not in out
    code, out, _ = run_troly(["role", "list"], capsys)
    assert code == 0 and "Chưa ai được cấp vai trò" in out
    assert run_troly(["role", "grant", "staff", "telegram:42"], capsys)[0] == 0
    code, out, _ = run_troly(["role", "list"], capsys)
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert f"cấp {today:%d/%m/%Y}" in out  # the commune's date, as on the dashboard
    code, out, _ = run_troly(["retention"], capsys)
    assert code == 0 and "Nội dung tin nhắn đã xoá: 0" in out and "{" not in out
    code, out, _ = run_troly(["campaign", "create", "--title", "Họp", "--text", "Họp thôn", "--draft"], capsys)
    assert code == 0 and "nháp" in out and "troly campaign schedule" in out and "sẽ gửi theo lịch" not in out


def test_area_names_are_taken_as_the_commune_spells_them_and_excel_semicolons_are_read() -> None:
    from bot.cli_campaigns import read_subscribers

    areas = ("Thôn 1", "Tổ dân phố 3")
    rows, problems = read_subscribers("channel;user_id;area\nzalo;123;thôn  1\ntelegram;456;TỔ DÂN PHỐ 3\n", areas)
    assert problems == []
    assert [(r.channel, r.user_id, r.area) for r in rows] == [("zalo", "123", "Thôn 1"),
                                                              ("telegram", "456", "Tổ dân phố 3")]
    _, problems = read_subscribers("channel,user_id,area\nzalo,123,Thôn Một\n", areas)
    assert problems and "Thôn Một" in problems[0]

    spec = campaigns.validate(campaigns.CampaignSpec("T", "x", "api", areas=("thôn 1", "Thôn 1")), HANOI_8AM,
                              ZoneInfo("Asia/Ho_Chi_Minh"), known_areas=areas)
    assert spec.areas == ("Thôn 1",)


async def test_a_stop_lets_the_campaign_job_in_progress_finish(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM while a campaign fires: the job waits on the campaign row (held here). Cut there, its PostgreSQL
    connection broke with a logged error; it now finishes, and fires once."""
    world = await build_world(postgres_url)
    try:
        world.runtime.now = lambda: datetime.now(UTC)
        await world.subscribe([("telegram", "u1", "Thôn 1")])
        scheduler = CampaignScheduler(world.runtime)
        await scheduler.start()
        campaign_id = await world.campaign(send_at=datetime.now(UTC) + timedelta(seconds=1.5))
        await scheduler.refresh(campaign_id)
        async with holder(postgres_url) as held:
            await held.execute("BEGIN; SELECT id FROM campaigns FOR UPDATE")  # what firing takes first
            await until_a_statement_waits(held, "the campaign job reached the campaign row")
            with caplog.at_level(logging.ERROR):
                await stop_while_held(held, scheduler.stop())
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert len(await runs(world, campaign_id)) == 1 and await outbox_rows(world) == 1
    finally:
        await world.runtime.close()
