"""What residents can do: greet, browse the FAQ, ask, rate an answer, reach a person, subscribe, erase."""

from __future__ import annotations

import re

from bot.store import residents as store
from bot.store import tickets
from faq.content import Domain, Entry
from faq.normalize import plain_words
from handlers import texts
from handlers.context import Turn
from handlers.handoff import CANCEL_BUTTONS, request_human, ticket_cancelled, ticket_erased
from handlers.messages import Button, Kind
from handlers.router import Router, any_of, command, exactly, kind, payload, says, state

router = Router()

_TYPED_NUMBER = re.compile(r"(?:so )?(\d{1,2})")
TOPICS_PER_PAGE = 4  # Zalo shows at most 5 buttons: four topics and "Xem thêm"
AREAS_PER_PAGE = 4
MAX_QUESTION_CHARS = 1000
# Words that turn a phrase of ours into part of a question for the FAQ. "Người gọi xưng là nhân viên hỗ trợ ngân
# hàng" reports a scam; "có cần gặp cán bộ không", "tình nguyện viên có thu tiền không", "… có làm giúp không" ask
# about people, not for one.
ABOUT_PEOPLE_NOT_ASKING = ("xưng", "xưng là", "giả danh", "mạo danh", "lừa", "lừa đảo", "có cần", "thu tiền",
                           "có phải", "có làm", "có giúp", "có đến")
# The reminder phrases also describe problems with apps and banks: "không nhận thông báo OTP", "vneid không nhận
# thông báo", "nhận thông báo lạ từ ngân hàng", "đăng ký nhận tin nhắn OTP", "thôi nhận tiền mặt à". (Not "Zalo",
# "tin nhắn" or "điện thoại": "nhận thông báo qua Zalo" asks for the reminders.)
ABOUT_SOMETHING_ELSE = ("vneid", "otp", "sms", "ngân hàng", "app", "ứng dụng", "tiền", "lạ", "mã")
PAYLOAD = re.compile(r"^(menu|faq|fb|human|cancel|sub|area|erase|rate|claim)(:[\w.:-]*)?$")
# Typed while a request for a person is open: the resident withdraws it.
CANCEL_PHRASES = ("huỷ yêu cầu", "hủy yêu cầu", "không cần nữa", "ko cần nữa", "k cần nữa", "không cần đâu",
                  "không cần hỗ trợ nữa", "thôi không cần", "thôi ko cần", "thôi khỏi", "khỏi cần", "tự làm được rồi",
                  "huỷ gặp người", "hủy gặp người", "không cần gặp người nữa")
# ... unless it asks something: "sổ hộ khẩu giờ không cần nữa à", "hủy yêu cầu chuyển tiền được không".
ASKING = ("à", "hả", "chứ", "sao", "được không", "được ko", "dc ko", "đc ko", "phải không", "mang", "chuyển")


def main_menu(turn: Turn) -> list[Button]:
    buttons = [
        Button(texts.MENU_LABELS.get(domain.id, domain.title), f"menu:{domain.id}")
        for domain in sorted(turn.services.content.domains, key=_menu_position)
    ]
    return [*buttons, Button(texts.HUMAN, "human")]


def _menu_position(domain: Domain) -> int:
    order = list(texts.MENU_LABELS)
    return order.index(domain.id) if domain.id in order else len(order)


def render_answer(turn: Turn, entry: Entry) -> str:
    term = turn.services.settings.term_of_address
    body = entry.answer.strip()
    if term != "anh/chị":
        body = body.replace("Anh/chị", term[:1].upper() + term[1:]).replace("anh/chị", term)
    checked = entry.source.checked
    year, _, month = checked[:7].partition("-")
    source = texts.SOURCE_LINE.format(title=entry.source.title, checked=f"{month}/{year}")
    return f"**{entry.title}**\n{body}\n{source}\n{entry.source.url}"


def answer(turn: Turn, entry: Entry) -> None:
    turn.faq_id = turn.faq_id or entry.id
    # One message: the question and its buttons sit right under the answer they are about.
    turn.say(
        render_answer(turn, entry) + "\n\n" + turn.t(texts.FEEDBACK_QUESTION),
        [Button("👍 Có", f"fb:{entry.id}:1"), Button("👎 Chưa", f"fb:{entry.id}:0")],
        row_size=2,
    )
    turn.set_state("answered", faq_id=entry.id)


def not_a_command(turn: Turn) -> bool:
    """Typed words, not a "/command" or a button's payload (Zalo sends those back as text)."""
    return not (turn.text.startswith("/") or PAYLOAD.match(turn.text.strip()))


# ---- greeting, help, menus -------------------------------------------------------------------------------------


@router.on(kind(Kind.FOLLOW))
async def followed(turn: Turn) -> None:
    # On Telegram the client sends /start right after (un)blocking: greeting here too would say it twice.
    if turn.incoming.channel != "telegram":
        turn.say(turn.t(texts.GREETING), main_menu(turn))


@router.on(kind(Kind.UNFOLLOW))
async def unfollowed(turn: Turn) -> None:
    await store.deactivate(turn.session, turn.who.channel, turn.who.external_id)


_says_cancel = says(*CANCEL_PHRASES, max_words=7, unless=ASKING)


@router.on(any_of(payload("cancel"), command("huyyeucau", bare=True),
                  lambda turn: turn.open_ticket_id is not None and _says_cancel(turn)))
async def cancel_request(turn: Turn) -> None:
    """The resident withdraws their request for a person, waiting or already taken."""
    ticket = await tickets.get(turn.session, turn.open_ticket_id) if turn.open_ticket_id is not None else None
    turn.set_state("idle")
    if ticket is None or ticket.status == "closed":
        turn.say(turn.t(texts.NO_REQUEST), main_menu(turn))
        return
    await tickets.cancel(turn.session, ticket, turn.incoming.address, turn.services.now())
    turn.ticket_id = ticket.id
    turn.say(turn.t(texts.REQUEST_CANCELLED), [Button(texts.HUMAN, "human"), Button(texts.BACK_TO_MENU, "menu")])
    ticket_cancelled(turn, ticket)


@router.on(lambda turn: turn.open_ticket_id is not None, kind(Kind.TEXT, Kind.MEDIA), not_a_command)
async def with_a_person(turn: Turn) -> None:
    """While a person handles the resident, the bot does not answer over them: it relays."""
    ticket = await tickets.get(turn.session, turn.open_ticket_id or 0)
    if ticket is None:
        turn.handled = False  # gone since the message arrived: the bot answers it as usual
        return
    turn.ticket_id = ticket.id
    if ticket.status == "claimed" and ticket.owner:
        channel, _, user_id = ticket.owner.partition(":")
        if turn.incoming.kind is Kind.MEDIA:
            media = texts.MEDIA_NAMES.get(turn.incoming.media or "", texts.MEDIA_NAME_DEFAULT)
            text = texts.RESIDENT_SENT_MEDIA.format(media=media)
        else:
            text = turn.stored_text or ""
        turn.send_to(channel, user_id, texts.FROM_RESIDENT.format(id=ticket.id, text=text))
        if turn.incoming.kind is Kind.MEDIA:
            turn.say(turn.t(texts.MEDIA.get(turn.incoming.media or "", texts.MEDIA_DEFAULT) + texts.MEDIA_HINT))
        return
    turn.say(turn.t(texts.TICKET_WAITING), CANCEL_BUTTONS)


@router.on(any_of(command("start", "menu", "batdau", bare=True), exactly(
    "hi", "hello", "chào", "xin chào", "alo", "menu", "bắt đầu", "chào bạn", "chào ad", "hello ad",
    # elderly residents greet the assistant as they would a young relative or an official on the phone
    "chào cháu", "chào em", "chào con", "chào chị", "chào anh", "alo alo", "a lô", "xin chào ạ", "chào ạ",
    # who they are talking to: the greeting says it
    "bạn là ai", "em là ai", "ai đấy", "ai vậy", "ai đó", "trợ lý số là gì", "đây là ai",
)))
async def greet(turn: Turn) -> None:
    turn.say(turn.t(texts.GREETING), main_menu(turn))
    turn.set_state("idle")


@router.on(any_of(command("trogiup", "help", bare=True), exactly("trợ giúp", "hướng dẫn", "help", "giúp", "giúp tôi")))
async def help_(turn: Turn) -> None:
    turn.say(turn.t(texts.HELP), main_menu(turn))


@router.on(payload("menu"))
async def browse(turn: Turn) -> None:
    parts = turn.text.strip().split(":")
    domains = {d.id: d for d in turn.services.content.domains}
    domain = domains.get(parts[1]) if len(parts) > 1 else None
    if domain is None:
        turn.say(turn.t(texts.MENU_PROMPT), main_menu(turn))
        return
    await _browse(turn, domain, int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0)


async def _browse(turn: Turn, domain: Domain, page: int) -> None:
    entries = domain.entries[page * TOPICS_PER_PAGE : (page + 1) * TOPICS_PER_PAGE]
    buttons = [Button(entry.short, f"faq:{entry.id}") for entry in entries]
    if (page + 1) * TOPICS_PER_PAGE < len(domain.entries):
        buttons.append(Button(texts.MORE, f"menu:{domain.id}:{page + 1}"))
    else:
        buttons.append(Button(texts.BACK_TO_MENU, "menu"))
    # Numbered from 1 on every page, like the buttons: where a typed number presses a button (the console), "1"
    # must mean the first line shown, and on page two "5" must not name a line while pressing "Xem thêm".
    listing = "\n".join(f"{i}. {e.title}" for i, e in enumerate(entries, start=1))
    turn.say(turn.t(texts.DOMAIN_PROMPT, title=domain.title) + "\n" + listing, buttons)
    turn.set_state("choosing", choices=[e.id for e in entries])


@router.on(payload("faq"))
async def show_entry(turn: Turn) -> None:
    entry = turn.services.content.by_id.get(turn.text.strip().partition(":")[2])
    if entry is None:
        turn.say(turn.t(texts.MENU_PROMPT), main_menu(turn))
        return
    turn.decision = "chosen"
    answer(turn, entry)


@router.on(payload("fb"))
async def feedback(turn: Turn) -> None:
    _, faq_id, value = ([*turn.text.strip().split(":"), "", ""])[:3]
    if faq_id not in turn.services.content.by_id or value not in ("0", "1"):
        turn.say(turn.t(texts.MENU_PROMPT), main_menu(turn))  # a button from an answer that no longer exists
        return
    await _feedback(turn, faq_id, helpful=value == "1")


async def _feedback(turn: Turn, faq_id: str, *, helpful: bool, reply: str = texts.FEEDBACK_THANKS) -> None:
    await store.add_feedback(turn.session, turn.who, faq_id, helpful, turn.services.now())
    if helpful:
        turn.say(turn.t(reply))
        turn.set_state("idle")  # said once: a "cảm ơn" after the 👍 is not a second vote
    else:
        turn.say(turn.t(texts.FEEDBACK_SORRY), [Button(texts.HUMAN, "human:thumbs_down"), Button("Hỏi lại", "menu")])
        turn.set_state("offered_human", reason="thumbs_down", faq_id=faq_id)


# ---- a person --------------------------------------------------------------------------------------------------


@router.on(any_of(payload("human"), command("gapnguoi", "hotro", bare=True),
                  says("gặp người", "người hỗ trợ", "gặp nhân viên", "nhân viên hỗ trợ", "tư vấn viên",
                       "tình nguyện viên", "gặp cán bộ", "nói chuyện với người", "người thật", "cần người giúp",
                       max_words=12, unless=ABOUT_PEOPLE_NOT_ASKING)))
async def human(turn: Turn) -> None:
    reason = turn.text.partition(":")[2] if turn.text.startswith("human:") else "asked"
    await request_human(turn, reason or "asked")
    turn.set_state("idle")


# ---- reminders -------------------------------------------------------------------------------------------------


@router.on(any_of(command("huy", "stop", "huydangky", bare=True),
                  says("hủy đăng ký", "huỷ đăng ký", "ngừng nhận", "không nhận thông báo", "thôi nhận", max_words=6,
                       unless=ABOUT_SOMETHING_ELSE)))
async def unsubscribe(turn: Turn) -> None:
    removed = await store.unsubscribe(turn.session, turn.who)
    turn.say(turn.t(texts.UNSUBSCRIBED if removed else texts.NOT_SUBSCRIBED))
    turn.set_state("idle")


@router.on(any_of(payload("sub"), command("dangky", "nhantin", bare=True),
                  says("đăng ký nhận tin", "đăng ký nhận thông báo", "nhận thông báo", "đăng ký thông báo",
                       max_words=8, unless=ABOUT_SOMETHING_ELSE)))
async def subscribe_start(turn: Turn) -> None:
    page = turn.text.strip().split(":")
    await _ask_area(turn, int(page[1]) if len(page) > 1 and page[1].isdigit() else 0)


async def _ask_area(turn: Turn, page: int) -> None:
    areas = turn.services.settings.areas
    shown = list(enumerate(areas))[page * AREAS_PER_PAGE : (page + 1) * AREAS_PER_PAGE]
    buttons = [Button(area, f"area:{index}") for index, area in shown]
    if (page + 1) * AREAS_PER_PAGE < len(areas):
        buttons.append(Button(texts.MORE, f"sub:{page + 1}"))
    listing = "\n".join(f"{number}. {area}" for number, (_, area) in enumerate(shown, start=1))  # as in browse
    turn.say(turn.t(texts.SUBSCRIBE_PROMPT) + "\n" + listing, buttons)
    turn.set_state("choosing_area", shown=[index for index, _ in shown])


@router.on(payload("area"))
async def subscribe_area(turn: Turn) -> None:
    index = turn.text.strip().partition(":")[2]
    areas = turn.services.settings.areas
    if not index.isdigit() or int(index) >= len(areas):
        await _ask_area(turn, 0)
        return
    await _subscribe(turn, areas[int(index)])


@router.on(state("choosing_area"), kind(Kind.TEXT))
async def subscribe_typed_area(turn: Turn) -> None:
    """A resident may type the number from the list or the area's name instead of pressing a button."""
    typed = turn.text.strip()
    areas = turn.services.settings.areas
    shown = [i for i in turn.data.get("shown", []) if isinstance(i, int) and 0 <= i < len(areas)]
    chosen = None
    number = typed_number(turn)
    if number is not None and 1 <= number <= len(shown):
        chosen = areas[shown[number - 1]]
    else:
        chosen = next((a for a in areas if plain_words(a) == plain_words(typed)), None)
    if chosen is None:  # not an area: a question, thanks… the routes after this one take it
        turn.set_state("idle")
        turn.handled = False
        return
    await _subscribe(turn, chosen)


async def _subscribe(turn: Turn, area: str) -> None:
    changed = await store.subscribe(turn.session, turn.who, area)
    turn.say(turn.t(texts.SUBSCRIBED if changed else texts.ALREADY_SUBSCRIBED, area=area))
    turn.set_state("idle")


# ---- erasure ---------------------------------------------------------------------------------------------------


@router.on(any_of(command("xoadulieu", bare=True), says("xoá dữ liệu của tôi", "xóa dữ liệu của tôi", max_words=6)))
async def erase_ask(turn: Turn) -> None:
    turn.say(turn.t(texts.ERASE_CONFIRM), [Button(texts.ERASE_YES, "erase:yes"), Button(texts.ERASE_NO, "erase:no")])
    turn.set_state("confirm_erase")


@router.on(payload("erase"))
async def erase(turn: Turn) -> None:
    if turn.text.strip() == "erase:yes" and turn.state == "confirm_erase":
        await _erase_now(turn)
    else:
        _keep_data(turn)


async def _erase_now(turn: Turn) -> None:
    ticket = await store.open_ticket(turn.session, turn.who.resident_id)
    await store.erase_resident(turn.session, turn.who.resident_id)
    turn.set_state("erased")
    turn.say(turn.t(texts.ERASED))
    if ticket is not None:
        ticket_erased(turn, ticket)


def _keep_data(turn: Turn) -> None:
    turn.set_state("idle")
    turn.say(turn.t(texts.ERASE_KEPT))


# ---- short answers to the bot's own questions ------------------------------------------------------------------

# Compared without diacritics, punctuation or case, as the whole message ("Có ạ!" = "co a").
YES = ("có", "ok", "oke", "okie", "oki", "đồng ý", "vâng", "dạ", "dạ có", "có ạ", "dạ vâng", "ừ", "uh", "được",
       "được rồi", "được ạ", "ok ạ", "yes", "có giúp", "có giúp được", "dc", "đc", "dc rồi", "đc rồi")
NO = ("không", "ko", "k", "kg", "khg", "chưa", "chưa được", "không được", "vẫn không được", "vẫn chưa được",
      "không ạ", "chưa ạ", "no", "không giúp được", "chưa giúp được", "ko dc", "k dc", "ko đc", "k đc", "chưa dc",
      "chưa đc", "vẫn ko dc", "vẫn k dc")
# Emoji sent alone: a thumbs up or a heart after an answer is the 👍 not pressed; a sad face, the 👎.
LIKED = frozenset("👍👌🙏❤♥😊🥰😍💯✅🆗👏")
DISLIKED = frozenset("👎😞😢😭☹😔🥲")
# Said out of the blue, a "dạ", "ok" or "vâng" acknowledges; it answers no question of ours.
ACKS = ("hay quá", "tốt quá", "ok rồi", "biết rồi", "hiểu rồi")
THANKS = ("cảm ơn", "cảm ơn ạ", "cảm ơn nhiều", "cảm ơn bạn", "cảm ơn em", "cảm ơn cháu", "cảm ơn trợ lý", "thanks",
          "thank you", "tks", "thank", "cảm ơn nhé", "ok cảm ơn", "ok cảm ơn ạ", "được rồi cảm ơn", "đc rồi cảm ơn",
          "dc rồi cảm ơn", "vâng cảm ơn", "dạ cảm ơn", "cám ơn", "cám ơn nhiều")


def _answered_faq(turn: Turn) -> str | None:
    """The topic the resident was just answered about, if they are replying to "Có giúp được … không?"."""
    faq_id = turn.data.get("faq_id") if turn.state == "answered" else None
    return faq_id if isinstance(faq_id, str) and faq_id in turn.services.content.by_id else None


@router.on(exactly(*YES), lambda turn: _answered_faq(turn) is not None)
async def answered_yes(turn: Turn) -> None:
    await _feedback(turn, _answered_faq(turn) or "", helpful=True)


@router.on(exactly(*NO), lambda turn: _answered_faq(turn) is not None)
async def answered_no(turn: Turn) -> None:
    await _feedback(turn, _answered_faq(turn) or "", helpful=False)


@router.on(exactly(*THANKS))
async def thanked(turn: Turn) -> None:
    faq_id = _answered_faq(turn)
    if faq_id is not None:  # thanks for an answer is the 👍 they did not press
        await _feedback(turn, faq_id, helpful=True, reply=texts.YOU_ARE_WELCOME)
    else:
        turn.say(turn.t(texts.YOU_ARE_WELCOME))


def _emoji_only(turn: Turn, faces: frozenset[str]) -> bool:
    """Only emoji (and their joiners and variation selectors), at least one of them from `faces`."""
    text = turn.text.strip() if turn.incoming.kind is Kind.TEXT else ""
    return bool(text) and not turn.words and any(ch in faces for ch in text)


@router.on(lambda turn: _emoji_only(turn, LIKED))
async def liked(turn: Turn) -> None:
    faq_id = _answered_faq(turn)
    if faq_id is not None:
        await _feedback(turn, faq_id, helpful=True, reply=texts.YOU_ARE_WELCOME)
    else:
        acknowledge(turn)


@router.on(lambda turn: _emoji_only(turn, DISLIKED), lambda turn: _answered_faq(turn) is not None)
async def disliked(turn: Turn) -> None:
    await _feedback(turn, _answered_faq(turn) or "", helpful=False)


@router.on(state("offered_human"), exactly(*YES))
async def accept_offer(turn: Turn) -> None:
    await request_human(turn, str(turn.data.get("reason", "not_found")))
    turn.set_state("idle")


@router.on(state("offered_human"), exactly(*NO))
async def decline_offer(turn: Turn) -> None:
    turn.say(turn.t(texts.OFFER_DECLINED))
    turn.set_state("idle")


# "Bác có chắc muốn xoá … không?" is answered in words as often as with the buttons.
@router.on(state("confirm_erase"), exactly(*YES, "xoá", "xoá đi", "có xoá", "xoá hết", "đồng ý xoá", texts.ERASE_YES))
async def erase_typed_yes(turn: Turn) -> None:
    await _erase_now(turn)


@router.on(state("confirm_erase"), exactly(*NO, "không xoá", "thôi", "thôi không xoá", texts.ERASE_NO))
async def erase_typed_no(turn: Turn) -> None:
    _keep_data(turn)


@router.on(exactly(*YES, *ACKS))
async def acknowledged(turn: Turn) -> None:
    """"Dạ", "ok", "vâng" with no question of ours open: acknowledged, and the menu offered."""
    acknowledge(turn)


def acknowledge(turn: Turn) -> None:
    turn.say(turn.t(texts.ACKNOWLEDGED), main_menu(turn))
    turn.set_state("idle")


# The menu's own labels, typed instead of pressed.
@router.on(kind(Kind.TEXT), lambda turn: turn.words.count(" ") <= 4)
async def typed_domain(turn: Turn) -> None:
    for domain in turn.services.content.domains:
        if turn.words in (plain_words(domain.title), plain_words(texts.MENU_LABELS.get(domain.id, domain.title))):
            await _browse(turn, domain, 0)
            return
    turn.handled = False  # not a label: the routes after this one take it


@router.on(exactly(texts.BACK_TO_MENU, "menu chính", "về menu", "xem menu", texts.MORE))
async def typed_menu(turn: Turn) -> None:
    turn.say(turn.t(texts.MENU_PROMPT), main_menu(turn))
    turn.set_state("idle")


def typed_number(turn: Turn) -> int | None:
    """"2", "2.", "số 2" → 2: a resident choosing from a numbered list by typing instead of pressing."""
    found = _TYPED_NUMBER.fullmatch(turn.words)
    return int(found.group(1)) if found else None


@router.on(state("choosing"), kind(Kind.TEXT), lambda turn: typed_number(turn) is not None)
async def choose_by_number(turn: Turn) -> None:
    """The resident typed the number of a topic in the list we last showed (a clarify step or a domain page)."""
    choices = list(turn.data.get("choices", []))
    index = (typed_number(turn) or 0) - 1
    entry = turn.services.content.by_id.get(choices[index]) if 0 <= index < len(choices) else None
    if entry is None:
        turn.set_state("idle")
        await ask(turn)
        return
    turn.decision = "chosen"
    answer(turn, entry)


@router.on(payload("rate"))
async def rate(turn: Turn) -> None:
    _, ticket_id, stars = [*turn.text.strip().split(":"), "", ""][:3]
    valid = ticket_id.isdigit() and stars in ("1", "2", "3", "4", "5")
    if valid and await tickets.rate(turn.session, int(ticket_id), turn.who.resident_id, int(stars)):
        turn.ticket_id = int(ticket_id)
        turn.say(turn.t(texts.RATED))
    else:
        turn.say(turn.t(texts.MENU_PROMPT), main_menu(turn))  # not a closed ticket of theirs


# ---- what we cannot read ---------------------------------------------------------------------------------------


@router.on(kind(Kind.MEDIA))
async def media(turn: Turn) -> None:
    turn.say(turn.t(texts.MEDIA.get(turn.incoming.media or "", texts.MEDIA_DEFAULT) + texts.MEDIA_HINT))


# ---- free text: the matcher -------------------------------------------------------------------------------------


@router.on(kind(Kind.TEXT))
async def ask(turn: Turn) -> None:
    question = turn.text.strip()[:MAX_QUESTION_CHARS]
    if not question:
        turn.say(turn.t(texts.EMPTY))
        return
    if not any(ch.isalpha() for ch in question):  # emoji, a number, a masked secret: nothing to look up
        turn.say(turn.t(texts.NO_WORDS), main_menu(turn))
        turn.set_state("idle")
        return
    result = turn.services.matcher.match(question)
    turn.faq_id, turn.decision, turn.score = result.faq_id, result.decision, result.score
    by_id = turn.services.content.by_id
    best = by_id.get(result.faq_id) if result.faq_id is not None else None
    if result.decision == "answer" and best is not None:
        answer(turn, best)
    elif result.decision == "clarify" and result.candidates:
        choices = [by_id[c.faq_id] for c in result.candidates[:3] if c.faq_id in by_id]
        buttons = [Button(entry.short, f"faq:{entry.id}") for entry in choices]
        listing = "\n".join(f"{i}. {entry.title}" for i, entry in enumerate(choices, start=1))
        turn.say(turn.t(texts.CLARIFY) + "\n" + listing, [*buttons, Button(texts.NOT_THESE, "human:clarify")])
        turn.set_state("choosing", choices=[entry.id for entry in choices])
    else:
        if len(turn.text.strip()) > MAX_QUESTION_CHARS:  # the part we did not read may have held the question
            turn.say(turn.t(texts.TOO_LONG, limit=MAX_QUESTION_CHARS))
        turn.say(turn.t(texts.NOT_SURE), [Button(texts.HUMAN, "human:not_found"), Button("Xem menu", "menu")])
        turn.set_state("offered_human", reason="not_found")
