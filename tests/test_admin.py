"""The staff dashboard and /api/stats through the real aiohttp application, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.channels.base import Delivery, Result
from bot.channels.webchat import WebChat
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import faq_edits, migrate, roles
from bot.store.models import (
    AuditEntry,
    Campaign,
    CampaignRun,
    FaqEdit,
    FaqProposal,
    Feedback,
    Identity,
    Message,
    OutboxMessage,
    Resident,
    Subscription,
    Ticket,
)
from bot.web.admin import ADMIN, Dashboard
from bot.web.app import build_app
from faq.content import load_content
from handlers.messages import Incoming, Kind, Outgoing

TOKEN = "test-admin-token-3f9a1c"
# Monday 23/11/2026, 10:00 in Hà Nội.
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
GARBAGE = "thu gom rác mấy giờ"


@dataclass
class Recorder:
    channel: str
    sent: list[Outgoing] = field(default_factory=list)

    async def send(self, message: Outgoing) -> Delivery:
        self.sent.append(message)
        return Delivery(Result.SENT, detail=str(len(self.sent)))


@dataclass
class Env:
    runtime: Runtime
    client: TestClient
    pipeline: Pipeline
    web: Recorder
    clock: list[datetime]

    async def ask(self, text: str, user: str = "r1", kind: Kind = Kind.TEXT) -> list[Outgoing]:
        self.clock[0] += timedelta(seconds=5)
        return list(await self.pipeline.receive(Incoming("web", user, kind, text=text, received_at=self.clock[0])))

    async def sign_in(self, name: str = "Chị Lan") -> str:
        """Sign in; returns the session's CSRF token."""
        page = await self.client.get("/admin/login")
        response = await self.client.post(
            "/admin/login", data={"token": TOKEN, "name": name, "csrf": csrf_of(await page.text())},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        overview = await self.client.get("/admin/")
        assert overview.status == 200
        return csrf_of(await overview.text())


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def build_env(database_url: str, **settings: Any) -> Env:
    clock = [NOW]
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=database_url, TROLY_ADMIN_TOKEN=TOKEN, **settings))
    runtime.now = lambda: clock[0]
    await migrate.upgrade(runtime.engine)
    web = Recorder("web")
    pipeline = Pipeline(runtime, {"web": web})
    app = build_app(runtime, [WebChat(runtime, pipeline).mount, Dashboard().mount])
    client = TestClient(TestServer(app))
    await client.start_server()
    return Env(runtime, client, pipeline, web, clock)


@pytest.fixture
async def env(sqlite_url: str) -> AsyncIterator[Env]:
    built = await build_env(sqlite_url)
    yield built
    await built.client.close()
    await built.runtime.close()


@pytest.fixture
async def any_env(database_url: str) -> AsyncIterator[Env]:
    built = await build_env(database_url)
    yield built
    await built.client.close()
    await built.runtime.close()


# ---- sign-in, sessions, CSRF, headers ----------------------------------------------------------------------------


async def test_sign_in_sets_a_strict_http_only_session_and_sign_out_ends_it(env: Env) -> None:
    response = await env.client.get("/admin/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/admin/login?next=/admin/"
    page = await env.client.get("/admin/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    csrf = csrf_of(await page.text())

    wrong = await env.client.post("/admin/login", data={"token": "guess", "csrf": csrf}, allow_redirects=False)
    assert wrong.status == 401 and "troly_admin" not in wrong.cookies
    assert "Mã quản trị không đúng" in await wrong.text()

    right = await env.client.post("/admin/login", data={"token": TOKEN, "csrf": csrf, "name": "Anh Minh",
                                                        "next": "/admin/tickets"}, allow_redirects=False)
    assert right.status == 303 and right.headers["Location"] == "/admin/tickets"
    cookie = right.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("troly_admin="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie and "Path=/admin" in session_cookie
    assert "Secure" not in session_cookie  # TROLY_PUBLIC_URL is not https here

    overview = await env.client.get("/admin/")
    assert overview.status == 200 and "Anh Minh" in await overview.text()
    assert overview.headers["X-Frame-Options"] == "DENY" and overview.headers["Cache-Control"] == "no-store"

    out = await env.client.post("/admin/logout", data={"csrf": csrf_of(await overview.text())},
                                allow_redirects=False)
    assert out.status == 303
    again = await env.client.get("/admin/", allow_redirects=False)
    assert again.status == 303


async def test_an_open_redirect_through_next_is_refused(env: Env) -> None:
    page = await env.client.get("/admin/login")
    response = await env.client.post("/admin/login", data={"token": TOKEN, "csrf": csrf_of(await page.text()),
                                                           "next": "//evil.example/admin/"}, allow_redirects=False)
    assert response.headers["Location"] == "/admin/"


async def test_the_cookie_is_secure_behind_https(sqlite_url: str) -> None:
    env = await build_env(sqlite_url, TROLY_PUBLIC_URL="https://xa.example.gov.vn")
    try:
        page = await env.client.get("/admin/login")
        nonce = page.cookies["troly_admin_login"]
        assert nonce["secure"]
        # The test client talks plain http, so its cookie jar holds Secure cookies back: send it by hand.
        response = await env.client.post("/admin/login", data={"token": TOKEN, "csrf": csrf_of(await page.text())},
                                         headers={"Cookie": f"troly_admin_login={nonce.value}"},
                                         allow_redirects=False)
        assert response.status == 303
        session_cookie = next(c for c in response.headers.getall("Set-Cookie") if c.startswith("troly_admin="))
        assert "Secure" in session_cookie
    finally:
        await env.client.close()
        await env.runtime.close()


async def test_every_form_post_needs_the_session_csrf_token(env: Env) -> None:
    # sign-in itself: without the double-submit cookie's value the form is refused
    refused = await env.client.post("/admin/login", data={"token": TOKEN, "csrf": "forged"}, allow_redirects=False)
    assert refused.status == 403
    csrf = await env.sign_in()
    form = {"action": "save", "id": "dvc.thu-gom-rac", "domain": "dvc", "title": "Lịch thu gom rác",
            "short": "Thu gom rác", "questions": GARBAGE, "answer": "Xe rác đến lúc 17 giờ.",
            "source_title": "UBND xã", "source_url": "https://xa.example.gov.vn", "source_checked": "2026-11"}
    for bad in ({}, {"csrf": "x" * 43}):
        response = await env.client.post("/admin/faq/new", data={**form, **bad})
        assert response.status == 403
    for path in ("/admin/logout", "/admin/tickets/1/reassign", "/admin/proposals/1/reject",
                 "/admin/campaigns/new", "/admin/faq/vneid.overview"):
        assert (await env.client.post(path, data={"csrf": "nope"})).status == 403, path
    async with env.runtime.sessions() as session:
        assert (await session.scalars(select(FaqEdit))).all() == []
    # still signed in, and the right token works
    ok = await env.client.post("/admin/faq/new", data={**form, "csrf": csrf}, allow_redirects=False)
    assert ok.status == 303


async def test_resident_text_is_escaped_everywhere(env: Env) -> None:
    await env.ask("<script>alert('xss')</script> thu gom rác mấy giờ vậy")
    await env.ask("<img src=x onerror=alert(1)> thu gom rác mấy giờ", user="r2")
    await env.sign_in()
    page = await (await env.client.get("/admin/questions")).text()
    assert "&lt;script&gt;alert(" in page and "&lt;img src=x" in page
    assert "<script" not in page and "<img" not in page


# ---- statistics --------------------------------------------------------------------------------------------------


async def _resident(session: Any, user: str, area: str | None = None, channel: str = "zalo") -> tuple[int, int]:
    resident = Resident(display_name=None, created_at=NOW, last_seen_at=NOW)
    identity = Identity(resident=resident, channel=channel, external_id=user, created_at=NOW)
    session.add(identity)
    await session.flush()
    if area:
        session.add(Subscription(identity_id=identity.id, area=area, created_at=NOW))
    return resident.id, identity.id


def _question(identity_id: int, at: datetime, decision: str, faq_id: str | None = None,
              text: str = "câu hỏi") -> Message:
    return Message(identity_id=identity_id, direction="in", author="resident", kind="text", text=text,
                   faq_id=faq_id, decision=decision, created_at=at)


async def seed(runtime: Runtime) -> None:
    """Two days of activity in Hà Nội time, with one message right after local midnight (still 20/11 in UTC)."""
    day1 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 20/11 10:00 local
    day2 = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)  # 21/11 00:30 local
    async with runtime.sessions() as session, session.begin():
        r1, i1 = await _resident(session, "z1", "Thôn 1")
        r2, i2 = await _resident(session, "z2", "Thôn 2")
        r3, i3 = await _resident(session, "z3")
        _, i4 = await _resident(session, "z4", "Thôn 1")
        session.add_all([
            _question(i1, day1, "answer", "vneid.password.forgot"),
            _question(i1, day1 + timedelta(minutes=1), "answer", "vneid.password.forgot"),
            _question(i2, day1, "clarify", "vneid.activate"),
            _question(i2, day1 + timedelta(minutes=2), "chosen", "vneid.activate"),
            _question(i3, day2, "escalate", None, GARBAGE),
            _question(i3, day2 + timedelta(minutes=1), "answer", "pay.vietqr"),
            # not questions: a bot reply, a rate-limited message, and one outside the period
            Message(identity_id=i1, direction="out", author="bot", text="…", created_at=day1),
            _question(i1, day1, "rate_limited"),
            _question(i1, day1 - timedelta(days=5), "answer", "vneid.password.forgot"),
            Feedback(identity_id=i1, faq_id="vneid.password.forgot", helpful=True, created_at=day1),
            Feedback(identity_id=i2, faq_id="vneid.activate", helpful=True, created_at=day1),
            Feedback(identity_id=i3, faq_id="pay.vietqr", helpful=False, created_at=day2),
            Ticket(resident_id=r3, identity_id=i3, status="closed", reason="not_found", created_at=day2,
                   claimed_at=day2 + timedelta(minutes=2), first_response_at=day2 + timedelta(minutes=4),
                   closed_at=day2 + timedelta(minutes=30), rating=5),
            Ticket(resident_id=r1, identity_id=i1, status="closed", reason="asked", created_at=day1,
                   first_response_at=day1 + timedelta(minutes=10), closed_at=day1 + timedelta(hours=2), rating=3),
            Ticket(resident_id=r2, identity_id=i2, status="waiting", reason="asked", created_at=day1),
        ])
        await session.flush()
        campaign = Campaign(title="Nhắc nộp BHYT", text="…", status="done", author="test", created_at=day1)
        session.add(campaign)
        await session.flush()
        run = CampaignRun(campaign_id=campaign.id, scheduled_for=day1, status="done", fired_at=day1)
        session.add(run)
        await session.flush()
        for identity_id, status in ((i1, "sent"), (i2, "sent"), (i4, "blocked")):
            session.add(OutboxMessage(channel="zalo", recipient="x", identity_id=identity_id, run_id=run.id,
                                      payload={}, status=status, created_at=day1))
    assert r1 and r2 and r3


@pytest.mark.parametrize("path", ["/api/stats", "/admin/reports/daily.csv"])
async def test_every_bearer_route_answers_alike_in_readable_vietnamese(env: Env, path: str) -> None:
    """The stats API and a report download check the token as the campaign API does (bot/web/bearer.py)."""
    missing = await env.client.get(path, headers={"Authorization": "Bearer "})
    assert missing.status == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="troly"'
    wrong = await env.client.get(path, headers={"Authorization": "Bearer nope"})
    body = await wrong.text()
    assert wrong.status == 403 and "Mã quản trị không đúng." in body  # readable, not JSON escapes
    right = await env.client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status == 200


async def test_stats_api_figures_from_seeded_data(any_env: Env) -> None:
    await seed(any_env.runtime)
    client = any_env.client
    query = {"from": "2026-11-20", "to": "2026-11-22"}
    assert (await client.get("/api/stats", params=query)).status == 401
    wrong = await client.get("/api/stats", params=query, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403 and "error" in await wrong.json()
    bad = await client.get("/api/stats", params={"from": "20/11/2026"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status == 400
    backwards = await client.get("/api/stats", params={"from": "2026-11-22", "to": "2026-11-20"},
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    assert backwards.status == 400

    response = await client.get("/api/stats", params=query, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    data = await response.json()
    assert data["questions"] == 6
    assert [(d["date"], d["count"]) for d in data["questions_per_day"]] == [
        ("2026-11-20", 4), ("2026-11-21", 2), ("2026-11-22", 0)]
    assert data["decisions"] == {"answer": 3, "clarify": 1, "escalate": 1, "chosen": 1}
    assert data["decision_shares"]["answer"] == pytest.approx(0.5)
    assert data["residents_helped"] == 3
    assert data["feedback"] == {"up": 2, "down": 1, "up_rate": pytest.approx(2 / 3)}
    tickets = data["tickets"]
    assert (tickets["open"], tickets["created"], tickets["closed"]) == (1, 3, 2)
    assert tickets["median_first_response_seconds"] == pytest.approx(420)  # 4 and 10 minutes
    assert tickets["median_resolution_seconds"] == pytest.approx((30 * 60 + 2 * 3600) / 2)
    assert tickets["average_rating"] == pytest.approx(4)
    assert data["subscribers_by_area"] == [{"area": "Thôn 1", "count": 2}, {"area": "Thôn 2", "count": 1}]

    # the overview page shows the same figures, with its charts
    await any_env.sign_in()
    page = await (await client.get("/admin/", params=query)).text()
    assert 'id="stat-questions">6<' in page and "<svg" in page and "21/11: 2 câu hỏi" in page
    assert "Trả lời ngay: <strong>50%</strong>" in page and "7 phút" in page


# ---- the FAQ: unanswered groups, edits that take effect, history, proposals --------------------------------------


async def test_an_faq_entry_created_from_an_unanswered_group_is_used_at_once(env: Env) -> None:
    before = await env.ask(GARBAGE)
    assert "Nguồn:" not in before[0].text  # not answered: offered a person
    await env.ask("thu gom rac may gio vay ad", user="r2")
    await env.ask("vneid quen mat khau", user="r3")  # answered: not listed
    csrf = await env.sign_in()

    page = await (await env.client.get("/admin/questions")).text()
    assert "2 câu hỏi tương tự" in page and "Tạo câu hỏi thường gặp" in page
    draft_fields = dict(re.findall(r'<input type="hidden" name="(id|title|short)" value="([^"]*)"', page))
    questions = re.search(r'<textarea name="questions" hidden>(.*?)</textarea>', page, re.S)
    assert questions and GARBAGE in questions.group(1) and "thu gom rac may gio vay ad" in questions.group(1)
    draft = await env.client.post("/admin/faq/new", data={
        "csrf": csrf, "action": "draft", **draft_fields, "questions": questions.group(1)})
    form = await draft.text()
    assert draft.status == 200 and GARBAGE in form and 'value="dvc.' in form
    assert '<option value="dvc" selected>' in form
    async with env.runtime.sessions() as session:
        assert (await session.scalars(select(FaqEdit))).all() == []  # a draft saves nothing

    entry = {"csrf": csrf, "action": "save", "id": "dvc.thu-gom-rac", "domain": "dvc",
             "title": "Lịch thu gom rác sinh hoạt", "short": "Thu gom rác",
             "questions": f"{GARBAGE}\nthu gom rac may gio vay ad\nxe rác tới lúc nào",
             "answer": "Xe thu gom rác đến mỗi ngày lúc 17 giờ.\nĐể rác trước cửa từ 16 giờ 30.",
             "source_title": "UBND xã", "source_url": "https://xa.example.gov.vn/rac",
             "source_checked": "2026-11", "keywords": "thu gom rác, xe rác"}
    invalid = await env.client.post("/admin/faq/new", data={**entry, "short": "Một tên ngắn quá dài cho nút bấm"})
    assert invalid.status == 400 and "tối đa 20" in await invalid.text()
    saved = await env.client.post("/admin/faq/new", data=entry, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"] == "/admin/faq/dvc.thu-gom-rac?saved=1"

    after = await env.ask(GARBAGE, user="r4")
    assert "**Lịch thu gom rác sinh hoạt**" in after[0].text and "17 giờ" in after[0].text
    assert env.web.sent[-1].text == after[0].text  # delivered through the pipeline's sender
    # the group is gone from the unanswered list: the FAQ answers it now
    page = await (await env.client.get("/admin/questions")).text()
    assert "2 câu hỏi tương tự" not in page and "nay đã có câu trả lời" in page

    # an edit of that entry, and of a packaged entry, both take effect at once
    await env.client.post("/admin/faq/dvc.thu-gom-rac", data={**entry, "answer": "Xe rác đến lúc 18 giờ."})
    assert "18 giờ" in (await env.ask(GARBAGE, user="r5"))[0].text
    packaged = load_content().by_id["vneid.password.forgot"]
    edited = {"csrf": csrf, "action": "save", "domain": packaged.domain, "title": packaged.title,
              "short": packaged.short, "questions": "\n".join(packaged.questions),
              "answer": "Bấm Quên mật khẩu trên màn hình đăng nhập VNeID.", "source_title": packaged.source.title,
              "source_url": packaged.source.url, "source_checked": packaged.source.checked}
    response = await env.client.post("/admin/faq/vneid.password.forgot", data=edited, allow_redirects=False)
    assert response.status == 303
    assert "Bấm Quên mật khẩu trên màn hình" in (await env.ask("vneid quen mat khau", user="r6"))[0].text

    # history keeps both versions of the new entry; the list marks entries
    history = await (await env.client.get("/admin/faq/dvc.thu-gom-rac/history")).text()
    assert history.count("dashboard:Chị Lan") == 2 and "17 giờ" in history and "18 giờ" in history
    listing = await (await env.client.get("/admin/faq", params={"q": "thu gom rac"})).text()
    assert "Lịch thu gom rác sinh hoạt" in listing and "Mới" in listing and "Lấy lại mật khẩu" not in listing

    # a restart loads the edits from the database
    async with env.runtime.sessions() as session:
        content = await faq_edits.effective_content(session, load_content())
    assert content.by_id["dvc.thu-gom-rac"].answer == "Xe rác đến lúc 18 giờ."
    assert content.by_id["vneid.password.forgot"].answer.startswith("Bấm Quên")

    # hiding stops the bot using it; restoring a packaged entry brings back the shipped answer
    await env.client.post("/admin/faq/dvc.thu-gom-rac", data={"csrf": csrf, "action": "hide"})
    assert "Nguồn:" not in (await env.ask(GARBAGE, user="r7"))[0].text
    await env.client.post("/admin/faq/vneid.password.forgot", data={"csrf": csrf, "action": "restore"})
    assert env.runtime.content.by_id["vneid.password.forgot"].answer == packaged.answer
    async with env.runtime.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).where(AuditEntry.target.like("faq:%")))).all()
    assert sorted(actions) == ["faq.edit", "faq.edit", "faq.edit", "faq.hide", "faq.restore"]


async def test_disliked_answers_are_grouped_with_their_entry(env: Env) -> None:
    # A vote is stamped with the wall clock (not the runtime's), so the conversation happens "now".
    env.clock[0] = datetime.now(UTC)
    await env.ask("vneid quen mat khau")
    await env.ask("fb:vneid.password.forgot:0", kind=Kind.BUTTON)
    await env.sign_in()
    page = await (await env.client.get("/admin/questions")).text()
    assert "Câu trả lời bị chê" in page and "vneid quen mat khau" in page
    assert 'href="/admin/faq/vneid.password.forgot"' in page


async def test_proposals_are_accepted_into_the_faq_or_rejected(env: Env) -> None:
    async with env.runtime.sessions() as session, session.begin():
        session.add_all([
            FaqProposal(proposed_by="volunteer:telegram:v1", question="đăng ký xe máy điện ở đâu",
                        answer="Anh/chị đến Công an xã mang theo hoá đơn mua xe."),
            FaqProposal(proposed_by="volunteer:telegram:v1", question="<b>spam</b>", answer="…"),
        ])
    csrf = await env.sign_in()
    page = await (await env.client.get("/admin/proposals")).text()
    assert "đăng ký xe máy điện ở đâu" in page and "&lt;b&gt;spam" in page
    draft = await env.client.post("/admin/faq/new", data={
        "csrf": csrf, "action": "draft", "proposal_id": "1", "questions": "đăng ký xe máy điện ở đâu",
        "answer": "Anh/chị đến Công an xã mang theo hoá đơn mua xe."})
    assert 'name="proposal_id" value="1"' in await draft.text()
    saved = await env.client.post("/admin/faq/new", data={
        "csrf": csrf, "action": "save", "proposal_id": "1", "id": "dvc.xe-may-dien", "domain": "dvc",
        "title": "Đăng ký xe máy điện", "short": "Xe máy điện", "questions": "đăng ký xe máy điện ở đâu",
        "answer": "Anh/chị đến Công an xã mang theo hoá đơn mua xe.", "source_title": "Công an xã",
        "source_url": "https://xa.example.gov.vn", "source_checked": "2026-11"}, allow_redirects=False)
    assert saved.headers["Location"] == "/admin/proposals?done=accepted"
    rejected = await env.client.post("/admin/proposals/2/reject", data={"csrf": csrf}, allow_redirects=False)
    assert rejected.status == 303
    again = await env.client.post("/admin/proposals/2/reject", data={"csrf": csrf})
    assert again.status == 409
    async with env.runtime.sessions() as session:
        states = {p.id: (p.status, p.decided_by) for p in (await session.scalars(select(FaqProposal))).all()}
    assert states == {1: ("accepted", "dashboard:Chị Lan"), 2: ("rejected", "dashboard:Chị Lan")}
    assert "Công an xã mang theo hoá đơn" in (await env.ask("đăng ký xe máy điện ở đâu"))[0].text


# ---- tickets -----------------------------------------------------------------------------------------------------


async def test_tickets_filter_masked_transcript_and_reassign(env: Env) -> None:
    async with env.runtime.sessions() as session, session.begin():
        await roles.grant(session, "volunteer", "telegram:v1", "test")
        await roles.grant(session, "volunteer", "telegram:v2", "test")
        resident, identity = await _resident(session, "z1")
        other, other_identity = await _resident(session, "z2")
        ticket = Ticket(resident_id=resident, identity_id=identity, status="claimed", owner="telegram:v1",
                        reason="not_found", created_at=NOW, claimed_at=NOW)
        closed = Ticket(resident_id=other, identity_id=other_identity, status="closed", reason="asked",
                        created_at=NOW, closed_at=NOW)
        session.add_all([ticket, closed])
        await session.flush()
        # an old row stored before masking existed: the page masks it anyway
        session.add_all([
            Message(identity_id=identity, direction="in", author="resident", text="mật khẩu là Hoa@1975 <b>x</b>",
                    ticket_id=ticket.id, created_at=NOW),
            Message(identity_id=identity, direction="out", author="bot", text="**Tình nguyện viên:** chào bác",
                    ticket_id=ticket.id, created_at=NOW + timedelta(minutes=1)),
        ])
    csrf = await env.sign_in()
    listing = await (await env.client.get("/admin/tickets")).text()
    assert 'href="/admin/tickets/1"' in listing and 'href="/admin/tickets/2"' not in listing
    closed_list = await (await env.client.get("/admin/tickets", params={"status": "closed"})).text()
    assert 'href="/admin/tickets/2"' in closed_list and 'href="/admin/tickets/1"' not in closed_list

    page = await (await env.client.get("/admin/tickets/1")).text()
    assert "Hoa@1975" not in page and "&lt;b&gt;x" in page and "chào bác" in page

    refused = await env.client.post("/admin/tickets/1/reassign", data={"csrf": csrf, "owner": "telegram:999"})
    assert refused.status == 400
    moved = await env.client.post("/admin/tickets/1/reassign", data={"csrf": csrf, "owner": "telegram:v2"},
                                  allow_redirects=False)
    assert moved.status == 303
    closed_refused = await env.client.post("/admin/tickets/2/reassign", data={"csrf": csrf, "owner": "telegram:v2"})
    assert closed_refused.status == 409
    async with env.runtime.sessions() as session:
        ticket = await session.get(Ticket, 1)
        assert ticket is not None and (ticket.owner, ticket.status) == ("telegram:v2", "claimed")
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.reassign"))).one()
        assert audit.actor == "dashboard:Chị Lan"
        assert audit.details == {"previous": "telegram:v1", "owner": "telegram:v2"}
        note = (await session.scalars(select(OutboxMessage))).one()
        assert (note.channel, note.recipient) == ("telegram", "v2") and "phiếu #1" in note.payload["text"]
    # back to the queue
    await env.client.post("/admin/tickets/1/reassign", data={"csrf": csrf, "owner": ""})
    async with env.runtime.sessions() as session:
        ticket = await session.get(Ticket, 1)
        assert ticket is not None and (ticket.owner, ticket.status) == (None, "waiting")


# ---- reports -----------------------------------------------------------------------------------------------------


async def test_reports_per_area_as_csv_and_xlsx(any_env: Env) -> None:
    await seed(any_env.runtime)
    client = any_env.client
    anonymous = await client.get("/admin/reports/daily.csv?date=2026-11-20", allow_redirects=False)
    assert anonymous.status == 303
    # a script may use the bearer token
    response = await client.get("/admin/reports/weekly.csv", params={"date": "2026-11-20"},
                                headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200 and "attachment" in response.headers["Content-Disposition"]
    raw = await response.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["Báo cáo tuần 16/11/2026 – 22/11/2026"]
    header = rows.index(["Tổng hợp theo khu vực"]) + 1
    columns = rows[header]
    assert columns[:3] == ["Khu vực", "Người dân được hỗ trợ", "Số câu hỏi"]
    summary = {row[0]: dict(zip(columns, row, strict=True)) for row in rows[header + 1:header + 5] if row}
    assert summary["Thôn 1"]["Số câu hỏi"] == "2" and summary["Thôn 1"]["Hài lòng (👍)"] == "1"
    assert summary["Chưa rõ"]["Chuyển người hỗ trợ"] == "1" and summary["Chưa rõ"]["Phiếu hỗ trợ mới"] == "1"
    assert summary["Tổng cộng"]["Số câu hỏi"] == "6" and summary["Tổng cộng"]["Người dân được hỗ trợ"] == "3"
    assert summary["Tổng cộng"]["Phản hồi đầu tiên, trung vị (phút)"] == "7"
    assert summary["Tổng cộng"]["Giải quyết xong, trung vị (phút)"] == "75"
    topics = rows.index(["Câu hỏi theo lĩnh vực"]) + 2
    assert ["Thôn 1", "VNeID và thẻ căn cước", "vneid.password.forgot", "Lấy lại mật khẩu VNeID", "2"] in \
        rows[topics:topics + 5]
    reach = rows.index(["Chiến dịch"]) + 1
    assert rows[reach][:4] == ["Mã chiến dịch", "Tiêu đề", "Khu vực", "Đã gửi"]
    by_area = {r[2]: r for r in rows[reach + 1:]}
    assert by_area["Thôn 1"][3:5] == ["1", "1"] and by_area["Thôn 2"][3] == "1"

    await any_env.sign_in()
    response = await client.get("/admin/reports/daily.xlsx", params={"date": "2026-11-20"})
    assert response.status == 200
    book = openpyxl.load_workbook(io.BytesIO(await response.read()))
    assert book.sheetnames == ["Thông tin", "Tổng hợp theo khu vực", "Câu hỏi theo lĩnh vực", "Chiến dịch"]
    sheet = book["Tổng hợp theo khu vực"]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    total = dict(zip(values[0], values[-1], strict=True))
    # 20/11 local: the four questions of day one (the 00:30 one belongs to 21/11)
    assert total["Khu vực"] == "Tổng cộng" and total["Số câu hỏi"] == 4 and total["Phiếu hỗ trợ mới"] == 2
    monthly = await client.get("/admin/reports/monthly.csv", params={"date": "2026-11-05"})
    assert "Báo cáo tháng 01/11/2026 – 30/11/2026" in (await monthly.read()).decode("utf-8-sig")
    assert (await client.get("/admin/reports/daily.csv", params={"date": "hôm qua"})).status == 400
    assert "Báo cáo ngày" in await (await client.get("/admin/reports")).text()


# ---- campaigns ---------------------------------------------------------------------------------------------------


async def test_campaign_created_with_preview_then_cancelled(env: Env) -> None:
    async with env.runtime.sessions() as session, session.begin():
        await _resident(session, "z1", "Thôn 1")
        await _resident(session, "z2", "Thôn 2")
        await _resident(session, "t3", "Thôn 1", channel="telegram")
    refreshed: list[int] = []

    async def hook(campaign_id: int) -> None:
        refreshed.append(campaign_id)

    env.client.app[ADMIN].on_campaign_change = hook
    csrf = await env.sign_in()
    form = {"csrf": csrf, "title": "Nhắc gia hạn BHYT", "text": "Hạn cuối <b>30/11</b>.", "areas": "Thôn 1",
            "when": "at", "send_at": "2026-11-25T08:00", "action": "preview"}
    preview = await env.client.post("/admin/campaigns/new", data=form)
    html = await preview.text()
    assert preview.status == 200 and 'id="preview-recipients">2<' in html
    assert "&lt;b&gt;30/11&lt;/b&gt;" in html and "25/11/2026 08:00" in html
    async with env.runtime.sessions() as session:
        assert (await session.scalars(select(Campaign))).all() == []
    past = await env.client.post("/admin/campaigns/new", data={**form, "send_at": "2026-11-01T08:00"})
    assert past.status == 400
    created = await env.client.post("/admin/campaigns/new", data={**form, "action": "create"},
                                    allow_redirects=False)
    assert created.status == 303 and created.headers["Location"] == "/admin/campaigns/1"
    assert refreshed == [1]
    page = await (await env.client.get("/admin/campaigns/1")).text()
    assert "Đã lên lịch" in page and "Thôn 1" in page
    await env.client.post("/admin/campaigns/1/cancel", data={"csrf": csrf})
    async with env.runtime.sessions() as session:
        campaign = await session.get(Campaign, 1)
        assert campaign is not None and campaign.status == "cancelled" and campaign.author == "dashboard:Chị Lan"
    assert refreshed == [1, 1]
    assert "Nhắc gia hạn BHYT" in await (await env.client.get("/admin/campaigns")).text()


async def test_another_process_picks_up_edits(env: Env) -> None:
    """Two processes on one database: an edit saved by one reaches the other's bot through its watcher."""
    other = Runtime.build(env.runtime.settings)
    watcher = faq_edits.EditWatcher(other.sessions, other.knowledge, load_content(), interval=3600)
    try:
        assert await watcher.check() is False  # no edits yet: the packaged content is the effective one
        packaged = load_content().by_id["pay.vietqr"]
        async with env.runtime.sessions() as session, session.begin():
            faq_edits.hide_entry(session, packaged.id, "test")
        assert await watcher.check() is True
        assert "pay.vietqr" not in other.content.by_id and "pay.vietqr" in env.runtime.content.by_id
    finally:
        await other.close()


def test_unreadable_or_foreign_edits_are_skipped() -> None:
    packaged = load_content()
    entry = faq_edits.entry_to_json(packaged.by_id["vneid.overview"])
    content = faq_edits.apply_edits(packaged, {
        "vneid.overview": {"title": "no source"},  # unreadable: the packaged entry stays
        "pay.vietqr": {**entry, "id": "vneid.overview"},  # names another entry: skipped
        "dvc.moi": {**entry, "id": "dvc.moi", "domain": "nowhere"},  # unknown domain: skipped
        "dvc.rac": {**entry, "id": "dvc.rac", "domain": "dvc", "title": "Rác"},
    })
    assert content.by_id["vneid.overview"] == packaged.by_id["vneid.overview"]
    assert content.by_id["pay.vietqr"] == packaged.by_id["pay.vietqr"]
    assert "dvc.moi" not in content.by_id and content.by_id["dvc.rac"].title == "Rác"
    assert len(content.entries) == len(packaged.entries) + 1
