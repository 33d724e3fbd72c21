"""SQLite run inline on the event loop: one connection per process, transactions take turns, and the
write-ahead log is copied back from a worker thread rather than by a commit on the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.engine import create_engine
from bot.store.sqlite_inline import NestedSessionError, checkpointer_for


async def test_statements_run_on_the_loop_thread_and_concurrent_transactions_take_turns(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    threads: set[int] = set()
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE counter (n INTEGER)"))
            await connection.execute(text("INSERT INTO counter VALUES (0)"))

        async def increment() -> None:
            async with engine.begin() as connection:
                raw = await connection.get_raw_connection()
                await raw.driver_connection.set_trace_callback(lambda _: threads.add(threading.get_ident()))
                value = (await connection.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)  # another transaction would interleave here if it could
                await connection.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})

        await asyncio.gather(*(increment() for _ in range(50)))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT n FROM counter"))).scalar_one() == 50  # no lost update
        assert threads == {threading.get_ident()}
        assert engine.pool.size() == 1
    finally:
        await engine.dispose()


async def test_a_session_opened_inside_another_is_refused_at_once(tmp_path: Path) -> None:
    """It would wait for its own connection until the pool timeout (30 s) and then fail less clearly."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested.db'}", pool_timeout=2)
    try:
        async with AsyncSession(engine) as outer:
            await outer.execute(text("SELECT 1"))
            async with AsyncSession(engine) as inner:
                with pytest.raises(NestedSessionError):
                    await inner.execute(text("SELECT 1"))
        async with AsyncSession(engine) as after:  # the connection went back: usable again
            assert (await after.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_the_checkpointer_copies_the_log_back(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    checkpointer = checkpointer_for(engine)
    assert checkpointer is not None
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE notes (body TEXT)"))
            for n in range(200):
                await connection.execute(text("INSERT INTO notes VALUES (:b)"), {"b": f"ghi chú {n} " * 20})
        log, copied = await checkpointer.tick()
        assert log > 0 and copied == log
        async with engine.begin() as connection:  # the next writer starts the log over
            await connection.execute(text("INSERT INTO notes VALUES ('một dòng')"))
        log_after, _ = await checkpointer.tick()
        assert log_after < log
    finally:
        await engine.dispose()


def test_no_checkpointer_for_postgresql_or_memory() -> None:
    assert checkpointer_for(create_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/x")) is None
    assert checkpointer_for(create_engine("sqlite+aiosqlite:///:memory:")) is None
