"""The dashboard in a real browser: Playwright driving Debian's Chromium against a real server on 127.0.0.1.

Skipped (with the reason) when Playwright or /usr/bin/chromium is missing, unless TROLY_REQUIRE_BROWSER=1,
which CI sets so that a missing browser fails instead. Screenshots and the downloaded report are kept in
test-artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest

from bot.assembly import assemble
from bot.runtime import Runtime
from bot.server import Server
from bot.settings import load_settings
from bot.store import faq_edits, migrate
from tests.conftest import REPO, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "browser-test-admin-token-77c2"
PHONE = {"width": 412, "height": 915}
QUESTIONS = ("lịch thu gom rác", "xe rác mấy giờ chạy", "thu gom rac may gio vay ad")


def _browser_missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[browser]')"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    return None


@pytest.fixture
def browser_ready() -> None:
    reason = _browser_missing()
    if reason:
        if os.environ.get("TROLY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TROLY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


@dataclass
class Running:
    base: str
    runtime: Runtime


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[Running]:
    """What `troly serve` runs: migrations, the edits loaded, every service and route of `assemble`."""
    port = free_port()
    settings = load_settings(TROLY_DATABASE_URL=sqlite_url, TROLY_ADMIN_TOKEN=TOKEN, TROLY_HTTP_HOST="127.0.0.1",
                             TROLY_HTTP_PORT=port, TROLY_COMMUNE_NAME="UBND xã Hoà Bình")
    runtime = Runtime.build(settings)
    await migrate.upgrade(runtime.engine)
    from faq.content import load_content

    await faq_edits.reload(runtime.sessions, runtime.knowledge, load_content())
    services, mounts = assemble(runtime)
    running = Server(runtime, services, mounts)
    await running.start()
    try:
        yield Running(f"http://127.0.0.1:{running.port}", runtime)
    finally:
        await running.stop()


async def chat(http: aiohttp.ClientSession, base: str, **body: str) -> list[dict[str, Any]]:
    async with http.post(f"{base}/chat/api/messages", json=body) as response:
        assert response.status == 200
        return list((await response.json())["messages"])


async def test_staff_journey_in_chromium(browser_ready: None, server: Running) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    base = server.base
    # Residents use the web chat: three ask something the FAQ lacks, one asks something it has, two subscribe.
    for i, question in enumerate(QUESTIONS):
        async with aiohttp.ClientSession() as resident:
            replies = await chat(resident, base, text=question)
            assert "Nguồn:" not in replies[0]["html"], question
            if i < 2:
                await chat(resident, base, text="đăng ký nhận tin")
                await chat(resident, base, payload=f"area:{i}")
    async with aiohttp.ClientSession() as resident:
        assert "Nguồn:" in (await chat(resident, base, text="vneid quen mat khau"))[0]["html"]

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport=PHONE, device_scale_factor=2, accept_downloads=True,
                                                locale="vi-VN")
            page = await context.new_page()
            # Any script, inline style or resource the security policy blocks shows up here.
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))

            # sign in
            await page.goto(f"{base}/admin/")
            assert "/admin/login" in page.url
            await page.fill("input[name=token]", TOKEN)
            await page.fill("input[name=name]", "Chị Lan")
            await page.screenshot(path=str(ARTIFACTS / "admin-1-login.png"))
            await page.click("button:has-text('Đăng nhập')")
            await page.wait_for_url(f"{base}/admin/")

            # the overview with data
            assert (await page.inner_text("#stat-questions")).strip() == "4"
            assert await page.locator("svg.chart rect.bar").count() == 30
            await page.screenshot(path=str(ARTIFACTS / "admin-2-overview-phone.png"), full_page=True)

            # an FAQ entry from the group of unanswered questions
            await page.click("nav.tabs >> text=Câu hỏi chưa trả lời")
            group = page.locator("article.group").first
            assert "3 câu hỏi tương tự" in await group.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "admin-3-unanswered.png"), full_page=True)
            await group.locator("button:has-text('Tạo câu hỏi thường gặp')").click()
            await page.wait_for_url(f"{base}/admin/faq/new")
            assert "xe rác mấy giờ chạy" in await page.input_value("textarea[name=questions]")
            await page.fill("input[name=id]", "dvc.thu-gom-rac")
            await page.fill("input[name=title]", "Lịch thu gom rác sinh hoạt")
            await page.fill("input[name=short]", "Thu gom rác")
            await page.fill("textarea[name=answer]", "Xe thu gom rác đi qua các thôn lúc 17 giờ mỗi ngày.\n"
                                                    "Anh/chị để rác trước cửa từ 16 giờ 30.")
            await page.fill("input[name=source_url]", "https://hoabinh.example.gov.vn/thu-gom-rac")
            await page.click("button[value=save]")
            await page.wait_for_url(f"{base}/admin/faq/dvc.thu-gom-rac?saved=1")
            assert "Đã lưu" in await page.inner_text("main")
            await page.screenshot(path=str(ARTIFACTS / "admin-4-faq-saved.png"), full_page=True)

            # … and the bot answers with it at once, no restart
            async with aiohttp.ClientSession() as resident:
                answer = (await chat(resident, base, text="xe rác mấy giờ chạy"))[0]["html"]
            assert "Lịch thu gom rác sinh hoạt" in answer and "17 giờ" in answer

            # a campaign, sent now, with its delivery report
            await page.click("nav.tabs >> text=Chiến dịch")
            await page.click("text=+ Tạo chiến dịch")
            await page.fill("input[name=title]", "Nhắc gia hạn BHYT hộ gia đình")
            await page.fill("textarea[name=text]", "Hạn cuối gia hạn BHYT là 30/11. Làm trên VNeID hoặc tại xã.")
            await page.click("button[value=preview]")
            assert (await page.inner_text("#preview-recipients")).strip() == "2"
            await page.screenshot(path=str(ARTIFACTS / "admin-5-campaign-preview.png"), full_page=True)
            await page.click("button[value=create]")
            await page.wait_for_url(f"{base}/admin/campaigns/1")
            for _ in range(120):  # a bound, not a timing test: CI machines are slow
                if (await page.inner_text("#campaign-status")).strip() == "Đã gửi xong":
                    break
                await page.wait_for_timeout(250)
                await page.reload()
            assert (await page.inner_text("#campaign-status")).strip() == "Đã gửi xong"
            assert (await page.inner_text("#count-sent")).strip() == "2"
            assert (await page.inner_text("#campaign-progress")).strip() == "100%"
            await page.screenshot(path=str(ARTIFACTS / "admin-6-campaign-report.png"), full_page=True)

            # a report, downloaded as a staff member would
            await page.click("nav.tabs >> text=Báo cáo")
            async with page.expect_download() as waiting:
                await page.click("a[href^='/admin/reports/daily.xlsx']")
            download = await waiting.value
            saved = ARTIFACTS / download.suggested_filename
            await download.save_as(str(saved))
            await page.screenshot(path=str(ARTIFACTS / "admin-7-reports.png"), full_page=True)
            book = openpyxl.load_workbook(saved)
            summary = [list(r) for r in book["Tổng hợp theo khu vực"].iter_rows(values_only=True)]
            total = dict(zip(summary[0], summary[-1], strict=True))
            assert total["Khu vực"] == "Tổng cộng" and total["Số câu hỏi"] == 5 and total["Chuyển người hỗ trợ"] == 3
            reach = [list(r) for r in book["Chiến dịch"].iter_rows(values_only=True)]
            assert sum(row[3] for row in reach[1:]) == 2  # "Đã gửi", over the areas

            # wide screen too
            await page.set_viewport_size({"width": 1280, "height": 900})
            await page.click("nav.tabs >> text=Tổng quan")
            await page.screenshot(path=str(ARTIFACTS / "admin-8-overview-desktop.png"), full_page=True)
            assert problems == []
            await context.close()
        finally:
            await browser.close()
