"""The curated FAQ: loading `faq/content/*.yaml` into immutable objects, and checking them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

__all__ = [
    "Content",
    "ContentError",
    "Domain",
    "Entry",
    "Source",
    "check_content",
    "default_content_dir",
    "load_content",
    "shown_length",
    "typed_phrases",
]

# What a resident reads of an answer must fit one phone screen (STYLE.md): its title, the body, and the line naming
# the source, which handlers/resident.py renders as "Nguồn: <title> (kiểm tra MM/YYYY)." The link after it is
# something to tap, not to read, and is not counted.
MAX_ANSWER: Final = 900
_SOURCE_LINE_WORDS: Final = len("Nguồn:  (kiểm tra 03/2026).")
MIN_QUESTIONS: Final = 6
MAX_QUESTIONS: Final = 14
MAX_SHORT: Final = 20
DOMAINS: Final = ("vneid", "dvc", "payment", "digital-skills")
_URL_RE: Final = re.compile(r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}(?::\d+)?(?:/\S*)?")
_CHECKED_RE: Final = re.compile(r"\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?")
_TYPE_THIS_RE: Final = re.compile(r'gõ "([^"]+)"')
# Phrases the conversation answers itself rather than the FAQ (handlers/resident.py).
CONVERSATION_PHRASES: Final = frozenset({"gặp người hỗ trợ"})
# Since 1/7/2025 there is no district level; answers must not send anyone there.
_FORBIDDEN: Final = ("công an huyện", "ubnd huyện")


class ContentError(ValueError):
    """A content file cannot be read: bad YAML, or an entry without a required field."""


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str
    checked: str


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    domain: str
    title: str
    short: str
    questions: tuple[str, ...]
    keywords: tuple[str, ...]
    synonyms: tuple[str, ...]
    answer: str
    source: Source
    related: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Domain:
    id: str
    title: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Content:
    domains: tuple[Domain, ...]
    entries: tuple[Entry, ...] = field(init=False)
    by_id: MappingProxyType[str, Entry] = field(init=False)

    def __post_init__(self) -> None:
        entries = tuple(e for d in self.domains for e in d.entries)
        object.__setattr__(self, "entries", entries)
        # First occurrence wins; duplicates are reported by check_content.
        ids: dict[str, Entry] = {}
        for e in entries:
            ids.setdefault(e.id, e)
        object.__setattr__(self, "by_id", MappingProxyType(ids))


def default_content_dir() -> Path:
    """The content folder shipped inside the package."""
    return Path(__file__).resolve().parent / "content"


def _text(raw: dict[str, Any], key: str, where: str, required: bool = True, within: str = "") -> str:
    """The field `key` as text; `within` names the mapping it sits in ("source"), for the message."""
    name = f"{within}.{key}" if within else key
    value = raw.get(key)
    if value is None:
        if required:
            raise ContentError(f"{where}: thiếu trường '{name}'")
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ContentError(f"{where}: trường '{name}' phải là văn bản")
    text = str(value).strip()
    if required and not text:
        raise ContentError(f"{where}: trường '{name}' đang để trống")
    return text


def _texts(raw: dict[str, Any], key: str, where: str, required: bool = True) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ContentError(f"{where}: thiếu trường '{key}'")
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise ContentError(f"{where}: trường '{key}' phải là danh sách, mỗi dòng bắt đầu bằng \"- \"")
    out: list[str] = []
    for item in value:
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise ContentError(f"{where}: mỗi dòng của trường '{key}' phải là văn bản")
        if str(item).strip():
            out.append(str(item).strip())
    return tuple(out)


def _entry(raw: Any, domain: str, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: mục phải gồm các trường id, title, short, questions, answer, source")
    entry_id = _text(raw, "id", where)
    where = f"{where} ({entry_id})"
    src = raw.get("source")
    if not isinstance(src, dict):
        raise ContentError(f"{where}: thiếu trường 'source' (gồm title, url, checked)")
    checked = src.get("checked")
    source = Source(
        title=_text(src, "title", where, within="source"),
        url=_text(src, "url", where, within="source"),
        # YAML reads an unquoted 2026-03-01 as a date: keep its text form.
        checked=str(checked).strip() if checked is not None else _text(src, "checked", where, within="source"),
    )
    return Entry(
        id=entry_id,
        domain=domain,
        title=_text(raw, "title", where),
        short=_text(raw, "short", where),
        questions=_texts(raw, "questions", where),
        keywords=_texts(raw, "keywords", where, required=False),
        synonyms=_texts(raw, "synonyms", where, required=False),
        answer=_text(raw, "answer", where),
        source=source,
        related=_texts(raw, "related", where, required=False),
    )


def _unreadable(exc: OSError | UnicodeDecodeError) -> str:
    """Why a file could not be read, in the operator's words (the OS's own are English)."""
    if isinstance(exc, UnicodeDecodeError):
        return "tệp không phải văn bản UTF-8"
    if isinstance(exc, FileNotFoundError):
        return "không có tệp này"
    if isinstance(exc, IsADirectoryError):
        return "đây là một thư mục"
    if isinstance(exc, PermissionError):
        return "không có quyền đọc"
    return exc.strerror or type(exc).__name__


def _bad_yaml(exc: yaml.YAMLError) -> str:
    """Where a YAML file breaks, on one line: PyYAML's own message is several lines of English."""
    said = "sai cú pháp YAML"
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:  # PyYAML counts lines and columns from 0
        said += f" ở dòng {mark.line + 1}, cột {mark.column + 1}"
        opened = getattr(exc, "context_mark", None)
        if opened is not None and opened.line != mark.line:
            said += f" (phần bắt đầu từ dòng {opened.line + 1})"
    if "'\\t'" in str(getattr(exc, "problem", "")):
        return f"{said}: có ký tự Tab, hãy thụt lề bằng dấu cách"
    return f"{said}: xem lại thụt lề, dấu hai chấm, dấu nháy và dấu ngoặc quanh chỗ đó"


def _read_yaml(path: Path, name: str) -> Any:
    """The file's YAML, or ContentError saying on one line, after `name`, what is wrong with it."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{name}: không đọc được tệp: {_unreadable(exc)}") from exc
    except yaml.YAMLError as exc:
        raise ContentError(f"{name}: {_bad_yaml(exc)}") from exc


def load_file(path: Path) -> Domain:
    """Read one domain file; raises ContentError naming the file and the entry at fault."""
    raw = _read_yaml(path, path.name)
    if not isinstance(raw, dict):
        raise ContentError(f"{path.name}: tệp phải gồm các trường domain, title và entries")
    domain = _text(raw, "domain", path.name)
    title = _text(raw, "title", path.name)
    items = raw.get("entries")
    if not isinstance(items, list) or not items:
        raise ContentError(f"{path.name}: trường 'entries' phải là danh sách có ít nhất một mục")
    entries = tuple(_entry(item, domain, f"{path.name} mục {i + 1}") for i, item in enumerate(items))
    return Domain(id=domain, title=title, entries=entries)


def load_content(directory: Path | None = None) -> Content:
    """Load every `*.yaml` file of `directory` (default: the packaged content), sorted by name."""
    folder = Path(directory) if directory is not None else default_content_dir()
    if not folder.is_dir():
        raise ContentError(f"{folder}: không tìm thấy thư mục nội dung hỏi đáp")
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ContentError(f"{folder}: thư mục không có tệp nội dung *.yaml nào")
    return Content(domains=tuple(load_file(f) for f in files))


def _topic_ids(topics_file: Path) -> list[str]:
    name = f"{topics_file} (danh sách chủ đề)"
    raw = _read_yaml(topics_file, name)
    topics = raw.get("topics") if isinstance(raw, dict) else None
    if not isinstance(topics, list):
        raise ContentError(f"{name}: cần trường 'topics' là một danh sách")
    return [str(t["id"]) for t in topics if isinstance(t, dict) and "id" in t]


def typed_phrases(entry: Entry) -> list[str]:
    """What the entry's answer tells residents to type next (gõ "quên mật khẩu VNeID"); the matcher must answer
    each of these (`Matcher.typed_phrase_problems`)."""
    return [p for p in _TYPE_THIS_RE.findall(entry.answer) if p not in CONVERSATION_PHRASES]


def shown_length(entry: Entry) -> int:
    """Characters of the answer a resident reads: title, body and source line, one line each (see MAX_ANSWER)."""
    return len(entry.title) + 1 + len(entry.answer.strip()) + 1 + len(entry.source.title) + _SOURCE_LINE_WORDS


def check_content(content: Content, topics_file: Path | None = None) -> list[str]:
    """Problems found in the content (empty when it is fine). Without `topics_file`, coverage is not checked."""
    problems: list[str] = []
    seen: set[str] = set()
    for d in content.domains:
        if d.id not in DOMAINS:
            problems.append(f"lĩnh vực '{d.id}': không có lĩnh vực này (domain phải là một trong {', '.join(DOMAINS)})")
    for e in content.entries:
        where = f"{e.id}"
        if e.id in seen:
            problems.append(f"{where}: mã mục bị trùng với một mục khác")
        seen.add(e.id)
        if len(e.short) > MAX_SHORT:
            problems.append(f"{where}: tên ngắn (short) có {len(e.short)} ký tự, tối đa {MAX_SHORT}")
        if not MIN_QUESTIONS <= len(e.questions) <= MAX_QUESTIONS:
            problems.append(f"{where}: có {len(e.questions)} cách hỏi (questions), cần từ {MIN_QUESTIONS} "
                            f"đến {MAX_QUESTIONS}")
        if shown_length(e) > MAX_ANSWER:
            problems.append(f"{where}: câu trả lời hiện ra {shown_length(e)} ký tự kể cả tiêu đề và dòng nguồn, "
                            f"tối đa {MAX_ANSWER}")
        if not _URL_RE.fullmatch(e.source.url):
            problems.append(f"{where}: liên kết nguồn (source.url) phải là địa chỉ http:// hoặc https:// đầy đủ, "
                            f"không phải {e.source.url!r}")
        if not _CHECKED_RE.fullmatch(e.source.checked):
            problems.append(f"{where}: ngày kiểm tra nguồn (source.checked) cần dạng YYYY-MM hoặc YYYY-MM-DD, "
                            f"ví dụ 2026-03, không phải {e.source.checked!r}")
        # Residents may name the old offices in their questions; what the bot says must not.
        texts = (e.title, e.short, e.answer)
        for bad in _FORBIDDEN:
            if any(bad in t.lower() for t in texts):
                problems.append(f"{where}: nhắc tới '{bad}' (từ 1/7/2025 không còn cấp huyện)")
    for e in content.entries:
        for r in e.related:
            if r not in content.by_id:
                problems.append(f"{e.id}: mục liên quan (related) '{r}' không tồn tại")
            elif r == e.id:
                problems.append(f"{e.id}: mục liên quan (related) trỏ về chính mục này")
    if topics_file is not None:
        try:
            topics = _topic_ids(Path(topics_file))
        except ContentError as exc:
            problems.append(str(exc))
            topics = []
        for t in topics:
            if t not in content.by_id:
                problems.append(f"chủ đề '{t}': chưa có mục nào trả lời")
    return problems
