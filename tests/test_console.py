"""`troly chat` on the real handlers and store, driven through its stdin and stdout."""

from __future__ import annotations

import io
from pathlib import Path

from bot.channels.console import run_console
from bot.settings import load_settings


async def test_console_conversation_with_numbered_buttons(tmp_path: Path) -> None:
    settings = load_settings(TROLY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    stdin = io.StringIO("1\nvneid quen mat khau\n")
    stdout = io.StringIO()
    await run_console(settings, stdin=stdin, stdout=stdout)
    screen = stdout.getvalue()
    assert "[1] VNeID" in screen and "[3] Không dùng tiền mặt" in screen  # the main menu, numbered
    assert "Xem thêm" in screen  # pressing 1 opened the VNeID topics
    assert "Quên mật khẩu" in screen or "mật khẩu" in screen
    assert "Nguồn:" in screen
    assert screen.rstrip().endswith("Tạm biệt!")
