"""Long polling through a kill -9: a real `troly serve` process (Telegram by long polling, on PostgreSQL) is killed
after it fetched a resident's message and before it kept it. Telegram must still hold the message, and the next
process must answer it, once.

PostgreSQL, because the test holds the message in the gap with a table lock the server waits on without blocking
its event loop (so the process goes on polling meanwhile, as it would under a slow database)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import migrate
from bot.store.models import Message, ProcessedUpdate
from tests.conftest import free_port
from tests.fakes.telegram_api import FakeTelegram
from tests.pg_hold import holder, until_a_statement_waits
from tests.test_scale_processes import REPO, TROLY, _exited, until

RESIDENT = 5_550_001


def confirmed(telegram: FakeTelegram, update_id: int) -> bool:
    return any(int(call.params.get("offset") or 0) > update_id for call in telegram.calls_to("getUpdates"))


@asynccontextmanager
async def serve(database_url: str, telegram: FakeTelegram, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`troly serve` in polling mode (no public URL), healthy; killed after the block if still running."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TROLY_", "TELEGRAM_", "ZALO_"))}
    env.update(PYTHONPATH=str(REPO), TROLY_DATABASE_URL=database_url, TROLY_HTTP_PORT=str(port),
               TROLY_LOG_LEVEL="WARNING", **telegram.env())
    with log.open("wb") as out:
        process = subprocess.Popen(TROLY, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        async with aiohttp.ClientSession() as http:
            async def healthy() -> bool:
                assert process.poll() is None, f"exited early:\n{log.read_text(errors='replace')}"
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await until(healthy, 30, "troly serve healthy")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_a_message_fetched_but_not_kept_when_the_process_is_killed_is_answered_once_after(
    postgres_url: str, tmp_path: Path
) -> None:
    db = Runtime.build(load_settings(TROLY_DATABASE_URL=postgres_url))
    await migrate.upgrade(db.engine)
    try:
        async with FakeTelegram.run() as telegram, holder(postgres_url) as held:
            async with serve(postgres_url, telegram, tmp_path / "first.log") as first:
                # Keeping an update starts with inserting its idempotency key: hold that table.
                await held.execute("BEGIN; LOCK TABLE processed_updates IN EXCLUSIVE MODE")
                update_id = telegram.queue_update(telegram.updates.text(RESIDENT, "quên mật khẩu vneid"))
                await until_a_statement_waits(held, "the server fetched the message and waits to keep it", 30)
                await asyncio.sleep(1.0)  # PTB's updater asked for the next batch, confirming this one, at once
                assert not confirmed(telegram, update_id), "Telegram was told to forget a message nobody kept"
                first.send_signal(signal.SIGKILL)
                assert await _exited(first, 5) == -signal.SIGKILL
            await held.execute("ROLLBACK")

            async with serve(postgres_url, telegram, tmp_path / "second.log") as second:
                await until(lambda: telegram.sent(RESIDENT), 15, "the answer after the restart")
                second.send_signal(signal.SIGTERM)
                assert await _exited(second, 15) == 0
            assert "Traceback" not in (tmp_path / "second.log").read_text(errors="replace")
            [answer] = telegram.sent(RESIDENT)
            assert "VNeID" in answer["text"]
            assert confirmed(telegram, update_id)
        async with db.sessions() as session:
            keys = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
            inbound = await session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        assert (keys, inbound) == (1, 1)
    finally:
        await db.close()
