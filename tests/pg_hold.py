"""Catching a process inside a PostgreSQL statement: the test holds a lock from its own connection, the statement
waits on it, and the test lets go when it chooses (as a slow database would)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import asyncpg
import pytest


@asynccontextmanager
async def holder(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the test's database, beside the application's pool."""
    connection = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        yield connection
    finally:
        await connection.close()


async def until_a_statement_waits(held: asyncpg.Connection, what: str, seconds: float = 10.0) -> None:
    """Return once another session waits on a lock; fail, saying `what` never happened, after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await held.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> $1", held.get_server_pid()
    ):
        if loop.time() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(0.02)


async def stop_while_held(held: asyncpg.Connection, stop: Awaitable[None]) -> None:
    """Start `stop` while the statement waits; it must still be waiting, not cut it off, until the lock goes."""
    stopping = asyncio.ensure_future(stop)
    await asyncio.sleep(0.3)
    assert not stopping.done(), "the stop did not wait for the work in progress"
    await held.execute("ROLLBACK")
    await asyncio.wait_for(stopping, 5)
