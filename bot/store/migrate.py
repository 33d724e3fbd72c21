"""Apply and revert Alembic migrations from code (`troly db upgrade`, and `troly serve` at start)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import migrations
from bot.settings import OperatorError

# Any constant works; it only has to be the same in every process that migrates this database.
_MIGRATION_LOCK = 0x7412_0001


class DatabaseUnreachable(OperatorError):
    """The database did not let us in: stopped, a wrong address, name or user in TROLY_DATABASE_URL."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@asynccontextmanager
async def _connected(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection, or DatabaseUnreachable. Every command meets the database here first, so a stopped server
    or a wrong URL reads as one line instead of the driver's traceback."""
    try:
        connection = await engine.connect()
    except (OSError, TimeoutError, DBAPIError) as exc:
        raise DatabaseUnreachable(_unreachable(engine.url, exc)) from exc
    try:
        yield connection
    finally:
        await connection.close()


def _unreachable(url: URL, exc: BaseException) -> str:
    where = url.render_as_string(hide_password=True)
    if isinstance(exc, ConnectionRefusedError):
        why = "máy chủ không nhận kết nối (chưa chạy, hoặc sai địa chỉ hay cổng)"
    elif isinstance(exc, socket.gaierror):
        why = f"không tìm thấy máy {url.host}"
    elif isinstance(exc, TimeoutError):
        why = "máy chủ không trả lời"
    else:  # the driver's own words ('database "troly" does not exist'), on one line
        why = " ".join(str(getattr(exc, "orig", None) or exc).split())
    return f"Không kết nối được cơ sở dữ liệu {where} (TROLY_DATABASE_URL): {why}."


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with _connected(engine) as connection:
        if engine.dialect.name == "postgresql":
            # Several `troly serve` processes may start together: only one migrates at a time.
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            await connection.commit()
        try:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
            await connection.commit()
        finally:
            if engine.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                await connection.commit()


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with _connected(engine) as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
        await connection.commit()


async def empties_database(engine: AsyncEngine, revision: str) -> bool:
    """Whether downgrading to `revision` drops every table: "base", or a relative "-N" that reaches it."""
    if revision == "base":
        return True
    steps = revision.removeprefix("-")
    if revision.startswith("-") and steps.isdigit():
        current = await current_revision(engine)
        applied = ScriptDirectory.from_config(alembic_config()).iterate_revisions(current, "base") if current else ()
        return int(steps) >= len(list(applied))
    return False


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with _connected(engine) as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
