"""A whole `troly serve` process in the test's loop: every channel on (Telegram in webhook mode, Zalo), each
against its local fake platform, on a real SQLite file. For the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.assembly import assemble
from bot.runtime import Runtime
from bot.server import Server
from bot.settings import load_settings
from bot.store import migrate
from tests.conftest import free_port
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_api import FakeZalo


@dataclass
class Served:
    server: Server
    runtime: Runtime
    telegram: FakeTelegram
    zalo: FakeZalo
    base: str  # http://127.0.0.1:<port>

    def service(self, kind: type) -> Any:
        return next(s for s in self.server.services if isinstance(s, kind))


@dataclass
class Client:
    """A test's view of the served process: its parts, and HTTP to it."""

    served: Served
    http: aiohttp.ClientSession

    @property
    def runtime(self) -> Runtime:
        return self.served.runtime

    @property
    def telegram(self) -> FakeTelegram:
        return self.served.telegram

    @property
    def zalo(self) -> FakeZalo:
        return self.served.zalo

    def service(self, kind: type) -> Any:
        return self.served.service(kind)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        """POST to the process; its status and how long it took to answer."""
        started = time.monotonic()
        async with self.http.post(self.served.base + path, data=body, headers=headers) as response:
            return response.status, time.monotonic() - started


@asynccontextmanager
async def serve_with_fake_platforms(database: Path, telegram_webhook_secret: str) -> AsyncIterator[Served]:
    async with FakeTelegram.run() as telegram, FakeZalo.running() as zalo:
        port = free_port()
        settings = load_settings(
            TROLY_DATABASE_URL=f"sqlite+aiosqlite:///{database}", TROLY_HTTP_PORT=str(port),
            # The platforms would reach us through the ward's HTTPS proxy; the tests post to the port directly.
            TROLY_PUBLIC_URL="https://tro-ly.phuong-hoa-binh.gov.vn", TELEGRAM_WEBHOOK_SECRET=telegram_webhook_secret,
            **telegram.env(), **zalo.env(),
        )
        runtime = Runtime.build(settings)
        await migrate.upgrade(runtime.engine)
        services, mounts = assemble(runtime)
        server = Server(runtime, services, mounts)
        await server.start()
        try:
            yield Served(server, runtime, telegram, zalo, f"http://127.0.0.1:{port}")
        finally:
            await server.stop()
