"""Dashboard sessions in the database: two `troly serve` processes (two runtimes, two real aiohttp servers) on one
SQLite file or one PostgreSQL database accept each other's sessions, with no sticky sessions."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.housekeeping import Housekeeping
from bot.store import admin_sessions
from bot.store.models import AdminSession, FaqProposal
from bot.web.admin.state import COOKIE
from tests.test_admin import NOW, TOKEN, Env, build_env, csrf_of


@pytest.fixture
async def pair(database_url: str) -> AsyncIterator[tuple[Env, Env]]:
    """Two processes on one database, reading one clock (moved through `first.clock`)."""
    first = await build_env(database_url)
    second = await build_env(database_url)
    second.runtime.now = first.runtime.now
    yield first, second
    for env in (first, second):
        await env.client.close()
        await env.runtime.close()


def session_cookie(env: Env) -> str:
    cookie = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/admin/")).get(COOKIE)
    assert cookie is not None and cookie.value, "not signed in"
    return cookie.value


def carry(cookie: str, to: Env) -> None:
    """The same browser, sent to the other process by the load balancer."""
    to.client.session.cookie_jar.update_cookies({COOKIE: cookie}, to.client.make_url("/admin/"))


async def signed_in(env: Env) -> bool:
    response = await env.client.get("/admin/", allow_redirects=False)
    if response.status == 200:
        return True
    assert response.status == 303 and response.headers["Location"].startswith("/admin/login")
    return False


async def rows(env: Env) -> list[AdminSession]:
    async with env.runtime.sessions() as session:
        return list((await session.scalars(select(AdminSession))).all())


# ---- one process signs in, the other serves ---------------------------------------------------------------------


async def test_a_session_from_one_process_works_on_the_other_and_sign_out_ends_it_on_both(
    pair: tuple[Env, Env],
) -> None:
    first, second = pair
    async with first.runtime.sessions() as session, session.begin():
        session.add(FaqProposal(proposed_by="volunteer:telegram:v1", question="xe rác mấy giờ", answer="17 giờ"))
    assert not await signed_in(second)
    csrf = await first.sign_in("Anh Minh")
    carry(session_cookie(first), second)

    page = await second.client.get("/admin/proposals")
    html = await page.text()
    assert page.status == 200 and "Anh Minh" in html and "xe rác mấy giờ" in html
    assert csrf_of(html) == csrf  # one session, one CSRF token, whichever process renders the form

    # a form posted to the other process: refused without the token, done with it, by the signed-in name
    forged = await second.client.post("/admin/proposals/1/reject", data={"csrf": "x" * 43})
    assert forged.status == 403
    done = await second.client.post("/admin/proposals/1/reject", data={"csrf": csrf}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == "/admin/proposals?done=rejected"
    async with first.runtime.sessions() as session:
        proposal = await session.get(FaqProposal, 1)
    assert proposal is not None and (proposal.status, proposal.decided_by) == ("rejected", "dashboard:Anh Minh")

    # signing out on the second process ends the session on the first too
    out = await second.client.post("/admin/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/admin/login"
    assert session_cookie(first)  # the first still sends the cookie…
    assert not await signed_in(first)  # …and refuses it
    refused = await first.client.post("/admin/proposals/1/reject", data={"csrf": csrf}, allow_redirects=False)
    assert refused.status == 303 and refused.headers["Location"].startswith("/admin/login")
    assert await rows(first) == []


async def test_the_login_page_and_report_downloads_know_the_other_process_session(pair: tuple[Env, Env]) -> None:
    first, second = pair
    await first.sign_in()
    carry(session_cookie(first), second)
    login = await second.client.get("/admin/login", params={"next": "/admin/reports"}, allow_redirects=False)
    assert login.status == 303 and login.headers["Location"] == "/admin/reports"
    report = await second.client.get("/admin/reports/daily.csv", params={"date": "2026-11-20"},
                                     allow_redirects=False)
    assert report.status == 200 and "attachment" in report.headers["Content-Disposition"]


# ---- expiry, with the runtimes' clock moved rather than waited for ----------------------------------------------


async def test_idle_timeout_counts_use_on_either_process(pair: tuple[Env, Env]) -> None:
    first, second = pair
    await first.sign_in()
    carry(session_cookie(first), second)
    step = timedelta(seconds=admin_sessions.IDLE.total_seconds()) - timedelta(minutes=1)

    first.clock[0] += step
    assert await signed_in(second)  # recorded by the second process…
    first.clock[0] += step
    assert await signed_in(first)  # …so the first, idle for longer than the timeout itself, still accepts it
    first.clock[0] += admin_sessions.IDLE + timedelta(seconds=1)
    assert first.clock[0] - NOW < admin_sessions.LIFETIME  # refused for idleness, not age
    assert not await signed_in(second)
    assert not await signed_in(first)
    assert await rows(first) == []  # the expired row is deleted when met


async def test_absolute_lifetime_ends_a_session_in_use(pair: tuple[Env, Env]) -> None:
    first, second = pair
    await first.sign_in()
    carry(session_cookie(first), second)
    for env in (second, first, second):  # every 7 hours, never idle for long
        first.clock[0] += timedelta(hours=7)
        assert await signed_in(env)
    first.clock[0] = NOW + admin_sessions.LIFETIME + timedelta(seconds=1)  # 3 hours after the last use
    assert not await signed_in(first)
    assert not await signed_in(second)


async def test_a_page_view_writes_seen_at_at_most_once_a_minute(pair: tuple[Env, Env]) -> None:
    first, second = pair
    await first.sign_in()
    carry(session_cookie(first), second)
    [row] = await rows(first)
    assert row.seen_at == NOW
    first.clock[0] = NOW + timedelta(seconds=30)
    assert await signed_in(second) and await signed_in(first)
    [row] = await rows(first)
    assert row.seen_at == NOW  # a read only
    first.clock[0] = NOW + admin_sessions.TOUCH_EVERY + timedelta(seconds=1)
    assert await signed_in(second)
    [row] = await rows(first)
    assert row.seen_at == first.clock[0] and row.created_at == NOW


async def test_expired_sessions_are_deleted_at_sign_in_and_by_housekeeping(pair: tuple[Env, Env]) -> None:
    first, second = pair
    await first.sign_in("Chị Lan")
    first.clock[0] += admin_sessions.LIFETIME + timedelta(minutes=1)
    await second.sign_in("Anh Minh")  # nobody used Chị Lan's session again: signing in clears it
    assert [r.display_name for r in await rows(first)] == ["Anh Minh"]

    first.clock[0] += admin_sessions.IDLE + timedelta(minutes=1)
    counts = await Housekeeping(second.runtime).run_once()
    assert counts["admin_sessions_deleted"] == 1 and await rows(first) == []


async def test_the_cap_drops_the_least_recently_seen(pair: tuple[Env, Env]) -> None:
    first, _ = pair
    async with first.runtime.sessions() as session, session.begin():
        for i in range(5):
            # created in order 0…4, but 0 used most recently and 4 least: the cap goes by use
            created = NOW + timedelta(minutes=i)
            row = await admin_sessions.create(session, f"id-{i}", f"csrf-{i}", f"cán bộ {i}", created)
            row.seen_at = NOW + timedelta(hours=1, minutes=-i)
    async with first.runtime.sessions() as session, session.begin():
        assert await admin_sessions.keep_newest(session, 3) == 2
    assert sorted(r.display_name for r in await rows(first)) == ["cán bộ 0", "cán bộ 1", "cán bộ 2"]


# ---- what the table holds -----------------------------------------------------------------------------------------


async def test_the_table_holds_a_hash_of_the_session_id_never_the_id(pair: tuple[Env, Env]) -> None:
    first, second = pair
    csrf = await first.sign_in()
    raw = session_cookie(first)
    async with first.runtime.sessions() as session:
        stored = [tuple(str(v) for v in row) for row in (await session.execute(text("SELECT * FROM admin_sessions")))]
        assert await session.scalar(select(func.count()).select_from(AdminSession)) == 1
    [values] = stored
    assert not any(raw in value for value in values)
    assert hashlib.sha256(raw.encode()).hexdigest() in values and csrf in values
    url = make_url(first.runtime.settings.database_url)
    if url.get_backend_name() == "sqlite":
        # nor anywhere in the database files, the write-ahead log included
        files = [Path(f"{url.database}{suffix}") for suffix in ("", "-wal")]
        assert all(raw.encode() not in f.read_bytes() for f in files if f.exists())
    # the hash itself is no cookie
    carry(hashlib.sha256(raw.encode()).hexdigest(), second)
    assert not await signed_in(second)


async def test_a_wrong_admin_token_creates_no_session(pair: tuple[Env, Env]) -> None:
    first, _ = pair
    page = await first.client.get("/admin/login")
    wrong = await first.client.post("/admin/login", data={"token": TOKEN + "x", "csrf": csrf_of(await page.text())},
                                    allow_redirects=False)
    assert wrong.status == 401 and await rows(first) == []
