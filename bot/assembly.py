"""Which services and routes a process runs, decided from the settings."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.server import Service
from bot.web.app import Mount


def assemble(runtime: Runtime) -> tuple[list[Service], list[Mount]]:
    services: list[Service] = []
    mounts: list[Mount] = []
    return services, mounts
