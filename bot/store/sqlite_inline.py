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

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def create_inline_engine(url: str, **kwargs: Any) -> AsyncEngine:
    database = make_url(url).database or ":memory:"

    def open_database() -> sqlite3.Connection:
        return sqlite3.connect(database, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)

    async def connect() -> InlineConnection:
        connection = InlineConnection(open_database, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
        return await connection

    return create_async_engine(url, async_creator=connect, pool_size=1, max_overflow=0, **kwargs)
