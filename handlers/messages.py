"""The core's message types: channels translate their platform's updates into `Incoming` and render
`Outgoing` in their own format and limits.

Text in `Outgoing` uses a small neutral markup that every channel can render: plain lines, `**bold**`,
numbered steps, bare URLs. Channels escape everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

Channel = Literal["telegram", "zalo", "web", "console"]


class Kind(StrEnum):
    TEXT = "text"  # a typed message (commands like "/huy" included)
    BUTTON = "button"  # a pressed button: `text` holds its payload
    MEDIA = "media"  # photo, sticker, voice, file, location…: `media` says which
    FOLLOW = "follow"  # the user followed the Zalo OA / started the Telegram bot
    UNFOLLOW = "unfollow"  # the user unfollowed or blocked us


@dataclass(frozen=True, slots=True)
class Incoming:
    channel: Channel
    user_id: str
    kind: Kind
    text: str = ""
    media: str | None = None
    display_name: str | None = None
    # Where the message was written when that is not the user's private chat (the volunteers' group).
    chat_id: str | None = None
    # The platform's idempotency key (Telegram update_id, Zalo msg_id); None where the channel has none.
    update_key: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def address(self) -> str:
        return f"{self.channel}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    # What comes back as `Incoming(kind=BUTTON, text=payload)`; at most 64 bytes (Telegram's limit).
    payload: str = ""
    url: str | None = None

    def __post_init__(self) -> None:
        if len(self.payload.encode()) > 64:
            raise ValueError(f"button payload over 64 bytes: {self.payload!r}")


@dataclass(frozen=True, slots=True)
class Outgoing:
    channel: Channel
    user_id: str
    text: str
    buttons: tuple[Button, ...] = ()
    # Buttons are laid out one per row unless a row size is given (👍 👎 side by side).
    row_size: int = 1
    # Replace an earlier message instead of sending a new one (the volunteer-group post of a ticket).
    edit_message_id: str | None = None
    # Names the message for whoever wants to know how its delivery went ("ticket-post:12").
    ref: str | None = None
    # A campaign reminder, not a reply: a channel may deliver it by other means (Zalo: a promotion message).
    broadcast: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "user_id": self.user_id,
            "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload, "url": b.url} for b in self.buttons],
            "row_size": self.row_size,
            "edit_message_id": self.edit_message_id,
            "ref": self.ref,
            "broadcast": self.broadcast,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        return cls(
            channel=data["channel"],
            user_id=data["user_id"],
            text=data["text"],
            buttons=tuple(Button(b["title"], b.get("payload", ""), b.get("url")) for b in data["buttons"]),
            row_size=data.get("row_size", 1),
            edit_message_id=data.get("edit_message_id"),
            ref=data.get("ref"),
            broadcast=data.get("broadcast", False),  # absent from rows written before it existed
        )
