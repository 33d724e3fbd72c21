"""The inbox's cost in instructions per update, which a shared, unsteady VM does not blur as it blurs seconds.

Runs `pipeline_bench.py` under `valgrind --tool=callgrind` twice, with a few and with more updates, and divides the
difference in instructions executed by the difference in updates: what start-up costs (imports, the FAQ index,
migrations) cancels out. The count is the same from run to run on one machine whatever else it is doing, so two
versions of the code can be compared one after the other. Slow: about 50 times the plain run (3–5 minutes).

    python bench/instructions_bench.py                  # 100 and 400 updates
    python bench/instructions_bench.py --few 50 --more 250
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PIPELINE_BENCH = Path(__file__).resolve().parent / "pipeline_bench.py"
RESIDENTS = 50
_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(updates: int) -> int:
    """Instructions executed by one whole run of pipeline_bench.py with `updates` updates."""
    with tempfile.TemporaryDirectory(prefix="troly-callgrind-") as workdir:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir}/out",
             sys.executable, str(PIPELINE_BENCH), "--updates", str(updates), "--residents", str(RESIDENTS)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # the same set and dict orders in both runs
        )
    found = _TOTAL.search(done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(few: int, more: int) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    print(f"pipeline_bench.py under callgrind, SQLite, {RESIDENTS} residents: {few} and {more} updates")
    low, high = instructions(few), instructions(more)
    print(f"{few:>6} updates: {low:,} instructions")
    print(f"{more:>6} updates: {high:,} instructions")
    print(f"per update: {(high - low) / (more - few) / 1e6:.2f} million instructions")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--few", type=int, default=100)
    parser.add_argument("--more", type=int, default=400)
    args = parser.parse_args()
    if args.more <= args.few:
        parser.error("--more must be larger than --few")
    main(args.few, args.more)
