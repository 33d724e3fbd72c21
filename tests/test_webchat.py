"""The web chat page and its JSON API through the real aiohttp application."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.assembly import assemble
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import migrate
from bot.store.models import Message
from bot.web.app import RUNTIME, build_app


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[TestClient]:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=sqlite_url))
    await migrate.upgrade(runtime.engine)
    _, mounts = assemble(runtime)
    async with TestClient(TestServer(build_app(runtime, mounts))) as test_client:
        yield test_client
    await runtime.close()


async def test_the_page_is_served_accessible_and_mobile_ready(client: TestClient) -> None:
    response = await client.get("/chat")
    assert response.status == 200
    html = await response.text()
    assert '<html lang="vi">' in html and 'name="viewport"' in html and 'aria-live="polite"' in html


async def test_the_page_names_the_commune_labels_its_input_and_says_what_to_do_without_javascript(
    sqlite_url: str,
) -> None:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=sqlite_url, TROLY_COMMUNE_NAME="UBND xã <Hoà Bình>"))
    _, mounts = assemble(runtime)
    async with TestClient(TestServer(build_app(runtime, mounts))) as client:
        html = await (await client.get("/chat")).text()
    await runtime.close()
    assert "UBND xã &lt;Hoà Bình&gt;" in html and "<Hoà Bình>" not in html
    label = html[html.index('<label for="text"'):]
    assert 'class="sr"' not in label[:label.index(">")], "the label is visible, not only a placeholder"
    noscript = " ".join(re.findall(r"<noscript>(.*?)</noscript>", html, re.DOTALL))
    assert "cần bật JavaScript" in noscript and "Trung tâm phục vụ hành chính công" in noscript
    assert "UBND xã &lt;Hoà Bình&gt;" in noscript
    assert 'aria-live="polite"' in html and ":focus-visible" in html


async def test_a_conversation_over_the_api_with_a_cookie_session(client: TestClient) -> None:
    response = await client.post("/chat/api/messages", json={"text": "/start"})
    assert response.status == 200
    cookie = response.cookies["troly_chat"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    data = await response.json()
    assert "Trợ lý số" in data["messages"][0]["html"]
    assert data["messages"][0]["buttons"][0]["payload"] == "menu:vneid"

    response = await client.post("/chat/api/messages", json={"text": "vneid quen mat khau <script>"})
    data = await response.json()
    assert "<script>" not in data["messages"][0]["html"]
    assert "Nguồn:" in data["messages"][0]["html"]
    cursor = data["cursor"]
    assert cursor > 0

    response = await client.post("/chat/api/messages", json={"payload": "fb:vneid.password.forgot:1"})
    assert "Cảm ơn" in (await response.json())["messages"][0]["html"]

    # nothing new since the last answer
    response = await client.get("/chat/api/messages", params={"after": str((await response.json())["cursor"])})
    assert (await response.json())["messages"] == []
    # but earlier messages can be read back
    response = await client.get("/chat/api/messages", params={"after": "0"})
    assert len((await response.json())["messages"]) >= 3


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"text": ""}', b'{"text": 5}', b'{"payload": "' + b"x" * 65 + b'"}',
     b'{"text": "' + b"a" * 2001 + b'"}'],
)
async def test_malformed_bodies_get_400_and_store_nothing(client: TestClient, body: bytes) -> None:
    response = await client.post("/chat/api/messages", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "không hợp lệ" in (await response.json())["error"]
    runtime = client.app[RUNTIME]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_bodies_over_one_mebibyte_are_refused(client: TestClient) -> None:
    response = await client.post("/chat/api/messages", data=b"x" * (1024 * 1024 + 1))
    assert response.status == 413


async def test_home_page_carries_the_zalo_domain_verification_tag(sqlite_url: str) -> None:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=sqlite_url, ZALO_SITE_VERIFICATION="abc_123-XY"))
    async with TestClient(TestServer(build_app(runtime))) as client:
        html = await (await client.get("/")).text()
    await runtime.close()
    assert '<meta name="zalo-platform-site-verification" content="abc_123-XY">' in html
    assert 'href="/chat"' in html
