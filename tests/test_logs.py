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
