"""One turn of a conversation: the inbound message, who sent it, and what the handlers say back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from bot.store.residents import Who
from faq.content import Content
from faq.matcher import Matcher
from faq.normalize import plain_words
from handlers.messages import Button, Incoming, Outgoing


class Knowledge(Protocol):
    @property
    def content(self) -> Content: ...

    @property
    def matcher(self) -> Matcher: ...


@dataclass(frozen=True)
class Services:
    """What handlers may use besides storage. Built once per process."""

    settings: Settings
    knowledge: Knowledge
    clock: Callable[[], datetime]

    @property
    def content(self) -> Content:
        return self.knowledge.content

    @property
    def matcher(self) -> Matcher:
        return self.knowledge.matcher

    def now(self) -> datetime:
        return self.clock()


@dataclass
class Turn:
    incoming: Incoming
    who: Who
    session: AsyncSession
    services: Services
    state: str = "idle"
    data: dict[str, Any] = field(default_factory=dict)
    replies: list[Outgoing] = field(default_factory=list)
    # What the matcher made of this message, stored with it for reports.
    faq_id: str | None = None
    decision: str | None = None
    score: float | None = None
    ticket_id: int | None = None
    # The resident's ticket that is waiting for or being handled by a person, if any.
    open_ticket_id: int | None = None
    # The inbound text as it may be stored (secrets masked).
    stored_text: str | None = None
    # The sender's roles ("volunteer", "staff").
    roles: frozenset[str] = frozenset()
    # A handler sets this to False to let the next matching route take the turn.
    handled: bool = True
    # Who wrote the inbound message, as stored: "resident" or "volunteer:telegram:123".
    author: str = "resident"

    @property
    def text(self) -> str:
        return self.incoming.text

    @cached_property
    def words(self) -> str:
        """The text's words in lower case, without diacritics or punctuation, space-separated: what phrase filters
        compare (phones capitalise the first letter: "Xin chào" is "xin chao"). Computed once per turn; the
        pipeline masks secrets in the text before any handler runs."""
        return plain_words(self.incoming.text)

    def t(self, template: str, **values: Any) -> str:
        """Fill a template from handlers.texts with the commune's term of address and name."""
        term = self.services.settings.term_of_address
        return template.format(
            term=term, Term=term[:1].upper() + term[1:], commune=self.services.settings.commune_name, **values
        )

    def say(self, text: str, buttons: Sequence[Button] = (), *, row_size: int = 1) -> None:
        self.replies.append(
            Outgoing(self.incoming.channel, self.incoming.user_id, text, tuple(buttons), row_size=row_size)
        )

    def send_to(
        self, channel: str, user_id: str, text: str, buttons: Sequence[Button] = (), *, row_size: int = 1,
        edit_message_id: str | None = None, ref: str | None = None,
    ) -> None:
        """A message to someone other than the sender (a volunteer, the resident a volunteer answers)."""
        self.replies.append(
            Outgoing(channel, user_id, text, tuple(buttons), row_size=row_size,  # type: ignore[arg-type]
                     edit_message_id=edit_message_id, ref=ref)
        )

    def set_state(self, state: str, **data: Any) -> None:
        self.state = state
        self.data = data
