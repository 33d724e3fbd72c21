"""Structured logs: one JSON object per line (or plain text for a developer's terminal)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from faq.secrets import mask_secrets

# Attributes every LogRecord has; anything else was passed through `extra=` and belongs in the JSON.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


# A Telegram bot token ("123456:AA…"): libraries log request URLs that contain it.
_BOT_TOKEN = re.compile(r"\d{6,}:[A-Za-z0-9_-]{30,}")


def redact(text: str) -> str:
    """Defence in depth: we never log message texts or tokens, but a library error might quote one."""
    if not any(c.isdigit() for c in text) and "pass" not in text.lower():
        return text
    return mask_secrets(_BOT_TOKEN.sub("<bot-token>", text)).text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Library chatter at INFO (every HTTP request PTB makes, the pool's "recreating" at every stop) drowns what an
# operator needs: these log from WARNING up.
QUIET_LIBRARIES = ("httpx", "httpcore", "aiohttp.access", "apscheduler", "telegram", "sqlalchemy")


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
