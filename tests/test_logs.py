"""Logs are structured and never carry a resident's secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.logs import QUIET_LIBRARIES, JsonFormatter, configure_logging
from bot.store.engine import create_engine


def test_json_lines_with_extra_fields_and_secrets_redacted() -> None:
    record = logging.makeLogRecord({
        "name": "bot.test", "levelno": logging.ERROR, "levelname": "ERROR",
        "msg": "platform said: bad request for text 'mã OTP là 482913'", "channel": "zalo",
    })
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["channel"] == "zalo" and entry["logger"] == "bot.test"
    assert "482913" not in line and "••••" in entry["msg"]


def test_bot_tokens_are_redacted() -> None:
    record = logging.makeLogRecord({
        "name": "telegram", "levelno": logging.ERROR, "levelname": "ERROR",
        "msg": "POST http://127.0.0.1/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage failed",
    })
    line = JsonFormatter().format(record)
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in line and "<bot-token>" in line


async def test_a_clean_stop_leaves_no_database_pool_chatter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At INFO, SQLAlchemy's pool said "Pool disposed" and "Pool recreating" at every stop: noise to an operator."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    try:
        configure_logging("INFO")
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'troly.db'}")
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        await engine.dispose()
        logging.getLogger("bot.test").info("stopped")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["msg"] for line in lines] == ["stopped"]
