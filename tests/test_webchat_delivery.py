"""What reaches a web chat outside the resident's own turn: a campaign broadcast, a volunteer's answer. The page has
no push: it shows what is stored for it, so such messages must be stored, once, and a resident who comes back
must see what arrived while the page was closed. Real aiohttp server, real SQLite and PostgreSQL; the page itself in
Chromium (skipped without it, as in tests/test_admin_browser.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.assembly import assemble
from bot.channels import webchat
from bot.channels.base import Result
from bot.handoff_timers import HandoffTimers
from bot.outbox.sender import OutboxSender
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.server import Server
from bot.settings import load_settings
from bot.store import migrate, roles
from bot.store.models import Message
from bot.web.app import build_app
from handlers.messages import Incoming, Kind, Outgoing
from tests.conftest import free_port
from tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, browser_ready  # noqa: F401 (a fixture)

GROUP = "-1009876"
ADMIN = {"Authorization": "Bearer bi-mat-web-123"}
GREETING = "Tôi là Trợ lý số"
VOLUNTEER_WORDS = "Chào bác, sáng mai bác mang căn cước ra nhà văn hoá nhé"


def settings(database_url: str, **extra: Any) -> Any:
    return load_settings(TROLY_DATABASE_URL=database_url, TROLY_ADMIN_TOKEN="bi-mat-web-123",
                         TELEGRAM_VOLUNTEER_CHAT_ID=GROUP, TROLY_COMMUNE_NAME="UBND phường Hoà Bình", **extra)


@dataclass
class Web:
    client: TestClient[Any, Any]
    runtime: Runtime
    pipeline: Pipeline
    outbox: OutboxSender

    async def say(self, **body: Any) -> dict[str, Any]:
        response = await self.client.post("/chat/api/messages", json=body)
        assert response.status == 200
        return dict(await response.json())

    async def read(self, after: int = 0) -> list[dict[str, Any]]:
        response = await self.client.get("/chat/api/messages", params={"after": str(after)})
        assert response.status == 200
        return list((await response.json())["messages"])

    async def cookie(self) -> str:
        """The resident's session cookie: the secret that opens their conversation."""
        cookies = self.client.session.cookie_jar.filter_cookies(self.client.make_url("/chat/"))
        return cookies["troly_chat"].value

    async def token(self) -> str:
        """The resident's web chat id, as the rest of the product knows it: a hash of the cookie."""
        return webchat.external_id(await self.cookie())

    async def stored_out(self) -> list[str]:
        async with self.runtime.sessions() as session:
            return [t or "" for t in await session.scalars(
                select(Message.text).where(Message.direction == "out").order_by(Message.id))]


async def start(runtime: Runtime) -> tuple[Pipeline, OutboxSender, list[Any], list[Any]]:
    """Migrated, a volunteer granted, and what `troly serve` would run."""
    await migrate.upgrade(runtime.engine)
    async with runtime.sessions() as session, session.begin():
        await roles.grant(session, "volunteer", "telegram:v1", "test")
    services, mounts = assemble(runtime)
    pipeline = next(s for s in services if isinstance(s, HandoffTimers)).pipeline
    outbox = next(s for s in services if isinstance(s, OutboxSender))
    return pipeline, outbox, list(services), list(mounts)


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[Web]:
    runtime = Runtime.build(settings(database_url))
    pipeline, outbox, _, mounts = await start(runtime)
    async with TestClient(TestServer(build_app(runtime, mounts))) as client:
        yield Web(client, runtime, pipeline, outbox)
    await runtime.close()


async def volunteer_answers(pipeline: Pipeline, ticket: int = 1) -> None:
    """Volunteer v1 claims the ticket in the group, then writes to the resident from the private chat."""
    await pipeline.receive(Incoming("telegram", "v1", Kind.BUTTON, text=f"claim:{ticket}", display_name="Nguyễn An",
                                    chat_id=GROUP))
    await pipeline.receive(Incoming("telegram", "v1", Kind.TEXT, text=VOLUNTEER_WORDS, display_name="Nguyễn An"))


# ---- broadcasts ------------------------------------------------------------------------------------------------


async def test_a_broadcast_reaches_a_web_subscriber_once(web: Web) -> None:
    listing = (await web.say(text="dang ky nhan tin"))["messages"][0]
    area = next(b["payload"] for b in listing["buttons"] if b["title"] == "Thôn 1")
    subscribed = await web.say(payload=area)
    replies_so_far = await web.stored_out()
    assert len(replies_so_far) == 2

    response = await web.client.post("/api/campaigns", headers=ADMIN, json={
        "title": "Ngày hội VNeID", "text": "Sáng thứ Bảy tại nhà văn hoá.", "send_at": None,
        "audience": {"areas": ["Thôn 1"], "channels": ["web"]},
        "link_url": "https://vneid.gov.vn/huong-dan", "link_title": "Xem hướng dẫn",
    })
    assert response.status == 201
    campaign = await response.json()
    await web.outbox.drain()

    shown = await (await web.client.get(f"/api/campaigns/{campaign['id']}", headers=ADMIN)).json()
    assert shown["status"] == "done" and shown["counts"]["sent"] == 1
    # The page's polling shows it, once, with its link; the resident's own replies are not stored twice.
    after_subscribing = await web.read(after=subscribed["cursor"])
    assert len(after_subscribing) == 1
    assert "Ngày hội VNeID" in after_subscribing[0]["html"] and "UBND phường Hoà Bình" in after_subscribing[0]["html"]
    assert '<a href="https://vneid.gov.vn/huong-dan">' in after_subscribing[0]["html"]
    everything = [m["html"] for m in await web.read(after=0)]
    assert len(everything) == 3 and sum("Ngày hội VNeID" in h for h in everything) == 1
    assert (await web.stored_out())[:2] == replies_so_far


async def test_a_chat_that_was_erased_or_never_existed_is_not_reported_as_sent(web: Web) -> None:
    # Whatever the outbox sends to the web chat (a broadcast, a delivery report) goes through this sender.
    sender = web.outbox.senders["web"]
    nobody = await sender.send(Outgoing("web", "khong-co-phien-chat-nao-nhu-vay", "Thông báo"))
    assert nobody.result is Result.BLOCKED

    await web.say(text="dang ky nhan tin")
    token = await web.token()
    assert (await sender.send(Outgoing("web", token, "Thông báo trước khi xoá"))).result is Result.SENT
    await web.say(text="xoá dữ liệu của tôi")
    erased = await web.say(payload="erase:yes")
    assert erased["messages"], "the confirmation still goes back in the HTTP answer"
    after = await sender.send(Outgoing("web", token, "Thông báo sau khi xoá"))
    assert after.result is Result.BLOCKED
    async with web.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0  # nothing of theirs stayed

    metrics = await (await web.client.get("/metrics")).text()
    # The erase confirmation was shown in the HTTP answer: a delivery, not a "blocked".
    assert 'troly_deliveries_total{channel="web",result="blocked"}' not in metrics


# ---- what arrived while the page was closed ------------------------------------------------------------------------


async def test_a_volunteer_answer_is_in_the_history_a_returning_page_loads(web: Web) -> None:
    empty = await (await web.client.get("/chat/api/history")).json()
    assert empty == {"messages": [], "cursor": 0}  # a first visit: the page greets with /start

    await web.say(text="/start")
    await web.say(text="gặp người hỗ trợ")
    await volunteer_answers(web.pipeline)  # while the page is closed

    history = await (await web.client.get("/chat/api/history")).json()
    shown = [(m["from"], m["html"]) for m in history["messages"]]
    assert ("me", "gặp người hỗ trợ") in shown
    assert sum(VOLUNTEER_WORDS in html for _, html in shown) == 1
    assert sum(GREETING in html for _, html in shown) == 1
    assert not any("/start" in html or "Phiếu #" in html for _, html in shown)  # no command, no volunteers' post
    assert history["cursor"] >= max(m["id"] for m in history["messages"])
    assert await web.read(after=history["cursor"]) == []
    assert sum(VOLUNTEER_WORDS in t for t in await web.stored_out()) == 1  # stored by the pipeline only


async def test_what_arrived_since_the_page_last_looked_comes_with_the_next_answer(web: Web) -> None:
    greeted = await web.say(text="/start")
    asked = await web.say(text="gặp người hỗ trợ", after=greeted["cursor"])
    # Only what is addressed to the resident: the ticket's post is for the volunteers' group.
    assert len(asked["messages"]) == 1 and "Phiếu #" not in asked["messages"][0]["html"]
    await volunteer_answers(web.pipeline)

    # The resident writes again before the page's next poll: the volunteer's answer is not skipped.
    answer = await web.say(text="dạ cảm ơn", after=asked["cursor"])
    texts = [m["html"] for m in answer["messages"]]
    assert VOLUNTEER_WORDS in texts[0]
    assert answer["messages"][0]["from"] == "bot" and answer["messages"][0]["id"] > asked["cursor"]
    assert await web.read(after=answer["cursor"]) == []


# ---- the page, in a real browser ---------------------------------------------------------------------------------


@dataclass
class Phone:
    """A real server and a phone-sized Chromium on it."""

    runtime: Runtime
    pipeline: Pipeline
    base: str
    context: Any  # playwright's BrowserContext
    problems: list[str]

    async def open_chat(self) -> Any:
        """A new tab on /chat, once the page has greeted (or shown the conversation so far)."""
        page = await self.context.new_page()
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        await page.goto(f"{self.base}/chat")
        await page.wait_for_selector(".msg.bot")
        return page


@asynccontextmanager
async def phone_chat(sqlite_url: str) -> AsyncIterator[Phone]:
    from playwright.async_api import async_playwright

    runtime = Runtime.build(settings(sqlite_url, TROLY_HTTP_HOST="127.0.0.1", TROLY_HTTP_PORT=str(free_port())))
    pipeline, _, services, mounts = await start(runtime)
    server = Server(runtime, services, mounts)
    await server.start()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport=PHONE, locale="vi-VN")
            try:
                yield Phone(runtime, pipeline, f"http://127.0.0.1:{server.port}", context, [])
            finally:
                await browser.close()
    finally:
        await server.stop()


async def test_a_returning_resident_sees_the_answer_without_a_second_greeting(browser_ready: None,  # noqa: F811
                                                                             sqlite_url: str) -> None:
    async with phone_chat(sqlite_url) as phone:
        page = await phone.open_chat()
        await page.wait_for_selector(f".msg.bot:has-text('{GREETING}')")
        assert "UBND phường Hoà Bình" in await page.inner_text("header")
        assert await page.is_visible("label[for=text]")
        sizes = await page.evaluate("""() => {
            const px = (el) => parseFloat(getComputedStyle(el).fontSize);
            return {body: px(document.body), button: px(document.querySelector('.buttons button')),
                    subtitle: px(document.querySelector('header p')),
                    label: px(document.querySelector('label[for=text]'))};
        }""")
        assert sizes["body"] >= 20 and min(sizes.values()) >= sizes["body"], sizes
        await page.fill("#text", "gặp người hỗ trợ")
        await page.press("#text", "Enter")
        await page.wait_for_selector(".msg.bot:has-text('ngay tại cuộc trò chuyện này')")
        await page.close()

        await volunteer_answers(phone.pipeline)  # the next morning, the page closed

        page = await phone.open_chat()
        await page.wait_for_selector(f".msg.bot:has-text('{VOLUNTEER_WORDS}')")
        log = await page.inner_text("#log")
        assert log.count(GREETING) == 1 and "gặp người hỗ trợ" in log
        assert log.index("Tin nhắn mới") < log.index(VOLUNTEER_WORDS)
        await page.wait_for_timeout(5500)  # one poll: nothing shown twice
        assert (await page.inner_text("#log")).count(VOLUNTEER_WORDS) == 1
        assert phone.problems == []
        async with phone.runtime.sessions() as session:
            greetings = await session.scalars(select(Message.text).where(Message.direction == "out"))
            assert sum(GREETING in (t or "") for t in greetings) == 1  # the reload did not greet again
