"""SQLite statements run on the event loop's own thread, through aiosqlite's interface.

aiosqlite sends every statement to a worker thread and waits for the event loop to pick the result up. A
statement on a local SQLite file takes tens of microseconds; the hand-off costs more, and under load each one
waits for a whole turn of a busy loop, so a transaction of six statements held the single writer for six loop
turns. Run inline, a transaction runs from BEGIN to COMMIT without yielding.

That is only safe with one connection per process: were a second connection of ours to meet a lock, SQLite's
busy handler would sleep on the loop thread while the holder, also on that thread, could never finish. So the
engine built here has a pool of exactly one connection, and transactions take turns at checkout, which is an
asyncio wait. Another process (the `troly` CLI during `troly serve`) can still hold the lock for the length of
one of its short transactions; the busy timeout covers that.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, StaticPool

from bot.periodic import Periodic

BUSY_TIMEOUT_SECONDS = 30.0


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run at once on the caller's thread.

    Its worker thread still opens and closes the database and serves SQLAlchemy's isolation-level setter, which
    queues work for it directly; hence `check_same_thread=False` below.
    """

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


class NestedSessionError(RuntimeError):
    """A task asked for the connection while holding it: opened a session inside another one."""


class OneConnectionPool(AsyncAdaptedQueuePool):
    """The process's single connection. A task that asks for it while it holds it would wait for itself until the
    pool's timeout; it is refused at once instead, with the reason (open the second session after the first)."""

    # SQLAlchemy names a pool's logger after its class's module: keep it under "sqlalchemy", with the other pools.
    _sqla_logger_namespace = "sqlalchemy.pool.OneConnectionPool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holder: asyncio.Task[Any] | None = None

    def _do_get(self) -> ConnectionPoolEntry:
        task = _current_task()
        if task is not None and task is self._holder:
            raise NestedSessionError(
                "a session was opened inside another on SQLite's single connection; close the first one before")
        record = super()._do_get()
        self._holder = task
        return record

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._holder = None
        super()._do_return_conn(record)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (the pool is being disposed of at exit)
        return None


def create_inline_engine(url: str, **kwargs: Any) -> AsyncEngine:
    database = make_url(url).database or ":memory:"

    def open_database() -> sqlite3.Connection:
        return sqlite3.connect(database, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)

    async def connect() -> InlineConnection:
        connection = InlineConnection(open_database, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
        await connection  # opens the database (on the connection's thread)
        return connection

    if database == ":memory:":
        # One connection is the whole database: every session shares it (and it is one already).
        return create_async_engine(url, async_creator=connect, poolclass=StaticPool, **kwargs)
    return create_async_engine(url, async_creator=connect, poolclass=OneConnectionPool, pool_size=1, max_overflow=0,
                               **kwargs)


class Checkpointer(Periodic):
    """Copies the write-ahead log back into the database file from a worker thread, every second.

    SQLite does this itself on the commit that takes the log past 1,000 pages; with statements run inline that
    commit, and the fsync the copy ends with, would hold the event loop (tens of milliseconds on a slow disk,
    every few seconds under load). Checkpointing more often from another connection keeps the log short, so that
    never happens; a PASSIVE checkpoint does not block the writer. Should this service stop, SQLite's own
    checkpoints take over again.
    """

    name = "sqlite-checkpoint"

    def __init__(self, database: str, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.database = database

    async def tick(self) -> tuple[int, int]:
        """(pages in the log, pages copied back) after one checkpoint."""
        return await asyncio.to_thread(self._checkpoint)

    def _checkpoint(self) -> tuple[int, int]:
        connection = sqlite3.connect(self.database, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            _busy, log, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(log), int(copied)
        finally:
            connection.close()


def checkpointer_for(engine: AsyncEngine) -> Checkpointer | None:
    """A checkpointer for a SQLite file; None for PostgreSQL or an in-memory database."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Checkpointer(database)
