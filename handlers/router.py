"""A small router in the manner of aiogram: handlers are functions registered with filters; the first
handler whose filters all pass takes the turn."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from faq.normalize import POLITE_EDGES, plain_words
from handlers.context import Turn
from handlers.messages import Kind

Filter = Callable[[Turn], bool]
Handler = Callable[[Turn], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    filters: tuple[Filter, ...]
    handler: Handler


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def on(self, *filters: Filter) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append(Route(filters, handler))
            return handler

        return register

    def include(self, other: Router) -> None:
        self._routes.extend(other._routes)

    async def dispatch(self, turn: Turn) -> bool:
        for route in self._routes:
            if all(check(turn) for check in route.filters):
                await route.handler(turn)
                if turn.handled:
                    return True
                turn.handled = True  # the handler passed: try the next route
        return False


# ---- filters -------------------------------------------------------------------------------------------------


def kind(*kinds: Kind) -> Filter:
    return lambda turn: turn.incoming.kind in kinds


def state(name: str) -> Filter:
    return lambda turn: turn.state == name


def payload(prefix: str) -> Filter:
    """A pressed button (or, on Zalo, the payload coming back as text) starting with `prefix`."""
    pattern = re.compile(rf"^{re.escape(prefix)}(?::|$)")
    return lambda turn: turn.incoming.kind in (Kind.BUTTON, Kind.TEXT) and bool(pattern.match(turn.text.strip()))


def command(*names: str, bare: bool = False) -> Filter:
    """"/huy" and "/huy@TrolyBot". With `bare`, also the name typed as the whole message without the slash, with
    or without diacritics and spaces ("huy", "Huỷ", "xoá dữ liệu" for /xoadulieu): the slash is hard to find on a
    phone keyboard. Volunteers' commands are not bare, so that "Xong" typed to a resident stays a message."""
    wanted = {name.lower() for name in names}

    def check(turn: Turn) -> bool:
        if turn.incoming.kind is not Kind.TEXT:
            return False
        word = turn.text.strip().split("@")[0].lower()
        if word.startswith("/"):
            return word[1:] in wanted
        return bare and turn.words.replace(" ", "") in wanted

    return check


def says(*phrases: str, max_words: int = 8, unless: tuple[str, ...] = ()) -> Filter:
    """A short message containing one of `phrases`, compared without diacritics ("huy dang ky" = "hủy đăng ký"),
    and none of the words in `unless`: those mark a question about something else that happens to use the phrase
    ("vneid không nhận thông báo" is not "stop sending me reminders")."""
    pattern = _any_words(phrases)
    other = _any_words(unless) if unless else None

    def check(turn: Turn) -> bool:
        if turn.incoming.kind is not Kind.TEXT:
            return False
        words = turn.words
        return (bool(words) and words.count(" ") < max_words and pattern.search(words) is not None
                and (other is None or other.search(words) is None))

    return check


def _any_words(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("(?:^| )(?:" + "|".join(re.escape(plain_words(p)) for p in phrases) + ")(?: |$)")


def exactly(*phrases: str) -> Filter:
    """The whole message is one of `phrases` (without diacritics and punctuation), give or take a polite word
    at its end ("vâng ạ", "cảm ơn cháu")."""
    folded = {plain_words(p) for p in phrases}

    def check(turn: Turn) -> bool:
        if turn.incoming.kind is not Kind.TEXT:
            return False
        words = turn.words
        while words not in folded and " " in words:
            rest, _, last = words.rpartition(" ")
            if last not in POLITE_EDGES:
                return False
            words = rest
        return words in folded

    return check


def any_of(*filters: Filter) -> Filter:
    return lambda turn: any(check(turn) for check in filters)
