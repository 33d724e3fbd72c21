"""`troly serve`: migrate, start the web server and the enabled channels, stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from bot.runtime import Runtime
from bot.settings import OperatorError, Settings
from bot.store import migrate
from bot.store.faq_edits import reload as load_faq_edits
from bot.web.app import Mount, build_app
from faq.content import load_content

log = logging.getLogger(__name__)

STOP_TIMEOUT = 8.0  # seconds: in-flight work gets this long, then is left for the next start


class Service(Protocol):
    """A long-running part (a channel's poller, the outbox sender, the scheduler)."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class CannotListen(OperatorError):
    """The HTTP port could not be opened, for a reason the operator can fix."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _cannot_listen(exc: OSError, host: str, port: int) -> CannotListen | None:
    """The operator's side of a failed bind, or None for a failure we do not recognise (left as it is)."""
    if exc.errno == errno.EADDRINUSE:  # another program, or another troly: at run time, not in the settings
        return CannotListen(f"Cổng {port} trên {host} đang có chương trình khác dùng: hãy dừng chương trình đó, "
                            "hoặc chọn cổng khác bằng TROLY_HTTP_PORT.", 1)
    if exc.errno == errno.EACCES:
        return CannotListen(f"Không được phép mở cổng {port} (TROLY_HTTP_PORT): cổng dưới 1024 cần quyền quản "
                            "trị; hãy chọn cổng khác, ví dụ 8080.", 2)
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return CannotListen(f"Máy này không có địa chỉ {host} (TROLY_HTTP_HOST): hãy dùng 127.0.0.1, hoặc "
                            "0.0.0.0 để nhận kết nối từ mọi địa chỉ.", 2)
    return None


class Server:
    """The running process: owns the web server and the services, in start order, stopped in reverse."""

    def __init__(self, runtime: Runtime, services: Sequence[Service] = (), mounts: Sequence[Mount] = ()):
        self.runtime = runtime
        self.services = list(services)
        self.app = build_app(runtime, mounts)
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=STOP_TIMEOUT / 2)
        self.port: int | None = None
        self._started: list[Service] = []  # stop() stops these: after a start that failed half-way, no others ran

    async def start(self) -> None:
        settings = self.runtime.settings
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.http_host, settings.http_port)
        try:
            await site.start()
        except OSError as exc:
            known = _cannot_listen(exc, settings.http_host, settings.http_port)
            if known is None:
                raise
            raise known from exc
        sockets = self._runner.addresses
        self.port = sockets[0][1] if sockets else settings.http_port
        for service in self.services:
            await service.start()
            self._started.append(service)
            log.info("service started", extra={"service": service.name})
        self.runtime.metrics.up.set(1)
        # Everything built so far (the FAQ index, SQLAlchemy's and PTB's tables) lives as long as the process:
        # moved out of the collector's reach, a full collection scans only what requests create. Measured:
        # full collections held the loop ~130 ms each under load before, a few ms after.
        gc.collect()
        gc.freeze()
        log.info("serving", extra={"host": settings.http_host, "port": self.port})

    async def stop(self) -> None:
        self.runtime.metrics.up.set(0)
        for service in reversed(self._started):
            try:
                await asyncio.wait_for(service.stop(), timeout=STOP_TIMEOUT / 2)
            except Exception:
                log.exception("service did not stop cleanly", extra={"service": service.name})
        await self._runner.cleanup()
        await self.runtime.close()
        log.info("stopped")


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    runtime = Runtime.build(settings)
    try:
        server = await _ready(runtime)
    except BaseException:
        await runtime.close()  # nothing else runs yet; closed, the engine adds no warning after the error
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        _warn_if_nobody_hears_handoffs(settings)
        await stop.wait()
        log.info("stopping")
    finally:
        await server.stop()


async def _ready(runtime: Runtime) -> Server:
    """The migrated database and the assembled, not yet started, server."""
    await migrate.upgrade(runtime.engine)
    # Staff edits of the FAQ (stored in the database) are in use before the first question arrives.
    await load_faq_edits(runtime.sessions, runtime.knowledge, load_content())
    from bot.assembly import assemble

    services, mounts = assemble(runtime)
    return Server(runtime, services, mounts)


def _warn_if_nobody_hears_handoffs(settings: Settings) -> None:
    """Residents who ask for a person are told a volunteer will answer: without the volunteers' group nobody is
    told, and only the dashboard's ticket list shows them. The operator hears it once, at start."""
    missing = [name for name, value in (("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token),
                                        ("TELEGRAM_VOLUNTEER_CHAT_ID", settings.telegram_volunteer_chat_id))
               if value is None]
    if not missing:
        return
    sign_in = "" if settings.admin_token else " (đăng nhập bằng TROLY_ADMIN_TOKEN, hiện chưa đặt)"
    message = (f"Chưa có nhóm tình nguyện viên trên Telegram (cần đặt {' và '.join(missing)}): khi người dân xin "
               "gặp người hỗ trợ, không tình nguyện viên nào được báo; yêu cầu chỉ hiện trong danh sách phiếu ở "
               f"trang quản trị /admin/tickets{sign_in}.")
    log.warning(message, extra={"missing_settings": missing})
