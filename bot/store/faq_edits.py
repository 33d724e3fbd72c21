"""Staff edits of FAQ entries: stored as rows (history kept), applied over the packaged content.

The newest `faq_edits` row per `faq_id` wins. Its `entry` JSON is either a whole entry (an edit of a packaged
entry, or a new one), `{"hidden": true}` (the bot stops using the entry), or `{"restored": true}` (back to the
packaged version, or gone if the entry was new). `effective_content` builds the content the bot answers from;
`troly serve` calls it at start, and the dashboard after each edit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.knowledge import Knowledge
from bot.periodic import Periodic
from bot.store import audit
from bot.store.models import FaqEdit
from faq.content import MAX_ANSWER, MAX_QUESTIONS, MAX_SHORT, Content, Domain, Entry, Source

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+$")
CHECKED_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")
MAX_ID = 120
MAX_TITLE = 120
MAX_LIST = 30  # keywords, synonyms
# Since 1/7/2025 there is no district level; what the bot says must not send anyone there.
FORBIDDEN = ("công an huyện", "ubnd huyện")


def entry_to_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "domain": entry.domain,
        "title": entry.title,
        "short": entry.short,
        "questions": list(entry.questions),
        "keywords": list(entry.keywords),
        "synonyms": list(entry.synonyms),
        "answer": entry.answer,
        "source": {"title": entry.source.title, "url": entry.source.url, "checked": entry.source.checked},
        "related": list(entry.related),
    }


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return tuple(str(v) for v in value)


def entry_from_json(data: Mapping[str, Any]) -> Entry:
    """Raises ValueError (or KeyError/TypeError) when the stored JSON is not a whole entry."""
    source = data["source"]
    return Entry(
        id=str(data["id"]),
        domain=str(data["domain"]),
        title=str(data["title"]),
        short=str(data["short"]),
        questions=_texts(data["questions"]),
        keywords=_texts(data.get("keywords", [])),
        synonyms=_texts(data.get("synonyms", [])),
        answer=str(data["answer"]),
        source=Source(title=str(source["title"]), url=str(source["url"]), checked=str(source["checked"])),
        related=_texts(data.get("related", [])),
    )


def problems(entry: Entry, content: Content, *, new: bool) -> list[str]:
    """What is wrong with an entry a staff member wrote, as Vietnamese sentences (empty when it is fine).

    Staff may save an entry with fewer phrasings than the packaged content needs (a group of unanswered
    questions often has two or three): the matcher works with one, and more can be added later.
    """
    found: list[str] = []
    if not ID_PATTERN.fullmatch(entry.id) or len(entry.id) > MAX_ID:
        found.append("Mã mục chỉ gồm chữ thường không dấu, số, dấu gạch ngang và ít nhất một dấu chấm, "
                     "ví dụ dvc.thu-gom-rac.")
    elif new and entry.id in content.by_id:
        found.append(f"Mã {entry.id} đã có; chọn mã khác hoặc sửa mục đó.")
    if entry.domain not in {d.id for d in content.domains}:
        found.append("Lĩnh vực không hợp lệ.")
    if not entry.title.strip():
        found.append("Thiếu tiêu đề.")
    elif len(entry.title) > MAX_TITLE:
        found.append(f"Tiêu đề dài quá {MAX_TITLE} ký tự.")
    if not entry.short.strip():
        found.append("Thiếu tên ngắn (hiện trên nút bấm).")
    elif len(entry.short) > MAX_SHORT:
        found.append(f"Tên ngắn có {len(entry.short)} ký tự, tối đa {MAX_SHORT} (giới hạn nút bấm của Zalo).")
    if not entry.questions:
        found.append("Cần ít nhất một cách hỏi.")
    elif len(entry.questions) > MAX_QUESTIONS:
        found.append(f"Tối đa {MAX_QUESTIONS} cách hỏi.")
    if len(entry.keywords) > MAX_LIST or len(entry.synonyms) > MAX_LIST:
        found.append(f"Tối đa {MAX_LIST} từ khoá và {MAX_LIST} từ đồng nghĩa.")
    if not entry.answer.strip():
        found.append("Thiếu câu trả lời.")
    elif len(entry.answer) > MAX_ANSWER:
        found.append(f"Câu trả lời có {len(entry.answer)} ký tự, tối đa {MAX_ANSWER}.")
    url = urlsplit(entry.source.url)
    if not entry.source.title.strip():
        found.append("Thiếu tên nguồn.")
    if url.scheme not in ("http", "https") or "." not in url.netloc or len(entry.source.url) > 500:
        found.append("Liên kết nguồn phải là địa chỉ http:// hoặc https:// đầy đủ.")
    if not CHECKED_PATTERN.fullmatch(entry.source.checked):
        found.append("Ngày kiểm tra nguồn cần dạng YYYY-MM hoặc YYYY-MM-DD.")
    for related in entry.related:
        if related == entry.id or related not in content.by_id:
            found.append(f"Mục liên quan {related} không tồn tại.")
    said = " ".join((entry.title, entry.short, entry.answer)).lower()
    for bad in FORBIDDEN:
        if bad in said:
            found.append(f"Không nhắc \"{bad}\": từ 1/7/2025 không còn cấp huyện.")
    return found


# ---- storage ----------------------------------------------------------------------------------------------------


def _add(session: AsyncSession, faq_id: str, entry: dict[str, Any], author: str, at: datetime | None,
         action: str) -> FaqEdit:
    edit = FaqEdit(faq_id=faq_id, entry=entry, author=author)
    if at is not None:
        edit.created_at = at
    session.add(edit)
    audit.record(session, author, action, f"faq:{faq_id}")
    return edit


def save_entry(session: AsyncSession, entry: Entry, author: str, at: datetime | None = None) -> FaqEdit:
    return _add(session, entry.id, entry_to_json(entry), author, at, "faq.edit")


def hide_entry(session: AsyncSession, faq_id: str, author: str, at: datetime | None = None) -> FaqEdit:
    return _add(session, faq_id, {"hidden": True}, author, at, "faq.hide")


def restore_entry(session: AsyncSession, faq_id: str, author: str, at: datetime | None = None) -> FaqEdit:
    return _add(session, faq_id, {"restored": True}, author, at, "faq.restore")


async def history(session: AsyncSession, faq_id: str) -> Sequence[FaqEdit]:
    """Every stored version of one entry, newest first."""
    return (
        await session.scalars(select(FaqEdit).where(FaqEdit.faq_id == faq_id).order_by(FaqEdit.id.desc()))
    ).all()


async def latest_edits(session: AsyncSession) -> dict[str, FaqEdit]:
    newest = select(func.max(FaqEdit.id)).group_by(FaqEdit.faq_id)
    rows = await session.scalars(select(FaqEdit).where(FaqEdit.id.in_(newest)))
    return {row.faq_id: row for row in rows}


async def newest_edit_id(session: AsyncSession) -> int:
    """Changes whenever anyone edits: a process compares it to notice edits made by another process."""
    return int(await session.scalar(select(func.max(FaqEdit.id))) or 0)


def apply_edits(packaged: Content, edits: Mapping[str, Mapping[str, Any]]) -> Content:
    """The packaged content with each edit applied. An unreadable edit is skipped (and logged), so one bad row
    can never stop the bot from starting."""
    replaced: dict[str, Entry | None] = {}
    for faq_id, data in edits.items():
        if data.get("restored"):
            continue
        if data.get("hidden"):
            replaced[faq_id] = None
            continue
        try:
            entry = entry_from_json(data)
        except (KeyError, TypeError, ValueError):
            log.warning("unreadable FAQ edit skipped", extra={"faq_id": faq_id})
            continue
        if entry.id != faq_id:
            log.warning("FAQ edit with a mismatched id skipped", extra={"faq_id": faq_id})
            continue
        replaced[faq_id] = entry
    domain_ids = [d.id for d in packaged.domains]
    lists: dict[str, list[Entry]] = {d.id: [] for d in packaged.domains}
    for domain in packaged.domains:
        for entry in domain.entries:
            new = replaced.get(entry.id, entry)
            if new is None:
                continue
            if new.domain in lists:
                lists[new.domain].append(new)
            else:
                lists[domain.id].append(entry)  # an edit naming an unknown domain keeps the packaged entry
    packaged_ids = set(packaged.by_id)
    for faq_id, new in replaced.items():
        if new is None or faq_id in packaged_ids:
            continue
        if new.domain in lists:
            lists[new.domain].append(new)
        else:
            log.warning("new FAQ entry in an unknown domain skipped", extra={"faq_id": faq_id})
    titles = {d.id: d.title for d in packaged.domains}
    return Content(domains=tuple(Domain(d, titles[d], tuple(lists[d])) for d in domain_ids))


async def effective_content(session: AsyncSession, packaged: Content) -> Content:
    """The content the bot should answer from: packaged entries overridden and extended by staff edits."""
    edits = await latest_edits(session)
    return apply_edits(packaged, {faq_id: row.entry for faq_id, row in edits.items()})


async def reload(sessions: async_sessionmaker[AsyncSession], knowledge: Knowledge, packaged: Content) -> int:
    """Swap the bot's knowledge for the effective content; returns the newest edit id it includes."""
    async with sessions() as session:
        newest = await newest_edit_id(session)
        content = await effective_content(session, packaged)
    knowledge.replace(content, newest)
    return newest


class EditWatcher(Periodic):
    """Picks up edits saved by another process (several processes behind a load balancer): every `interval`
    seconds it compares the newest edit id with the one the knowledge includes, and reloads when they differ
    (rebuilding the matcher takes the loop for a fraction of a second: only when something changed)."""

    name = "faq-edits"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], knowledge: Knowledge, packaged: Content,
                 interval: float = 30.0) -> None:
        super().__init__(interval)
        self.sessions = sessions
        self.knowledge = knowledge
        self.packaged = packaged

    async def check(self) -> bool:
        """Reload if anything changed; True when it did."""
        async with self.sessions() as session:
            newest = await newest_edit_id(session)
        if newest == self.knowledge.edit_id:
            return False
        await reload(self.sessions, self.knowledge, self.packaged)
        return True

    async def tick(self) -> bool:
        return await self.check()
