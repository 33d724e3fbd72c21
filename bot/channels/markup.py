"""Render the core's neutral markup (plain lines, `**bold**`, bare URLs) for each platform."""

from __future__ import annotations

import html
import re

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_URL = re.compile(r"https?://[^\s<>\"')]+[^\s<>\"').,;:!?]")


def to_plain(text: str) -> str:
    """Zalo and the console: no markup at all."""
    return _BOLD.sub(r"\1", text)


def to_html(text: str, *, links: bool = True) -> str:
    """Telegram (parse_mode HTML) and the web chat: everything escaped, then bold and links added."""
    escaped = html.escape(text, quote=False)
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    if links:
        # The text is escaped already (the URL pattern stops at quotes): escaping again would break "&".
        escaped = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return escaped


def split(text: str, limit: int) -> list[str]:
    """Cut a long message into pieces of at most `limit` characters, at paragraph, line or word breaks."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
