"""Match a resident's question to a FAQ entry: answer, clarify or escalate.

Ranking is BM25 on the folded form (no diacritics) over syllables and syllable pairs, built from each entry's
title, questions, keywords and synonyms, normalised exactly like the questions. On top of that:
- the diacritics the resident did type must agree with the entry's words (đường vs dương), else a term
  counts less;
- a word unknown to the FAQ that is not a real syllable is looked up with rapidfuzz among known words
  ("khaon" → "khoan") or split into known syllables ("dichvucong");
- unknown real words ("hộ chiếu", "sổ đỏ") count against the match: they are the usual sign of a question
  outside the FAQ.
The score of an entry (0..1) is the evidence for it over the question's information, calibrated by how much
information the question carries:
- the information of a word is what the best possible entry could draw from it (idf times the word's largest
  BM25 weight in any entry), so a rare word that the FAQ only uses in passing (chatter such as "xóm", "tụi")
  weighs less than a telling word of the same rarity that entries are about;
- coverage (evidence / information) is multiplied by (information / INFO_REF) ** (1 - INFO_EXPONENT): a tiny
  question of two common syllables typed without diacritics ("mai co mua khong") cannot reach answer
  confidence however well one entry covers it, and a long question full of chatter ("Cho chú hỏi cái app … tụi
  nhỏ trong xóm nói … Chú sợ …") is not diluted in proportion to its length, so a clear winner among its few
  telling words is at least offered.
The decision compares the best score and its lead over the next ones with the thresholds below, calibrated on
eval/dev.jsonl and checked on our own unseen questions (tests/fixtures/unseen.jsonl).

Residents retype the labels they see and the phrases answers tell them to type ("gõ “kích hoạt VNeID”"); such
short questions carry too little information for the ranking to answer them with confidence. So a question that is
exactly one of the FAQ's own phrases, give or take a polite "ạ" or "cho hỏi", is decided by it:
- an entry's title, button label or listed phrasing: that entry answers (offered among the others that share it);
- a keyword that no other entry uses, even inside a longer phrase: that entry answers. Keywords are index words,
  and many are shared in passing: "thẻ BHYT" is listed by the VNeID wallet entry but also used by the entries on
  renewing the card, so it stays with the ranking, which offers the choice.

Two short questions are not left to the thresholds: one word a few entries are about ("otp") offers those entries,
and a question asking what an app is ("VNeID là phần mềm gì …") offers its overview entry (faq/tables/named_apps.py).

The index is immutable and compact (integer term ids, postings in flat arrays, idf and document weights
precomputed) so that a 10,000-entry FAQ stays small and fast.
"""

from __future__ import annotations

import heapq
import itertools
import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from types import MappingProxyType
from typing import Any, Final, Literal

from rapidfuzz import process
from rapidfuzz.distance import OSA

from faq.content import Entry, typed_phrases
from faq.normalize import Normalized, fold, normalize, phrase_key
from faq.tables.named_apps import GENERIC_DOMAINS, NAMED_APPS, WHAT_IS
from faq.tables.out_of_scope import COMPLAINT_GAP, COMPLAINTS, OUT_OF_SCOPE, UNLESS
from faq.tables.syllables import VALID_TONELESS

__all__ = ["Candidate", "Decision", "Match", "Matcher"]

Decision = Literal["answer", "clarify", "escalate"]

# ---- ranking constants
K1: Final = 1.2
B: Final = 0.5  # entries differ in length mostly by how many phrasings they list: normalise only half
FIELD_WEIGHTS: Final = MappingProxyType({"title": 2.0, "short": 1.0, "question": 1.0, "keyword": 2.0, "synonym": 1.5})
STOP_PAIR_WEIGHT: Final = 1.0  # a pair with a particle ("là gì") tells less than two content words
BIGRAM_WEIGHT: Final = 0.5  # a matching syllable pair counts as much as a word of the same rarity
ACCENT_MISMATCH: Final = 0.7  # a typed diacritic that the entry never uses (dương vs đường)
UNKNOWN_WEIGHT: Final = 0.6  # share of a rare word's weight that an unknown real word removes from coverage
UNKNOWN_PAIR_WEIGHT: Final = 0.3  # the same for a pair of known words never seen together
FUZZY_TWO_EDITS_LEN: Final = 8  # a typo is one edit away from a known word, two for long words
FUZZY_MIN_LEN: Final = 4
FUZZY_MAX_TOKENS: Final = 4  # bound per-question work on garbled input
OUT_OF_SCOPE_FACTOR: Final = 0.3  # an entry that never mentions the other subject the question names
NEAR_WEIGHT: Final = 0.2  # share of the score given to the nearest single phrasing
NEAR_CANDIDATES: Final = 3  # entries for which it is computed
BUDGET: Final = 1500  # postings read in full per question before narrowing to the best candidates
CANDIDATES: Final = 60
DENSE_MAX: Final = 512  # up to this many entries, evidence is summed in a list rather than a dict

INFO_REF: Final = 20.0  # information (idf units) of a typical question: its score is its plain coverage
INFO_EXPONENT: Final = 0.4  # how much of the coverage's dilution by extra information is kept (1: all of it)

# ---- decision thresholds (calibrated on eval/dev.jsonl and checked on tests/fixtures/unseen.jsonl)
ANSWER_MIN: Final = 0.50  # best score needed to answer
ANSWER_LEAD: Final = 0.80  # and the second must be below this share of the best,
ANSWER_GAP: Final = 0.15  # or this far below it
CLARIFY_MIN: Final = 0.30  # below this nothing is good enough: escalate
CLARIFY_SHARE: Final = 0.60  # entries within this share of the best are offered when clarifying
MAX_CHOICES: Final = 3
PHRASE_MAX_WORDS: Final = 8  # longer phrases are left to the ranking, which has enough to go on
OVERVIEW_MIN: Final = 0.15  # an app's overview asked for ("VNeID là phần mềm gì …") is offered from this score
TOPIC_WORD_MAX_ENTRIES: Final = 12  # a word alone ("otp") is a topic to choose within when this few entries use it

# Words that say nothing about the topic (addressing, politeness, particles, pronouns), with diacritics.
# They still form pairs ("là gì", "bị khóa") but do not count alone.
STOPWORDS: Final = frozenset(
    [
        "a",
        "à",
        "á",
        "ạ",
        "ả",
        "ah",
        "admin",
        "anh",
        "ba",
        "bà",
        "bác",
        "bạn",
        "bố",
        "cả",
        "cái",
        "các",
        "cháu",
        "chị",
        "chú",
        "cô",
        "có",
        "của",
        "cứ",
        "cho",
        "chứ",
        "chút",
        "đã",
        "đang",
        "đây",
        "để",
        "đi",
        "đó",
        "được",
        "em",
        "gì",
        "hả",
        "hay",
        "hen",
        "hỏi",
        "hở",
        "không",
        "kia",
        "là",
        "làm",
        "luôn",
        "mà",
        "má",
        "mẹ",
        "mình",
        "một",
        "nào",
        "này",
        "nè",
        "nghe",
        "nhé",
        "nha",
        "nhỉ",
        "nhờ",
        "nữa",
        "ở",
        "ơi",
        "ông",
        "ra",
        "rồi",
        "sao",
        "sẽ",
        "thì",
        "thế",
        "thôi",
        "tôi",
        "và",
        "vậy",
        "vì",
        "với",
        "xin",
        "ta",
        "tao",
        "nhưng",
        "những",
        "nhiều",
        "ấy",
        "ừ",
        "vâng",
        "dạ",
        "giùm",
        "giúp",
        "dùm",
        "như",
        "biết",
        "muốn",
        "cần",
        "phải",
        "bị",
        "nó",
        "họ",
    ]
)
# A word typed without diacritics is a stopword when one of its accented forms is.
_FOLDED_STOPWORDS: Final = frozenset(fold(w) for w in STOPWORDS)


def _is_stop(folded: str, accented: str) -> bool:
    if accented and accented != folded:
        return accented in STOPWORDS
    return folded in _FOLDED_STOPWORDS


_FOLDED_SYLLABLES: Final = frozenset(fold(s) for s in VALID_TONELESS)

_VALUE: Final = itemgetter(1)


@dataclass(frozen=True, slots=True)
class Candidate:
    faq_id: str
    score: float


@dataclass(frozen=True, slots=True)
class Match:
    """What the bot would do with one question. `choices` are the entries offered when clarifying."""

    query: str
    decision: Decision
    faq_id: str | None
    score: float
    candidates: tuple[Candidate, ...]
    choices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The `troly match --jsonl` object of DESIGN.md."""
        return {
            "query": self.query,
            "decision": self.decision,
            "faq_id": self.faq_id,
            "score": round(self.score, 4),
            "candidates": [{"faq_id": c.faq_id, "score": round(c.score, 4)} for c in self.candidates],
        }


# How `faq check` says what a phrase got, when it was not answered outright.
_OUTCOME_WORDS: Final = MappingProxyType({"clarify": "chỉ được hỏi lại", "escalate": "bị chuyển cho người hỗ trợ"})


@dataclass(frozen=True, slots=True)
class _Subject:
    """A subject the question names from faq/tables/out_of_scope.py: an entry not mentioning it is penalised."""

    word: str  # a single accented word the entry must use, or ""
    terms: tuple[int, ...]  # (and) the term ids (a word, or a phrase's pairs) the entry must all contain
    phrase: tuple[str, ...] = ()  # the phrase (folded) named,
    typed: tuple[str, ...] = ()  # and as typed when the question carries diacritics: an entry that spells it
    # otherwise does not mention it ("điểm thì" is not "điểm thi")


@dataclass(frozen=True, slots=True)
class _Query:
    uni: dict[int, float]  # term id -> weight (1, or the fuzzy similarity)
    bi: dict[int, float]
    accented: dict[int, str]  # unigram term id -> the accented form typed, when it had diacritics
    unknown: int  # real words absent from the FAQ
    unknown_pairs: int  # adjacent content words whose pair the FAQ never uses
    foreign: tuple[_Subject, ...]  # other subjects named (see _analyse)
    apps: tuple[int, ...]  # indexes of the apps named (faq/tables/named_apps.py)
    about: tuple[int, ...]  # those and the apps whose topic words it uses: an entry mentioning one of them is kept


def _parts(token: str) -> list[str]:
    """Split URLs and other punctuated tokens into their alphanumeric parts, keeping numbers whole."""
    if token.isalnum():
        return [token]
    if token.replace(".", "").replace(",", "").replace("/", "").replace(":", "").replace("-", "").isdigit():
        return [token]
    out: list[str] = []
    cur: list[str] = []
    for ch in token:
        if ch.isalnum():
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def _entries_using(ids: list[int], bi_keys: array[int], n_uni: int, offsets: array[int], post_docs: array[int]
                   ) -> set[int]:
    """The entries whose words include every word and every adjacent pair of a keyword (its term ids `ids`)."""
    terms = list(ids)
    for a, b in itertools.pairwise(ids):
        terms.append(n_uni + bisect_left(bi_keys, a * n_uni + b))
    found: set[int] | None = None
    for t in sorted(terms, key=lambda t: offsets[t + 1] - offsets[t]):  # rarest first: the smallest sets
        if offsets[t] == offsets[t + 1]:
            continue  # a particle ("không", "có"): counted in its pairs only
        docs = set(post_docs[offsets[t] : offsets[t + 1]])
        found = docs if found is None else found & docs
        if len(found) <= 1:
            break
    return found or set()


def _short_phrase_key(n: Normalized) -> str:
    """The text's `phrase_key` when it is short enough to be decided by the FAQ's own phrases, else ""."""
    return phrase_key(n.folded_tokens) if len(n.folded_tokens) <= PHRASE_MAX_WORDS else ""


def _span_of(words: Sequence[tuple[str, str]], i: int, phrase: tuple[str, ...]) -> Sequence[tuple[str, str]] | None:
    """The (folded, accented) words of `phrase` when it starts at `words[i]` (compared folded), else None."""
    span = words[i : i + len(phrase)]
    return span if tuple(f for f, _ in span) == phrase else None


def _contains(words: Sequence[tuple[str, str]], phrase: tuple[str, ...]) -> bool:
    """Whether the (folded, accented) words hold `phrase` (folded) anywhere."""
    return any(_span_of(words, i, phrase) is not None for i in range(len(words) - len(phrase) + 1))


def _typed_as(span: Sequence[tuple[str, str]], folded: tuple[str, ...], accented: tuple[str, ...]) -> bool:
    """Whether the (folded, accented) words are the phrase: compared without diacritics, except where the resident
    typed some, and a single syllable that has diacritics only when typed with them ("vỡ" is not "vo")."""
    if tuple(f for f, _ in span) != folded:
        return False
    single = len(folded) == 1 and accented[0] != folded[0]
    return all(a == want if a and a != f else not single for (f, a), want in zip(span, accented, strict=True))


def _content_tokens(folded: Sequence[str], accented: Sequence[str]) -> list[tuple[str, str]]:
    """(folded, accented) word pairs with URLs split; accented is '' when the parts lost it."""
    out: list[tuple[str, str]] = []
    for f, a in zip(folded, accented, strict=True):
        if f.isalnum():
            out.append((f, a))
            continue
        parts = _parts(f)
        if len(parts) == 1 and parts[0] == f:
            out.append((f, a))
        else:
            out.extend((p, "") for p in parts)
    return out


@dataclass(frozen=True)
class Matcher:
    """An immutable index over FAQ entries. Build once with `Matcher.build(entries)`, then `match()`."""

    ids: tuple[str, ...]
    related: tuple[frozenset[int], ...]
    uni_ids: MappingProxyType[str, int]
    bi_keys: array[int]  # sorted (left id * n_uni + right id) of known pairs; term id = n_uni + index
    idf: array[float]  # per term id
    offsets: array[int]  # CSR: postings of term t are [offsets[t], offsets[t+1])
    post_docs: array[int]
    post_w: array[float]  # precomputed BM25 document weight, already normalised to 0..1
    acc_ids: MappingProxyType[str, int]
    acc_offsets: array[int]
    acc_docs: array[int]  # per accented word, the sorted entries that use it
    vocab_by_len: tuple[tuple[str, ...], ...]
    unknown_idf: float
    oos_multi: MappingProxyType[str, tuple[tuple[str, ...], ...]]  # first syllable -> folded phrases
    # folded phrase -> entry -> how that entry's texts spell it (accented words; "" where a part lost them)
    oos_spellings: MappingProxyType[tuple[str, ...], MappingProxyType[int, frozenset[tuple[str, ...]]]]
    oos_single: frozenset[str]  # single words, compared with diacritics
    # folded phrase -> folded phrases that, in the same question, make it a subject the FAQ covers after all
    oos_unless: MappingProxyType[tuple[str, ...], tuple[tuple[str, ...], ...]]
    # (folded subject phrases, the (folded, accented) words that make them another subject, folded phrases that
    # cancel it): see faq/tables/out_of_scope.py COMPLAINTS
    complaints: tuple[tuple[tuple[tuple[str, ...], ...], tuple[tuple[tuple[str, ...], tuple[str, ...]], ...],
                            tuple[tuple[str, ...], ...]], ...]
    app_specific: frozenset[int]  # entries about one app or service, which must mention an app the question names
    # first word -> (phrase, app index, whether it names the app rather than being one of its topic words)
    app_phrases: MappingProxyType[str, tuple[tuple[tuple[str, ...], int, bool], ...]]
    app_mask: array[int]  # per entry, bit a set when it mentions app a of NAMED_APPS
    doc_phrase_offsets: array[int]  # phrasings of entry d are [doc_phrase_offsets[d], doc_phrase_offsets[d+1])
    phrase_mass: array[float]  # per phrasing, the idf mass of its terms
    phrase_offsets: array[int]  # CSR by term id: the phrasings that use term t are phrase_post[offsets[t]:...]
    phrase_post: array[int]  # phrasing ids, sorted per term
    peak: array[float]  # per term id, the largest document weight among its postings
    phrase_owners: MappingProxyType[str, tuple[int, ...]]  # phrase_key of a title, label or phrasing -> entries
    keyword_owner: MappingProxyType[str, int]  # phrase_key of a keyword -> the one entry using its words
    topic_terms: frozenset[int]  # words of the entries' titles, labels and keywords: what entries are about
    # per app of NAMED_APPS with an overview entry: (its names and the ways of asking what it is, folded; the entry)
    app_overviews: tuple[tuple[tuple[tuple[str, ...], ...], int], ...]
    n_uni: int = field(default=0)

    # ------------------------------------------------------------------------------------------- build

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> Matcher:
        entries = tuple(entries)
        ids = tuple(e.id for e in entries)
        pos = {eid: i for i, eid in enumerate(ids)}
        related = tuple(frozenset(pos[r] for r in e.related if r in pos) for e in entries)

        uni_ids: dict[str, int] = {}
        doc_uni: list[dict[int, float]] = []
        doc_bi: list[dict[tuple[int, int], float]] = []
        doc_acc: list[set[str]] = []
        doc_phrases: list[list[tuple[list[int], list[tuple[int, int]]]]] = []
        doc_words: list[list[list[tuple[str, str]]]] = []  # per entry, the (folded, accented) words of each text
        owners: dict[str, list[int]] = {}
        topic_terms: set[int] = set()
        keyword_owners: dict[str, tuple[set[int], Normalized]] = {}  # key -> (entries listing it, the keyword)
        for d, e in enumerate(entries):
            phrases: list[tuple[list[int], list[tuple[int, int]]]] = []
            tf_u: dict[int, float] = {}
            tf_b: dict[tuple[int, int], float] = {}
            acc: set[str] = set()
            words_of: list[list[tuple[str, str]]] = []
            texts = [(e.title, "title"), (e.short, "short"), *((q, "question") for q in e.questions),
                     *((k, "keyword") for k in e.keywords), *((syn, "synonym") for syn in e.synonyms)]
            for text, kind in texts:
                weight = FIELD_WEIGHTS[kind]
                n = normalize(text)
                p_uni: list[int] = []
                p_bi: list[tuple[int, int]] = []
                if kind in ("title", "question"):
                    phrases.append((p_uni, p_bi))
                # Not synonyms: they are other spellings of a word, not phrases a resident sends alone.
                key = _short_phrase_key(n) if kind != "synonym" else ""
                if key and kind in ("title", "short", "question"):
                    docs = owners.setdefault(key, [])
                    if d not in docs:
                        docs.append(d)
                elif key:
                    keyword_owners.setdefault(key, (set(), n))[0].add(d)
                prev = -1
                words_of.append(_content_tokens(n.folded_tokens, n.tokens))
                for f, a in words_of[-1]:
                    tid = uni_ids.setdefault(f, len(uni_ids))
                    stop = _is_stop(f, a)
                    if not stop:
                        if kind in ("title", "short", "keyword"):  # what the entry is about
                            topic_terms.add(tid)
                        tf_u[tid] = tf_u.get(tid, 0.0) + weight
                        p_uni.append(tid)
                        if a and a != f:
                            acc.add(a)
                    if prev >= 0:  # every pair, particles included: "là gì", "bị khóa" tell something
                        tf_b[(prev, tid)] = tf_b.get((prev, tid), 0.0) + weight
                        p_bi.append((prev, tid))
                    prev = tid
            doc_phrases.append(phrases)
            doc_words.append(words_of)
            doc_uni.append(tf_u)
            doc_bi.append(tf_b)
            doc_acc.append(acc)

        n_uni = len(uni_ids)
        keys = sorted({a * n_uni + b for tf_b in doc_bi for (a, b) in tf_b})
        bi_keys = array("q", keys)
        n_terms = n_uni + len(keys)
        n_docs = max(1, len(entries))

        postings: list[list[tuple[int, float]]] = [[] for _ in range(n_terms)]
        for d, (tf_u, tf_b) in enumerate(zip(doc_uni, doc_bi, strict=True)):
            for tid, tf in tf_u.items():
                postings[tid].append((d, tf))
            for (left, right), tf in tf_b.items():
                postings[n_uni + bisect_left(bi_keys, left * n_uni + right)].append((d, tf))
        dl = [sum(tf_u.values()) for tf_u in doc_uni]
        avgdl = (sum(dl) / len(dl)) if dl else 1.0

        idf = array("f", [0.0] * n_terms)
        offsets = array("l", [0] * (n_terms + 1))
        post_docs = array("i")
        post_w = array("f")
        for t, plist in enumerate(postings):
            df = len(plist)
            idf[t] = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            for d, tf in plist:  # already in entry order
                norm = K1 * (1.0 - B + B * dl[d] / avgdl)
                post_docs.append(d)
                post_w.append(tf / (tf + norm))  # (K1+1) factor dropped: 0..1 saturation
            offsets[t + 1] = len(post_docs)

        # Each phrasing as a set of terms, indexed by term, for the nearest-phrasing similarity of the best
        # candidates.
        doc_phrase_offsets = array("l", [0])
        phrase_mass = array("f")
        phrase_sets: list[set[int]] = []
        for phrases in doc_phrases:
            for p_uni, p_bi in phrases:
                ts = set(p_uni)
                ts.update(n_uni + bisect_left(bi_keys, a * n_uni + b) for a, b in p_bi)
                phrase_sets.append(ts)
                phrase_mass.append(sum(idf[t] * (1.0 if t < n_uni else BIGRAM_WEIGHT) for t in ts))
            doc_phrase_offsets.append(len(phrase_mass))
        counts = [0] * (n_terms + 1)
        for ts in phrase_sets:
            for t in ts:
                counts[t + 1] += 1
        phrase_offsets = array("l", itertools.accumulate(counts))
        fill = list(phrase_offsets)
        phrase_post = array("i", [0]) * phrase_offsets[-1]
        for p, ts in enumerate(phrase_sets):  # in phrasing order: each term's list comes out sorted
            for t in ts:
                phrase_post[fill[t]] = p
                fill[t] += 1
        del phrase_sets, fill, counts

        acc_map: dict[str, list[int]] = {}
        for d, acc in enumerate(doc_acc):
            for a in acc:
                acc_map.setdefault(a, []).append(d)
        acc_ids: dict[str, int] = {}
        acc_offsets = array("l", [0])
        acc_docs = array("i")
        for a in sorted(acc_map):
            acc_ids[a] = len(acc_ids)
            acc_docs.extend(acc_map[a])
            acc_offsets.append(len(acc_docs))

        by_len: dict[int, list[str]] = {}
        for w in uni_ids:
            if w.isalpha() and len(w) >= FUZZY_MIN_LEN - 1:
                by_len.setdefault(len(w), []).append(w)
        max_len = max(by_len, default=0)
        vocab_by_len = tuple(tuple(sorted(by_len.get(i, ()))) for i in range(max_len + 1))

        app_phrases: dict[str, list[tuple[tuple[str, ...], int, bool]]] = {}
        app_mask = array("Q", [0]) * len(entries)  # up to 64 apps
        for app, (names, topic, domain, _) in enumerate(NAMED_APPS.values()):
            mentioning = {d for d, e in enumerate(entries) if e.domain == domain}
            for phrase in (*names, *topic):
                nn = normalize(phrase)
                words = tuple(f for f, _ in _content_tokens(nn.folded_tokens, nn.tokens))
                if not words:
                    continue
                app_phrases.setdefault(words[0], []).append((words, app, phrase in names))
                if phrase not in names:
                    continue  # topic words: an entry using them need not be about the app
                tids = [uni_ids.get(w, -1) for w in words]
                if -1 in tids:
                    continue  # no entry uses one of its words
                # One word: the entries using it; a phrase: those using each of its pairs.
                if len(tids) == 1:
                    mentioning.update(d for d, tf_u in enumerate(doc_uni) if tids[0] in tf_u)
                else:
                    pairs = list(itertools.pairwise(tids))
                    mentioning.update(d for d, tf_b in enumerate(doc_bi) if all(p in tf_b for p in pairs))
            for d in mentioning:
                app_mask[d] |= 1 << app

        multi: dict[str, list[tuple[str, ...]]] = {}
        single: set[str] = set()
        unless = {tuple(normalize(row).folded_tokens): tuple(tuple(normalize(c).folded_tokens) for c in context)
                  for row, context in UNLESS.items()}
        for phrase in OUT_OF_SCOPE:
            n = normalize(phrase)
            if len(n.folded_tokens) > 1:
                multi.setdefault(n.folded_tokens[0], []).append(n.folded_tokens)
            elif n.tokens:
                single.add(n.tokens[0])
        spellings: dict[tuple[str, ...], dict[int, set[tuple[str, ...]]]] = {}
        for d, words_of in enumerate(doc_words):
            for text_words in words_of:
                for i, (f, _) in enumerate(text_words):
                    for oos in multi.get(f, ()):
                        if (span := _span_of(text_words, i, oos)) is not None:
                            spellings.setdefault(oos, {}).setdefault(d, set()).add(tuple(a for _, a in span))

        return cls(
            ids=ids,
            related=related,
            uni_ids=MappingProxyType(uni_ids),
            bi_keys=bi_keys,
            idf=idf,
            offsets=offsets,
            post_docs=post_docs,
            post_w=post_w,
            acc_ids=MappingProxyType(acc_ids),
            acc_offsets=acc_offsets,
            acc_docs=acc_docs,
            vocab_by_len=vocab_by_len,
            unknown_idf=math.log(1.0 + (n_docs - 0.5) / 1.5),
            oos_multi=MappingProxyType({k: tuple(v) for k, v in multi.items()}),
            oos_spellings=MappingProxyType({
                p: MappingProxyType({d: frozenset(v) for d, v in by_doc.items()}) for p, by_doc in spellings.items()
            }),
            oos_single=frozenset(single),
            oos_unless=MappingProxyType(unless),
            complaints=tuple((tuple(tuple(normalize(p).folded_tokens) for p in c.subject),
                              tuple((normalize(w).folded_tokens, normalize(w).tokens) for w in c.words),
                              tuple(tuple(normalize(p).folded_tokens) for p in c.unless)) for c in COMPLAINTS),
            app_specific=frozenset(d for d, e in enumerate(entries) if e.domain not in GENERIC_DOMAINS),
            app_phrases=MappingProxyType({k: tuple(v) for k, v in app_phrases.items()}),
            app_mask=app_mask,
            doc_phrase_offsets=doc_phrase_offsets,
            phrase_mass=phrase_mass,
            phrase_offsets=phrase_offsets,
            phrase_post=phrase_post,
            peak=array("f", [max(post_w[offsets[t] : offsets[t + 1]], default=0.0) for t in range(n_terms)]),
            phrase_owners=MappingProxyType({k: tuple(v) for k, v in owners.items() if k}),
            keyword_owner=MappingProxyType({
                key: min(docs) for key, (docs, keyword) in keyword_owners.items()
                if key not in owners and len(docs) == 1
                and _entries_using([uni_ids[f] for f, _ in _content_tokens(keyword.folded_tokens, keyword.tokens)],
                                   bi_keys, n_uni, offsets, post_docs) == docs
            }),
            app_overviews=tuple(
                (tuple((*fold(name).split(), *fold(frame).split()) for name in app.names for frame in WHAT_IS),
                 ids.index(app.overview))
                for app in NAMED_APPS.values() if app.overview in ids
            ),
            # An app the out-of-scope table names other subjects with ("nick zalo") is not a topic of the FAQ's alone.
            topic_terms=frozenset(topic_terms - {uni_ids.get(w, -1) for row in OUT_OF_SCOPE for w in fold(row).split()
                                                 if w not in _FOLDED_SYLLABLES}),
            n_uni=n_uni,
        )

    # ------------------------------------------------------------------------------------------- query

    def _bigram_id(self, a: int, b: int) -> int:
        key = a * self.n_uni + b
        i = bisect_left(self.bi_keys, key)
        if i < len(self.bi_keys) and self.bi_keys[i] == key:
            return self.n_uni + i
        return -1

    def _fuzzy(self, word: str) -> tuple[str, float] | None:
        n = len(word)
        pool: list[str] = []
        for length in range(max(0, n - 2), min(len(self.vocab_by_len), n + 3)):
            pool.extend(self.vocab_by_len[length])
        if not pool:
            return None
        # Optimal string alignment: one transposition ("khaon") costs one edit, like a substitution.
        limit = 1 if n < FUZZY_TWO_EDITS_LEN else 2
        best = process.extractOne(word, pool, scorer=OSA.distance, score_cutoff=limit)
        if best is None:
            return None
        return best[0], 1.0 - best[1] / max(n, len(best[0]))

    def _segment(self, word: str) -> list[str] | None:
        """Split a glued word into known syllables ("dichvucong" → dich vu cong), fewest pieces first."""
        n = len(word)
        if n < 5 or n > 40:
            return None
        best: list[list[str] | None] = [None] * (n + 1)
        best[0] = []
        for i in range(n):
            cur = best[i]
            if cur is None:
                continue
            for j in range(i + 1, min(n, i + 7) + 1):
                piece = word[i:j]
                if piece in self.uni_ids and piece in _FOLDED_SYLLABLES:
                    cand = [*cur, piece]
                    old = best[j]
                    if old is None or len(cand) < len(old):
                        best[j] = cand
        out = best[n]
        return out if out is not None and len(out) >= 2 else None

    def _analyse(self, n: Normalized) -> _Query:
        words = _content_tokens(n.folded_tokens, n.tokens)
        uni_ids = self.uni_ids
        uni: dict[int, float] = {}
        accented: dict[int, str] = {}
        unknown = 0
        fuzzy_left = FUZZY_MAX_TOKENS
        foreign: list[_Subject] = []
        # Diacritics count in a phrase only when the resident typed some: then "thi" is not "thì".
        typed_accents = any(a and a != f for f, a in words)
        apps: set[int] = set()
        about: set[int] = set()
        accented_stop, folded_stop = STOPWORDS.__contains__, _FOLDED_STOPWORDS.__contains__
        # (term id, weight, stopword?) in order, for pairs; id -1: unknown stopword, -2: unknown word
        seq: list[tuple[int, float, bool]] = []
        for i, (f, a) in enumerate(words):
            # Other subjects named: (accented word the entry must use, or term ids it must all contain).
            if a in self.oos_single:
                if a != f:
                    foreign.append(_Subject(a, ()))
                elif f not in _FOLDED_SYLLABLES:
                    foreign.append(_Subject("", (uni_ids.get(f, -1),)))
            phrases = self.oos_multi.get(f)
            if phrases is not None:
                for phrase in phrases:
                    if (span := _span_of(words, i, phrase)) is not None and not any(
                        _contains(words, c) for c in self.oos_unless.get(phrase, ())
                    ):
                        typed = tuple(x for _, x in span) if typed_accents and all(x for _, x in span) else ()
                        foreign.append(_Subject("", self._phrase_terms(phrase), phrase, typed))

            for phrase, app, names in self.app_phrases.get(f, ()):
                if _span_of(words, i, phrase) is not None:
                    (apps if names else about).add(app)

            tid = uni_ids.get(f, -1)
            if (accented_stop(a) if a and a != f else folded_stop(f)):
                seq.append((tid, 1.0, True))
                continue
            if tid >= 0:
                if a and a != f:
                    accented[tid] = a
                uni[tid] = 1.0
                seq.append((tid, 1.0, False))
                continue
            if f.isalpha() and f not in _FOLDED_SYLLABLES:
                pieces = self._segment(f)
                if pieces is not None:
                    for p in pieces:
                        tid = uni_ids[p]
                        uni[tid] = 1.0
                        seq.append((tid, 1.0, False))
                    continue
                if len(f) >= FUZZY_MIN_LEN and fuzzy_left > 0:
                    fuzzy_left -= 1
                    hit = self._fuzzy(f)
                    if hit is not None:
                        tid = uni_ids[hit[0]]
                        if hit[1] > uni.get(tid, 0.0):
                            uni[tid] = hit[1]
                        seq.append((tid, hit[1], False))
                        continue
            if f.isalpha() or not f.isdigit():
                unknown += 1
            seq.append((-2, 0.0, False))

        foreign.extend(self._complaints(words))

        bi: dict[int, float] = {}
        unknown_pairs = 0
        keys, n_keys, n_uni = self.bi_keys, len(self.bi_keys), self.n_uni
        for (a_id, wa, sa), (b_id, wb, sb) in itertools.pairwise(seq):
            if a_id >= 0 and b_id >= 0:
                key = a_id * n_uni + b_id
                k = bisect_left(keys, key)
                if k < n_keys and keys[k] == key:
                    t = n_uni + k
                    w = min(wa, wb) * (STOP_PAIR_WEIGHT if sa or sb else 1.0)
                    if w > bi.get(t, 0.0):
                        bi[t] = w
                    continue
            if not (sa or sb):
                unknown_pairs += 1
        return _Query(uni, bi, accented, unknown, unknown_pairs, tuple(foreign), tuple(sorted(apps)),
                      tuple(sorted(apps | about)))

    def _complaints(self, words: Sequence[tuple[str, str]]) -> list[_Subject]:
        """A subject the FAQ covers turned into another by a word near it ("tiền điện" … "cao quá"): the entry must
        mention both (faq/tables/out_of_scope.py COMPLAINTS)."""
        out: list[_Subject] = []
        present = {f for f, _ in words}
        for phrases, complaint_words, unless in self.complaints:
            if not any(p[0] in present for p in phrases) or any(_contains(words, c) for c in unless):
                continue  # the cheap test first: most questions name none of these subjects
            found = self._complaint(words, phrases, complaint_words)
            if found is not None:
                out.append(found)
        return out

    def _complaint(self, words: Sequence[tuple[str, str]], phrases: tuple[tuple[str, ...], ...],
                   complaint_words: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]) -> _Subject | None:
        for phrase in phrases:
            for i in range(len(words) - len(phrase) + 1):
                if _span_of(words, i, phrase) is None:
                    continue
                end = i + len(phrase)
                terms = self._phrase_terms(phrase)
                for folded, accented in complaint_words:
                    # Ending at most COMPLAINT_GAP words before the subject, or starting at most that many after it.
                    first = max(0, i - COMPLAINT_GAP - len(folded))
                    for j in range(first, min(len(words) - len(folded), end + COMPLAINT_GAP) + 1):
                        overlaps = j < end and j + len(folded) > i
                        if overlaps or not _typed_as(words[j : j + len(folded)], folded, accented):
                            continue
                        if len(folded) == 1 and accented[0] != folded[0]:
                            return _Subject(accented[0], terms)
                        return _Subject("", (*terms, *self._phrase_terms(folded)))
        return None

    def _phrase_terms(self, phrase: tuple[str, ...]) -> tuple[int, ...]:
        """The term ids an entry must hold to use the (folded) phrase: a word's own, or a phrase's pairs."""
        ids = [self.uni_ids.get(p, -1) for p in phrase]
        if len(ids) == 1:
            return (ids[0],)
        return tuple(self._bigram_id(x, y) if x >= 0 and y >= 0 else -1 for x, y in itertools.pairwise(ids))

    def _has_term(self, t: int, doc: int) -> bool:
        if t < 0:
            return False
        lo, hi = self.offsets[t], self.offsets[t + 1]
        i = bisect_left(self.post_docs, doc, lo, hi)
        return bool(i < hi and self.post_docs[i] == doc)

    def _mentions(self, subject: _Subject, doc: int) -> bool:
        if subject.word:
            if not self._has_accent(subject.word, doc):
                return False
            if not subject.terms:
                return True
        if not all(self._has_term(t, doc) for t in subject.terms):
            return False
        if not subject.typed:
            return True
        # Spelt in one of its texts: each word as typed, or without diacritics (which may be either).
        by_doc = self.oos_spellings.get(subject.phrase)
        spelt = by_doc.get(doc) if by_doc is not None else None
        if not spelt:
            return True  # its pairs only, spread over several texts: as before
        return any(all(e == q or e == fold(e) for e, q in zip(s, subject.typed, strict=True)) for s in spelt)

    def _has_accent(self, word: str, doc: int) -> bool:
        aid = self.acc_ids.get(word)
        if aid is None:
            return False
        lo, hi = self.acc_offsets[aid], self.acc_offsets[aid + 1]
        i = bisect_left(self.acc_docs, doc, lo, hi)
        return bool(i < hi and self.acc_docs[i] == doc)

    def _agreeing(self, word: str) -> frozenset[int] | set[int]:
        """Entries that use the accented word the resident typed."""
        aid = self.acc_ids.get(word)
        if aid is None:
            return frozenset()
        return set(self.acc_docs[self.acc_offsets[aid] : self.acc_offsets[aid + 1]])

    def _accumulate(self, terms: list[tuple[int, float]], accented: dict[int, str]) -> dict[int, float]:
        """Evidence per entry: the sum of the question's term weights times the entry's BM25 weights.

        `terms` come rarest first. Once BUDGET postings have been read, only the best CANDIDATES entries are kept
        and the remaining (common) terms re-score those: bounded work on a large FAQ, exact on a small one. On
        a small FAQ the sums are kept in a list (faster than a dict); either way the entries come back in
        entry order.
        """
        offsets, docs, weights = self.offsets, self.post_docs, self.post_w
        n_uni = self.n_uni
        n_docs = len(self.ids)
        dense: list[float] | None = [0.0] * n_docs if n_docs <= DENSE_MAX else None
        acc: dict[int, float] = {}
        read = 0
        pruned = False
        for t, w in terms:
            lo, hi = offsets[t], offsets[t + 1]
            # Diacritics the resident typed that an entry never uses lower that word's share.
            word = accented.get(t) if t < n_uni else None
            if not pruned and read + (hi - lo) > BUDGET:
                if dense is not None:
                    acc = dict(filter(_VALUE, enumerate(dense)))
                if len(acc) > CANDIDATES:
                    keep = heapq.nlargest(CANDIDATES, sorted(acc), key=acc.__getitem__)
                    acc = {d: acc[d] for d in sorted(keep)}
                    pruned = True
                    dense = None
                elif dense is not None:
                    acc = {}
            if pruned:
                for d in acc:
                    i = bisect_left(docs, d, lo, hi)
                    if i < hi and docs[i] == d:
                        f = 1.0 if word is None or self._has_accent(word, d) else ACCENT_MISMATCH
                        acc[d] += w * weights[i] * f
                continue
            read += hi - lo
            agree = self._agreeing(word) if word is not None else frozenset()
            if dense is not None:
                if word is None:
                    for d, x in zip(docs[lo:hi], weights[lo:hi], strict=True):
                        dense[d] += w * x
                else:
                    for d, x in zip(docs[lo:hi], weights[lo:hi], strict=True):
                        dense[d] += w * x * (1.0 if d in agree else ACCENT_MISMATCH)
                continue
            get = acc.get
            if word is None:
                for d, x in zip(docs[lo:hi], weights[lo:hi], strict=True):
                    acc[d] = get(d, 0.0) + w * x
            else:
                for d, x in zip(docs[lo:hi], weights[lo:hi], strict=True):
                    acc[d] = get(d, 0.0) + w * x * (1.0 if d in agree else ACCENT_MISMATCH)
        if dense is not None:
            return dict(filter(_VALUE, enumerate(dense)))
        if not pruned:
            acc = {d: acc[d] for d in sorted(acc)}
        return acc

    def scores(self, query: str | Normalized, limit: int = MAX_CHOICES) -> list[tuple[float, int]]:
        """(score 0..1, entry index) of the `limit` best entries sharing a term with the question."""
        q = self._analyse(normalize(query) if isinstance(query, str) else query)
        idf, peak, offsets = self.idf, self.peak, self.offsets
        # (postings, term id, weight): rarest terms first (see _accumulate).
        order = [(offsets[t + 1] - offsets[t], t, idf[t] * w) for t, w in q.uni.items()]
        order += [(offsets[t + 1] - offsets[t], t, idf[t] * w * BIGRAM_WEIGHT) for t, w in q.bi.items()]
        order.sort()
        terms = [(t, w) for _, t, w in order]
        # The question's information: what the best possible entry could draw from each of its words (a word
        # that only ever appears in passing, in one phrasing, weighs little however rare it is), plus what the
        # words and pairs unknown to the FAQ withhold.
        info = sum(w * peak[t] for t, w in terms)
        info += (q.unknown * UNKNOWN_WEIGHT + q.unknown_pairs * UNKNOWN_PAIR_WEIGHT) * self.unknown_idf
        if info <= 0.0:
            return []
        # The score is the evidence for an entry over the question's information (its coverage), calibrated by
        # how much information there is: evidence / scale = coverage * (info / INFO_REF) ** (1 - INFO_EXPONENT).
        # A tiny question ("mai co mua khong") cannot reach answer confidence however well it is covered; a long
        # one full of chatter is not diluted in proportion to its length.
        scale = INFO_REF ** (1.0 - INFO_EXPONENT) * info**INFO_EXPONENT
        acc = self._accumulate(terms, q.accented)
        # A question about another subject (Gmail, sổ đỏ, kết hôn), or about VNeID when the entry is about the bank's
        # app (or the other way round), is not answered by a look-alike entry.
        missing: dict[int, int] = {}
        if q.foreign or q.apps:
            # Naming the bank in a question about VNeID does not take the VNeID entries away: any app it is about will
            # do (faq/tables/named_apps.py).
            about = sum(1 << a for a in q.about) if q.apps else 0
            for d in acc:
                k = sum(1 for subject in q.foreign if not self._mentions(subject, d))
                if about and d in self.app_specific and not self.app_mask[d] & about:
                    k += 1
                if k:
                    missing[d] = k
                    acc[d] *= OUT_OF_SCOPE_FACTOR**k
        # Entries in entry order and a stable selection: ties go to the entry listed first.
        best = [(d, acc[d]) for d in heapq.nlargest(max(limit, NEAR_CANDIDATES), acc, key=acc.__getitem__)]
        # Blend in how close the question is to the entry's single nearest phrasing (weighted Jaccard, the
        # question's side being its calibrated information): a question that repeats one known phrasing should not
        # lose to an entry that shares many words.
        pho, php, pm, dpo = self.phrase_offsets, self.phrase_post, self.phrase_mass, self.doc_phrase_offsets
        blended: list[tuple[float, int]] = []
        for k, (d, v) in enumerate(best):
            near = 0.0
            if k < NEAR_CANDIDATES:
                first, end = dpo[d], dpo[d + 1]
                common = [0.0] * (end - first)
                for t, w in terms:
                    lo, hi = pho[t], pho[t + 1]
                    if lo == hi:
                        continue
                    i = bisect_left(php, first, lo, hi)
                    while i < hi and php[i] < end:
                        common[php[i] - first] += w
                        i += 1
                for j, c in enumerate(common):
                    if c > 0.0:
                        near = max(near, c / (scale + pm[first + j] - c))
            score = (1.0 - NEAR_WEIGHT) * v / scale + NEAR_WEIGHT * near
            if d in missing:
                score = min(score, v / scale)  # the nearest phrasing must not undo the penalty
            blended.append((score, d))
        blended.sort(key=lambda sd: (-sd[0], sd[1]))
        return blended[:limit]

    def match(self, query: str) -> Match:
        """Rank the entries for `query` and decide answer / clarify / escalate."""
        n = normalize(query)
        key = _short_phrase_key(n)
        owners = self.phrase_owners.get(key)
        if owners is None and key in self.keyword_owner:
            owners = (self.keyword_owner[key],)
        if owners is not None:
            return self._by_phrase(query, n, owners)
        ranked = self.scores(n)
        top = ranked[:MAX_CHOICES]
        candidates = tuple(Candidate(self.ids[d], min(1.0, max(0.0, s))) for s, d in top)
        if not candidates:
            return Match(query, "escalate", None, 0.0, ())
        best = candidates[0].score
        second = candidates[1].score if len(candidates) > 1 else 0.0
        if best >= ANSWER_MIN and (second < ANSWER_LEAD * best or best - second >= ANSWER_GAP):
            return Match(query, "answer", candidates[0].faq_id, best, candidates)
        if best < CLARIFY_MIN and (overview := self._overview_asked(n, candidates)) is not None:
            others = [c for c in candidates if c is not overview and c.score >= CLARIFY_SHARE * best]
            others = others or [c for c in candidates if c is not overview][:1]  # a choice, as when clarifying
            return Match(query, "clarify", overview.faq_id, overview.score, (overview, *others),
                         (overview.faq_id, *(c.faq_id for c in others)))
        if best >= CLARIFY_MIN or self._is_topic_word(n):
            close = [c.faq_id for c in candidates if c.score >= CLARIFY_SHARE * best]
            if len(close) < 2 and len(candidates) > 1:
                close = [c.faq_id for c in candidates[:2]]
            return Match(query, "clarify", candidates[0].faq_id, best, candidates, tuple(close))
        return Match(query, "escalate", candidates[0].faq_id, best, candidates)

    def _overview_asked(self, n: Normalized, candidates: tuple[Candidate, ...]) -> Candidate | None:
        """The candidate that says what an app is, when the question asks it right after the app's name ("VNeID là
        phần mềm gì vậy, tụi nhỏ nhắc hoài") and it scored at least OVERVIEW_MIN (an entry penalised for another
        subject named does not)."""
        words = _content_tokens(n.folded_tokens, n.tokens)
        for phrases, d in self.app_overviews:
            if any(_contains(words, p) for p in phrases):
                return next((c for c in candidates if c.faq_id == self.ids[d] and c.score >= OVERVIEW_MIN), None)
        return None

    def _is_topic_word(self, n: Normalized) -> bool:
        """Whether the question is one word that a few entries are about ("otp"): too little information for the
        ranking to reach CLARIFY_MIN, but the resident named a topic, so the entries about it are offered. A real
        syllable typed without diacritics is not trusted ("lua" is "lừa" or "lúa")."""
        words = [(f, a) for f, a in _content_tokens(n.folded_tokens, n.tokens) if not _is_stop(f, a)]
        if len(words) != 1:
            return False
        f, a = words[0]
        if (a or f) in self.oos_single:
            return False  # another subject ("vàng", "gmail")
        t = self.uni_ids.get(f, -1)
        return (t in self.topic_terms and self.offsets[t + 1] - self.offsets[t] <= TOPIC_WORD_MAX_ENTRIES
                and ((bool(a) and a != f) or f not in _FOLDED_SYLLABLES))

    def _by_phrase(self, query: str, n: Normalized, owners: tuple[int, ...]) -> Match:
        """The question is one of the FAQ's own phrases: its entry answers (several owners: the resident chooses)."""
        named = [Candidate(self.ids[d], 1.0) for d in owners[:MAX_CHOICES]]
        others = [Candidate(self.ids[d], min(1.0, max(0.0, s))) for s, d in self.scores(n) if d not in owners]
        candidates = tuple([*named, *others][:MAX_CHOICES])
        if len(owners) == 1:
            return Match(query, "answer", named[0].faq_id, 1.0, candidates)
        return Match(query, "clarify", named[0].faq_id, 1.0, candidates, tuple(c.faq_id for c in named))

    def typed_phrase_problems(self, entries: Iterable[Entry]) -> list[str]:
        """Phrases that answers tell residents to type and that this matcher does not answer (empty when fine)."""
        problems = []
        for entry in entries:
            for phrase in typed_phrases(entry):
                found = self.match(phrase)
                if found.decision != "answer":
                    offered = ", ".join(c.faq_id for c in found.candidates) or "không mục nào"
                    problems.append(f'{entry.id}: bảo người dân gõ "{phrase}", nhưng câu đó '
                                    f"{_OUTCOME_WORDS[found.decision]} ({offered}); hãy đặt nó làm tiêu đề, tên ngắn, "
                                    "một cách hỏi hoặc từ khoá riêng của đúng một mục")
        return problems
