"""Residents' questions grouped by similarity, so staff see "12 people asked about garbage collection" once.

Greedy leader clustering: each question joins the first group whose first question is similar enough
(rapidfuzz token_set_ratio on the folded text), or starts a new group. Quadratic in the worst case, which is
fine for the few hundred recent questions the page shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, utils

from bot.store.stats import Asked
from faq.normalize import fold

THRESHOLD = 70.0
MAX_PREFILL_QUESTIONS = 12
MAX_PREFILL_CHARS = 300
_WORD = re.compile(r"[a-z0-9]+")


def folded(text: str) -> str:
    return utils.default_process(fold(text))


@dataclass
class Group:
    items: list[Asked] = field(default_factory=list)
    key: str = ""

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def latest(self) -> Asked:
        return max(self.items, key=lambda a: a.message_id)

    @property
    def faq_ids(self) -> list[str]:
        return sorted({a.faq_id for a in self.items if a.faq_id})

    def questions(self) -> list[str]:
        """Distinct phrasings for an FAQ entry's questions, most recent first."""
        seen: set[str] = set()
        out: list[str] = []
        for item in sorted(self.items, key=lambda a: a.message_id, reverse=True):
            text = " ".join(item.text.split())[:MAX_PREFILL_CHARS]
            if text and folded(text) not in seen:
                seen.add(folded(text))
                out.append(text)
        return out[:MAX_PREFILL_QUESTIONS]

    def suggested_id(self, prefix: str = "dvc") -> str:
        words = _WORD.findall(self.key)[:5]
        return f"{prefix}." + ("-".join(words) or "moi")

    def suggested_title(self) -> str:
        text = " ".join(self.items[0].text.split())
        return (text[:1].upper() + text[1:])[:120]

    def suggested_short(self) -> str:
        title = self.suggested_title()
        if len(title) <= 20:
            return title
        cut = title[:20].rsplit(" ", 1)[0]
        return cut or title[:20]


def group_similar(items: Sequence[Asked], threshold: float = THRESHOLD) -> list[Group]:
    groups: list[Group] = []
    for item in items:
        key = folded(item.text)
        if not key:
            continue
        for group in groups:
            if fuzz.token_set_ratio(key, group.key) >= threshold:
                group.items.append(item)
                break
        else:
            groups.append(Group([item], key))
    return sorted(groups, key=lambda g: (-g.size, -g.latest.message_id))
