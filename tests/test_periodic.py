"""Timers stop between two runs, never inside one: a run cut in the middle of a database statement would lose what
it had in hand (see tests/test_reply_journal.py for the PostgreSQL case)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.periodic import Periodic


class Counting(Periodic):
    name = "counting"

    def __init__(self, interval: float, failures: int = 0) -> None:
        super().__init__(interval)
        self.failures = failures
        self.runs = 0
        self.finished = 0
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()

    async def tick(self) -> None:
        self.runs += 1
        self.entered.set()
        await self.release.wait()
        if self.runs <= self.failures:
            raise RuntimeError("the database is away")
        self.finished += 1


async def test_a_stop_waits_for_the_run_in_progress_to_finish() -> None:
    timer = Counting(0.01)
    timer.release.clear()
    await timer.start()
    await timer.entered.wait()
    stopping = asyncio.create_task(timer.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done() and timer.finished == 0  # not cut short
    timer.release.set()
    await asyncio.wait_for(stopping, 1)
    assert (timer.runs, timer.finished, timer.running) == (1, 1, False)


async def test_a_stop_between_runs_does_not_wait_for_the_next_one() -> None:
    timer = Counting(3600)
    await timer.start()
    await timer.entered.wait()  # the first run is at start
    await asyncio.wait_for(timer.stop(), 1)
    assert timer.runs == 1 and not timer.running


async def test_a_run_that_hangs_is_still_cut_off_by_the_callers_timeout() -> None:
    timer = Counting(0.01)
    timer.release.clear()
    await timer.start()
    await timer.entered.wait()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(timer.stop(), 0.1)
    assert timer.finished == 0 and not timer.running


async def test_a_failing_run_is_logged_and_the_next_runs_on_time(caplog: pytest.LogCaptureFixture) -> None:
    timer = Counting(0.01, failures=2)
    with caplog.at_level(logging.ERROR, logger="bot.periodic"):
        await timer.start()
        for _ in range(100):
            if timer.finished:
                break
            await asyncio.sleep(0.01)
        await timer.stop()
    assert timer.finished >= 1 and timer.runs >= 3
    failed = [r for r in caplog.records if r.getMessage() == "periodic work failed"]
    assert len(failed) == 2 and all(r.__dict__["service"] == "counting" for r in failed)
