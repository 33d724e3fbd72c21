"""Shared fixtures: real SQLite files and real PostgreSQL databases, created and dropped per test."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

PG_HOST = os.environ.get("TROLY_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TROLY_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TROLY_TEST_PG_USER", "postgres")
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_unavailable() -> str | None:
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"

    async def probe() -> None:
        connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"no PostgreSQL at {PG_HOST}:{PG_PORT} ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = _postgres_unavailable()
    if reason:
        if os.environ.get("TROLY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"TROLY_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return f"{PG_USER}@{PG_HOST}:{PG_PORT}"


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"troly_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'troly.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'troly.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def migrated_engine(database_url: str) -> AsyncIterator[object]:
    from bot.store import migrate
    from bot.store.engine import create_engine

    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()
