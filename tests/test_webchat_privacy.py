"""The web chat's cookie is the secret that opens a conversation: it is stored, exported and logged nowhere (the chat
is known by a hash of it), migration 0008 rewrites what earlier versions stored, and a shared phone can forget its
chat ("Xoá cuộc trò chuyện trên máy này"). Real aiohttp server, real SQLite and PostgreSQL, the page in Chromium."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import secrets
from datetime import UTC, datetime
from types import ModuleType

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.assembly import assemble
from bot.channels import webchat
from bot.cli import main
from bot.runtime import Runtime
from bot.store import campaigns, migrate
from bot.store.engine import create_engine, session_factory
from bot.store.models import (
    AuditEntry,
    Base,
    Campaign,
    Conversation,
    Identity,
    Message,
    OutboxMessage,
    RateSlot,
    Resident,
    Role,
    Subscription,
    Ticket,
)
from bot.web.app import build_app
from handlers.messages import Outgoing
from tests.conftest import REPO
from tests.test_admin_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, browser_ready  # noqa: F401 (a fixture)
from tests.test_webchat_delivery import ADMIN, GREETING, Web, phone_chat, settings, start, volunteer_answers, web  # noqa: F401

AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
MIGRATION = REPO / "migrations" / "versions" / "0008_web_chat_ids_hashed.py"
QUESTION = "đổi số điện thoại trên VNeID thế nào"


async def everything_stored(engine: AsyncEngine) -> str:
    """Every row of every table, as text: a secret found here is stored somewhere."""
    parts: list[str] = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            parts += [repr(tuple(row)) for row in (await connection.execute(select(table))).all()]
    return "\n".join(parts)


def troly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> str:
    """`troly …` as the operator runs it, on this database; what it printed."""
    monkeypatch.setenv("TROLY_DATABASE_URL", url)
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out = capsys.readouterr().out
    assert exit_.value.code in (0, None), out
    return out


async def web_audience(session: AsyncSession) -> list[str]:
    """The web chats a campaign for "Thôn 1" would reach."""
    wanted = Campaign(audience_areas=["Thôn 1"], audience_channels=["web"])
    return [recipient.external_id for recipient in await campaigns.audience(session, wanted)]


def migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0008", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the chat's id is a hash of its cookie ----------------------------------------------------------------------


def test_the_id_is_a_short_one_way_hash_the_migration_computes_alike() -> None:
    frozen = migration().hashed
    for token in ("A" * 20, "abc-DEF_123-xyz_456789", secrets.token_urlsafe(24), secrets.token_urlsafe(48)):
        chat_id = webchat.external_id(token)
        assert chat_id == frozen(token)
        assert token not in chat_id and chat_id.startswith("h.") and len(chat_id) == 24
    assert webchat.external_id("a" * 32) != webchat.external_id("a" * 31 + "b")


async def test_the_cookie_is_in_no_table_no_export_no_audit_and_no_log(
    web: Web, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await web.say(text="/start")
    listing = (await web.say(text="dang ky nhan tin"))["messages"][0]
    await web.say(payload=next(b["payload"] for b in listing["buttons"] if b["title"] == "Thôn 1"))
    await web.say(text="gặp người hỗ trợ")  # a ticket: the audit log names who opened it
    await volunteer_answers(web.pipeline)
    created = await web.client.post("/api/campaigns", headers=ADMIN, json={
        "title": "Ngày hội VNeID", "text": "Sáng thứ Bảy tại nhà văn hoá.", "send_at": None,
        "audience": {"areas": ["Thôn 1"], "channels": ["web"]}})
    assert created.status == 201
    await web.outbox.drain()  # an outbox row for this chat
    cookie, chat_id = await web.cookie(), await web.token()

    stored = await everything_stored(web.runtime.engine)
    assert cookie not in stored
    assert f"'web', '{chat_id}'" in stored and f"web:{chat_id}" in stored  # the identity, the audit log
    history = await (await web.client.get("/chat/api/history")).json()
    assert any("Ngày hội VNeID" in m["html"] for m in history["messages"])  # the same cookie still opens it

    exported = await asyncio.to_thread(troly, monkeypatch, capsys, database_url, "resident", "export",
                                       f"web:{chat_id}")
    audit = await asyncio.to_thread(troly, monkeypatch, capsys, database_url, "audit")
    assert chat_id in exported and f"web:{chat_id}" in audit and "ticket.open" in audit
    assert cookie not in exported + audit + caplog.text


# ---- migration 0008 -------------------------------------------------------------------------------------------


async def _before_0008(engine: AsyncEngine, token: str, erased_token: str) -> None:
    """What revision 0007 kept for a web resident: the cookie as the id, in every place that names the chat."""
    async with session_factory(engine)() as session, session.begin():
        resident, neighbour = Resident(display_name=None), Resident(display_name="Ông Ba")
        session.add_all([resident, neighbour])
        await session.flush()
        chat = Identity(resident_id=resident.id, channel="web", external_id=token, last_inbound_at=AT)
        telegram = Identity(resident_id=neighbour.id, channel="telegram", external_id="555000111")
        session.add_all([chat, telegram])
        await session.flush()
        session.add_all([
            Conversation(identity_id=chat.id, state="idle", data={}),
            Message(identity_id=chat.id, direction="in", author="resident", text=QUESTION, created_at=AT),
            Message(identity_id=chat.id, direction="out", author="bot", text="Đổi số điện thoại VNeID", created_at=AT),
            Subscription(identity_id=chat.id, area="Thôn 1"),
            Ticket(resident_id=resident.id, identity_id=chat.id, reason="asked", status="claimed",
                   owner="telegram:v1"),
            OutboxMessage(channel="web", recipient=token, identity_id=chat.id, status="sent",
                          payload=Outgoing("web", token, "Thông báo của phường").to_json()),
            OutboxMessage(channel="telegram", recipient="555000111", identity_id=telegram.id,
                          payload=Outgoing("telegram", "555000111", "Chào ông").to_json()),
            AuditEntry(actor=f"web:{token}", action="ticket.open", target="ticket:1", details={"reason": "asked"}),
            AuditEntry(actor="cli", action="resident.export", target=f"web:{erased_token}"),
            AuditEntry(actor="staff", action="ticket.reassign", target="ticket:1",
                       details={"previous": f"volunteer:web:{token}"}),
            AuditEntry(actor="telegram:555000111", action="ticket.open", target="ticket:2"),
            Role(channel="web", external_id=token, role="volunteer", granted_by="cli"),
            RateSlot(key=f"chat:web:{token}", next_at=AT),
        ])


async def test_0008_hashes_every_stored_cookie_and_the_resident_keeps_the_conversation(database_url: str) -> None:
    token, erased = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    chat_id = webchat.external_id(token)
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine, "0007")
        await _before_0008(engine, token, erased)
        await migrate.upgrade(engine)
        stored = await everything_stored(engine)
        assert token not in stored and erased not in stored
        async with session_factory(engine)() as session:
            ids = dict((i.channel, i.external_id) for i in await session.scalars(select(Identity)))
            assert ids == {"web": chat_id, "telegram": "555000111"}
            payloads = {row.channel: (row.recipient, Outgoing.from_json(row.payload).user_id)
                        for row in await session.scalars(select(OutboxMessage))}
            assert payloads == {"web": (chat_id, chat_id), "telegram": ("555000111", "555000111")}
            entries = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            audit = [(a.actor, a.target, a.details) for a in entries]
            assert audit == [
                (f"web:{chat_id}", "ticket:1", {"reason": "asked"}),
                ("cli", f"web:{webchat.external_id(erased)}", {}),
                ("staff", "ticket:1", {"previous": f"volunteer:web:{chat_id}"}),
                ("telegram:555000111", "ticket:2", {}),
            ]
            assert await session.scalar(select(Role.external_id)) == chat_id
            assert (await session.scalars(select(RateSlot))).all() == []
            assert await web_audience(session) == [chat_id]

        # The browser still holds the cookie: the page opens the same conversation.
        runtime = Runtime.build(settings(database_url))
        _, mounts = assemble(runtime)
        async with TestClient(TestServer(build_app(runtime, mounts))) as client:
            history = await (await client.get("/chat/api/history", headers={"Cookie": f"troly_chat={token}"})).json()
        await runtime.close()
        assert [m["html"] for m in history["messages"]] == [QUESTION, "Đổi số điện thoại VNeID"]
    finally:
        await engine.dispose()


async def test_0008_downgrades_without_the_tokens_and_upgrades_again(database_url: str) -> None:
    token = secrets.token_urlsafe(24)
    chat_id = webchat.external_id(token)
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine, "0007")
        await _before_0008(engine, token, secrets.token_urlsafe(24))
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "0007")  # a hash gives no cookie back: the ids stay as they are
        assert await migrate.current_revision(engine) == "0007"
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            assert await session.scalar(select(Identity.external_id).where(Identity.channel == "web")) == chat_id
            # The older code meets the same cookie again: a new conversation under the raw token.
            newer = Resident(display_name=None)
            session.add(newer)
            await session.flush()
            session.add(Identity(resident_id=newer.id, channel="web", external_id=token))
        await migrate.upgrade(engine)
        async with sessions() as session:
            ids = {i.resident_id: i.external_id
                   for i in await session.scalars(select(Identity).where(Identity.channel == "web"))}
        assert ids[newer.id] == chat_id  # the cookie opens its most recent conversation
        older = next(resident for resident in ids if resident != newer.id)
        assert ids[older].startswith(chat_id + ".")  # kept, reachable by no cookie
        assert token not in await everything_stored(engine)
    finally:
        await engine.dispose()


# ---- forgetting this device ------------------------------------------------------------------------------------


async def test_forgetting_the_device_expires_the_cookie_and_keeps_the_conversation(web: Web) -> None:  # noqa: F811
    await web.say(text="/start")
    listing = (await web.say(text="dang ky nhan tin"))["messages"][0]
    await web.say(payload=next(b["payload"] for b in listing["buttons"] if b["title"] == "Thôn 1"))
    await web.say(text=QUESTION)
    before = await web.token()
    history = await web.client.get("/chat/api/history")
    assert history.headers["Cache-Control"] == "no-store"  # a shared phone keeps no copy of it

    forgotten = await web.client.delete("/chat/api/session")
    assert forgotten.status == 200
    expired = forgotten.cookies["troly_chat"]
    assert expired.value == "" and expired["max-age"] == "0" and expired["path"] == "/chat"
    assert expired["httponly"] and expired["samesite"] == "Lax"
    assert forgotten.headers["Cache-Control"] == "no-store"
    assert len(web.client.session.cookie_jar.filter_cookies(web.client.make_url("/chat/"))) == 0

    # The next person: nothing of the previous conversation, and a chat of their own.
    assert await (await web.client.get("/chat/api/history")).json() == {"messages": [], "cursor": 0}
    greeted = await web.say(text="/start")
    assert GREETING in greeted["messages"][0]["html"] and QUESTION not in str(greeted)
    assert await web.token() != before

    # Kept on the server, but no longer sent anything: no cookie opens it any more.
    async with web.runtime.sessions() as session:
        kept = await session.scalar(select(Identity).where(Identity.external_id == before))
        assert kept is not None and kept.active is False
        texts = await session.scalars(select(Message.text).where(Message.identity_id == kept.id))
        assert QUESTION in list(texts)
        assert before not in await web_audience(session)

    # A device without a chat may ask too; cross-site forms cannot (DELETE only).
    web.client.session.cookie_jar.clear()
    assert (await web.client.delete("/chat/api/session")).status == 200
    assert (await web.client.post("/chat/api/session")).status == 405


async def test_forgetting_the_device_withdraws_a_waiting_request(web: Web) -> None:  # noqa: F811
    """Nobody could read a volunteer's answer any more: the request is withdrawn as by "Huỷ yêu cầu"."""
    await web.say(text="gặp người hỗ trợ")
    async with web.runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.status == "waiting"
    assert (await web.client.delete("/chat/api/session")).status == 200
    async with web.runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.status == "closed"


async def test_the_page_forgets_its_chat_after_asking(browser_ready: None, sqlite_url: str) -> None:  # noqa: F811
    async with phone_chat(sqlite_url) as phone:
        page = await phone.open_chat()
        await page.wait_for_selector(f".msg.bot:has-text('{GREETING}')")
        await page.fill("#text", QUESTION)
        await page.press("#text", "Enter")
        await page.wait_for_selector(".msg.bot >> nth=1")
        context = phone.context
        cookie = next(c["value"] for c in await context.cookies() if c["name"] == "troly_chat")

        forget = page.get_by_role("button", name="Xoá cuộc trò chuyện trên máy này")
        assert await forget.is_visible()
        sizes = await page.evaluate("""() => {
            const px = (el) => parseFloat(getComputedStyle(el).fontSize);
            const forget = document.getElementById('forget');
            return {body: px(document.body), button: px(forget), height: forget.getBoundingClientRect().height};
        }""")
        assert sizes["button"] >= sizes["body"] >= 20 and sizes["height"] >= 48, sizes
        # Asked first; a stray tap lands on "Không xoá", which changes nothing.
        await forget.click()
        dialog = page.get_by_role("alertdialog", name="Xoá cuộc trò chuyện trên máy này?")
        assert await dialog.is_visible()
        assert await page.evaluate("document.activeElement.id") == "forget-no"
        await page.keyboard.press("Enter")
        assert not await dialog.is_visible() and QUESTION in await page.inner_text("#log")

        await forget.click()
        await dialog.get_by_role("button", name="Có, xoá trên máy này").click()
        await page.wait_for_selector(".note:has-text('Đã xoá cuộc trò chuyện trên máy này.')")
        await page.wait_for_selector(f".msg.bot:has-text('{GREETING}')")
        assert QUESTION not in await page.inner_text("#log")
        assert not await dialog.is_visible()
        new_cookie = next(c["value"] for c in await context.cookies() if c["name"] == "troly_chat")
        assert new_cookie != cookie
        assert await page.evaluate("localStorage.getItem('troly_chat_seen')") != "0"

        await page.reload()  # and after a reload, or the next poll, still nothing of it
        await page.wait_for_selector(f".msg.bot:has-text('{GREETING}')")
        await page.wait_for_timeout(5500)
        log = await page.inner_text("#log")
        assert QUESTION not in log and log.count(GREETING) == 1
        assert phone.problems == []
        async with phone.runtime.sessions() as session:  # the first conversation is still stored
            first = await session.scalar(select(Identity).where(Identity.external_id == webchat.external_id(cookie)))
            assert first is not None
            texts = list(await session.scalars(select(Message.text).where(Message.identity_id == first.id)))
            assert QUESTION in texts

