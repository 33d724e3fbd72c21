"""Time-bounded fuzzing of everything that reads untrusted text: the normaliser, the matcher, secrets masking,
and the webhook parsers. `TROLY_FUZZ_EXAMPLES` raises the number of examples for a longer run."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.telegram import MalformedUpdate
from bot.channels.zalo import MalformedEvent, parse_event
from faq.content import load_content
from faq.matcher import Matcher
from faq.normalize import normalize
from faq.secrets import mask_secrets

EXAMPLES = int(os.environ.get("TROLY_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Vietnamese letters, Telex/VNI keystrokes, digits, punctuation, combining marks and some of everything else.
vietnamese = st.text(
    alphabet=st.sampled_from(
        list("aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
        + list("AĂÂĐÊÔƠƯ0123456789 .,?!:/@-_'\"\n\t") + ["\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]
    ),
    max_size=200,
)
any_text = st.one_of(vietnamese, st.text(max_size=300))


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.build(load_content().entries)


@FUZZ
@given(any_text)
def test_normaliser_never_raises_and_is_stable(text: str) -> None:
    once = normalize(text)
    assert normalize(once.accented).accented == once.accented


@FUZZ
@given(any_text)
def test_matcher_always_decides_within_the_contract(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert result.decision in ("answer", "clarify", "escalate")
    assert 0.0 <= result.score <= 1.0
    assert len(result.candidates) <= 3
    if result.decision != "escalate":
        assert result.faq_id is not None


@FUZZ
@given(any_text)
def test_secret_masking_never_raises(text: str) -> None:
    assert isinstance(mask_secrets(text).text, str)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
zalo_events = st.fixed_dictionaries(
    {},
    optional={
        "app_id": json_values,
        "event_name": st.sampled_from(["user_send_text", "user_send_image", "follow", "unfollow", "oa_send_text",
                                       "user_seen_message", "weird"]) | json_values,
        "timestamp": json_values,
        "sender": st.fixed_dictionaries({}, optional={"id": json_values}) | json_values,
        "recipient": json_values,
        "follower": st.fixed_dictionaries({}, optional={"id": json_values}) | json_values,
        "message": st.fixed_dictionaries({}, optional={"msg_id": json_values, "text": json_values,
                                                       "attachments": json_values}) | json_values,
    },
)


@FUZZ
@given(zalo_events)
def test_zalo_parser_only_accepts_or_refuses_cleanly(body: dict[str, Any]) -> None:
    try:
        incoming = parse_event(body, "1767225600000")
    except MalformedEvent:
        return
    if incoming is not None:
        assert incoming.channel == "zalo" and incoming.user_id and isinstance(incoming.text, str)


telegram_users = st.fixed_dictionaries(
    {"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": st.text(max_size=20)},
    optional={"last_name": st.text(max_size=20), "username": st.text(max_size=20)},
)
telegram_chats = st.fixed_dictionaries(
    {"id": st.integers(-(2**40), 2**40), "type": st.sampled_from(["private", "group", "supergroup", "channel"])},
)
telegram_messages = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "date": st.integers(0, 2**31), "chat": telegram_chats},
    optional={"from": telegram_users, "text": any_text, "caption": any_text,
              "photo": st.lists(st.fixed_dictionaries({"file_id": st.text(max_size=8),
                                                       "file_unique_id": st.text(max_size=8),
                                                       "width": st.integers(1, 99), "height": st.integers(1, 99)}),
                                max_size=2),
              "sticker": json_values, "voice": json_values, "location": json_values},
)
telegram_updates = st.fixed_dictionaries(
    {"update_id": st.integers(0, 2**31)},
    optional={
        "message": telegram_messages | json_values,
        "callback_query": st.fixed_dictionaries(
            {"id": st.text(max_size=10), "from": telegram_users, "chat_instance": st.text(max_size=5)},
            optional={"data": st.text(max_size=70), "message": telegram_messages},
        ) | json_values,
        "my_chat_member": json_values,
        "edited_message": json_values,
    },
)


@pytest.fixture(scope="module")
def telegram_channel() -> Any:
    from bot.channels.telegram import TelegramChannel
    from bot.metrics import Metrics
    from bot.settings import load_settings

    class NoInbox:
        async def receive(self, incoming: Any, kept: Any = None) -> list[Any]:
            return []

    settings = load_settings(TELEGRAM_BOT_TOKEN="123456:" + "A" * 35, TELEGRAM_API_URL="http://127.0.0.1:9/bot")
    return TelegramChannel(settings, NoInbox(), Metrics())


@FUZZ
@given(telegram_updates)
def test_telegram_update_translation_accepts_or_refuses_cleanly(telegram_channel: Any, data: dict[str, Any]) -> None:
    from telegram import Bot, Update

    try:
        update = Update.de_json(data, Bot("123456:" + "A" * 35))
    except Exception:
        return  # the webhook answers 400: not an update
    try:
        work = telegram_channel.translate(update)
    except MalformedUpdate:
        return  # the webhook answers 400 for this one too
    if work.incoming is not None:
        assert work.incoming.channel == "telegram" and work.incoming.user_id
        assert isinstance(work.incoming.text, str)
