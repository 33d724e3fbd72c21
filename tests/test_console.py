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


async def test_console_numbers_agree_with_the_listing_on_every_page(tmp_path: Path) -> None:
    """Typing 1 presses button [1]; the listing above it must call the same topic 1, on page two as well."""
    settings = load_settings(TROLY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    stdin = io.StringIO("1\n5\n1\n")  # VNeID, Xem thêm, the first topic of page two
    stdout = io.StringIO()
    await run_console(settings, stdin=stdin, stdout=stdout)
    turns = stdout.getvalue().split("\n> \n")  # what was printed after each line typed
    listing, answer = turns[2], turns[3]
    listed_first = listing.split("\n1. ", 1)[1].split("\n", 1)[0]
    assert answer.startswith(listed_first + "\n") and "Nguồn:" in answer  # the topic listed as 1 came
