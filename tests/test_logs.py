"""Logs are structured and never carry a resident's secret."""

from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter


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
