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


def _text(raw: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise ContentError(f"{where}: missing field '{key}'")
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ContentError(f"{where}: field '{key}' must be text")
    text = str(value).strip()
    if required and not text:
        raise ContentError(f"{where}: field '{key}' is empty")
    return text


def _texts(raw: dict[str, Any], key: str, where: str, required: bool = True) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ContentError(f"{where}: missing field '{key}'")
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise ContentError(f"{where}: field '{key}' must be a list")
    out: list[str] = []
    for item in value:
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise ContentError(f"{where}: field '{key}' must be a list of texts")
        if str(item).strip():
            out.append(str(item).strip())
    return tuple(out)


def _entry(raw: Any, domain: str, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: an entry must be a mapping")
    entry_id = _text(raw, "id", where)
    where = f"{where} (entry '{entry_id}')"
    src = raw.get("source")
    if not isinstance(src, dict):
        raise ContentError(f"{where}: missing field 'source' (title, url, checked)")
    checked = src.get("checked")
    source = Source(
        title=_text(src, "title", f"{where} source"),
        url=_text(src, "url", f"{where} source"),
        # YAML reads an unquoted 2026-03-01 as a date: keep its text form.
        checked=str(checked).strip() if checked is not None else _text(src, "checked", f"{where} source"),
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


def load_file(path: Path) -> Domain:
    """Read one domain file; raises ContentError naming the file and the entry at fault."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{path.name}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ContentError(f"{path.name}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ContentError(f"{path.name}: expected a mapping with 'domain', 'title' and 'entries'")
    domain = _text(raw, "domain", path.name)
    title = _text(raw, "title", path.name)
    items = raw.get("entries")
    if not isinstance(items, list) or not items:
        raise ContentError(f"{path.name}: 'entries' must be a non-empty list")
    entries = tuple(_entry(item, domain, f"{path.name} entry {i + 1}") for i, item in enumerate(items))
    return Domain(id=domain, title=title, entries=entries)


def load_content(directory: Path | None = None) -> Content:
    """Load every `*.yaml` file of `directory` (default: the packaged content), sorted by name."""
    folder = Path(directory) if directory is not None else default_content_dir()
    if not folder.is_dir():
        raise ContentError(f"{folder}: content folder not found")
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ContentError(f"{folder}: no *.yaml content files")
    return Content(domains=tuple(load_file(f) for f in files))


def _topic_ids(topics_file: Path) -> list[str]:
    raw = yaml.safe_load(topics_file.read_text(encoding="utf-8"))
    topics = raw.get("topics", []) if isinstance(raw, dict) else []
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
            problems.append(f"domain '{d.id}': unknown domain (expected one of {', '.join(DOMAINS)})")
    for e in content.entries:
        where = f"{e.id}"
        if e.id in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(e.id)
        if len(e.short) > MAX_SHORT:
            problems.append(f"{where}: short title has {len(e.short)} characters (max {MAX_SHORT})")
        if not MIN_QUESTIONS <= len(e.questions) <= MAX_QUESTIONS:
            problems.append(f"{where}: {len(e.questions)} questions (need {MIN_QUESTIONS}–{MAX_QUESTIONS})")
        if shown_length(e) > MAX_ANSWER:
            problems.append(f"{where}: the answer shows {shown_length(e)} characters with its title and source line "
                            f"(max {MAX_ANSWER})")
        if not _URL_RE.fullmatch(e.source.url):
            problems.append(f"{where}: source url is not a well-formed http(s) link: {e.source.url!r}")
        if not _CHECKED_RE.fullmatch(e.source.checked):
            problems.append(f"{where}: source checked must be YYYY-MM or YYYY-MM-DD, not {e.source.checked!r}")
        # Residents may name the old offices in their questions; what the bot says must not.
        texts = (e.title, e.short, e.answer)
        for bad in _FORBIDDEN:
            if any(bad in t.lower() for t in texts):
                problems.append(f"{where}: mentions '{bad}' (no district level since 1/7/2025)")
    for e in content.entries:
        for r in e.related:
            if r not in content.by_id:
                problems.append(f"{e.id}: related id '{r}' does not exist")
            elif r == e.id:
                problems.append(f"{e.id}: related to itself")
    if topics_file is not None:
        try:
            topics = _topic_ids(Path(topics_file))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{topics_file}: cannot read topics: {exc}")
            topics = []
        for t in topics:
            if t not in content.by_id:
                problems.append(f"topic '{t}' is not covered by any entry")
    return problems
