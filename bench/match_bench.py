"""Matcher benchmark: build time, per-question latency, index memory, and `troly match --jsonl` throughput.

Run from the repository root:  python bench/match_bench.py [--dev ../shared/eval/dev.jsonl] [--entries 10000]

Figures, all on one core:
- real content: index build time, latency per dev question (median, p99) over several rounds;
- a synthetic FAQ of N entries generated deterministically from the real vocabulary (real phrasings with a
  third of their words swapped for words drawn from the real word frequencies): build time, latency, memory;
- index memory: the deep size of the index (every array, table and string it holds, each object counted
  once); for the real content also with tracemalloc (bytes allocated while building, still held by the index),
  as a cross-check. Build times are measured without tracemalloc, which slows building about tenfold;
- throughput of 3,000 questions the way `troly match --jsonl` runs them: in-process (load + build + match)
  and as a fresh process (`python -m faq.cli_match` when it exists, else an equivalent `python -c`),
  start-up included.
Latency rounds run after one warm-up pass, with the garbage collector as in production (enabled).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from array import array
from dataclasses import replace
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faq.content import Entry, load_content  # noqa: E402
from faq.evaluate import load_labelled  # noqa: E402
from faq.matcher import Matcher  # noqa: E402

DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def synthetic_entries(real: tuple[Entry, ...], n: int, seed: int = 3) -> list[Entry]:
    """N entries made from the real ones: same shapes, a third of the words replaced at random."""
    rng = random.Random(seed)
    words = [w for e in real for q in e.questions for w in q.split()]

    def mutate(text: str) -> str:
        return " ".join(rng.choice(words) if rng.random() < 0.33 else w for w in text.split())

    out: list[Entry] = []
    for i in range(n):
        base = real[i % len(real)]
        out.append(
            replace(
                base,
                id=f"synthetic.{i}",
                title=mutate(base.title),
                questions=tuple(mutate(q) for q in base.questions),
                keywords=tuple(mutate(k) for k in base.keywords),
                synonyms=tuple(mutate(s) for s in base.synonyms),
                related=(),
            )
        )
    return out


def latency(matcher: Matcher, questions: list[str], rounds: int) -> tuple[float, float]:
    times: list[float] = []
    for _ in range(rounds):
        for q in questions:
            t = time.perf_counter()
            matcher.match(q)
            times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times) * 1e3, times[min(len(times) - 1, int(0.99 * len(times)))] * 1e3


def deep_size(obj: object) -> int:
    """Bytes held by `obj` and everything it references (types, modules and functions excluded), once each."""
    seen: set[int] = set()
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, (type, ModuleType)) or callable(o):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, (str, bytes, int, float, array)):  # an array's size includes its buffer
            continue
        stack.extend(gc.get_referents(o))
    return total


def build_timed(entries: list[Entry] | tuple[Entry, ...]) -> tuple[Matcher, float]:
    gc.collect()
    t = time.perf_counter()
    matcher = Matcher.build(entries)
    return matcher, time.perf_counter() - t


def traced_memory(entries: list[Entry] | tuple[Entry, ...]) -> float:
    """MB allocated while building an index and still held once it is built."""
    gc.collect()
    tracemalloc.start()
    matcher = Matcher.build(entries)
    gc.collect()
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del matcher
    return held / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--stream", type=int, default=3_000)
    args = ap.parse_args()

    questions = [r.q for r in load_labelled(args.dev)]
    content = load_content()

    t = time.perf_counter()
    content = load_content()
    load_s = time.perf_counter() - t
    matcher, build_s = build_timed(content.entries)
    mem, traced = deep_size(matcher) / 1e6, traced_memory(content.entries)
    for q in questions:  # warm-up
        matcher.match(q)
    med, p99 = latency(matcher, questions, args.rounds)
    print(f"real content: {len(content.entries)} entries; load {load_s * 1e3:.0f} ms, build {build_s * 1e3:.0f} ms, "
          f"index memory {mem:.2f} MB (tracemalloc {traced:.2f} MB)")
    print(f"  latency over {len(questions)} dev questions x {args.rounds}: median {med:.3f} ms, p99 {p99:.3f} ms")

    synth = synthetic_entries(content.entries, args.entries)
    big, build_s = build_timed(synth)
    mem = deep_size(big) / 1e6
    for q in questions:  # warm-up
        big.match(q)
    med, p99 = latency(big, questions, max(1, args.rounds // 2))
    print(f"synthetic FAQ: {len(synth)} entries; build {build_s:.1f} s, index memory {mem:.1f} MB")
    print(f"  latency: median {med:.3f} ms, p99 {p99:.3f} ms")
    del big, synth
    gc.collect()

    stream = [questions[i % len(questions)] for i in range(args.stream)]
    t = time.perf_counter()
    m = Matcher.build(load_content().entries)
    lines = [json.dumps(m.match(q).to_json(), ensure_ascii=False) for q in stream]
    total = time.perf_counter() - t
    print(f"match --jsonl in-process: {len(lines)} questions incl. load+build in {total:.2f} s = "
          f"{total / len(stream) * 1e3:.3f} ms/question")

    code = (
        "import sys, json\n"
        "from faq.content import load_content\n"
        "from faq.matcher import Matcher\n"
        "m = Matcher.build(load_content().entries)\n"
        "w = sys.stdout.write\n"
        "for line in sys.stdin:\n"
        "    q = line.rstrip('\\n')\n"
        "    w(json.dumps(m.match(q).to_json(), ensure_ascii=False) + '\\n')\n"
    )
    cli = ROOT / "faq" / "cli_match.py"
    cmd = [sys.executable, "-m", "faq.cli_match"] if cli.exists() else [sys.executable, "-c", code]
    payload = "\n".join(stream) + "\n"
    t = time.perf_counter()
    proc = subprocess.run(cmd, input=payload, capture_output=True, text=True, cwd=ROOT, check=True)
    total = time.perf_counter() - t
    n_out = len(proc.stdout.splitlines())
    print(f"match --jsonl as a process ({' '.join(cmd[1:2])}): {n_out} lines in {total:.2f} s incl. start-up = "
          f"{total / len(stream) * 1e3:.3f} ms/question")


if __name__ == "__main__":
    main()
