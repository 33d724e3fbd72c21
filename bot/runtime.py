"""Everything a running Trợ lý số needs, built once and passed in (no module-level state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.knowledge import Knowledge
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store.engine import create_engine, session_factory
from faq.content import Content, load_content
from faq.matcher import Matcher


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    knowledge: Knowledge
    metrics: Metrics = field(default_factory=Metrics)
    # Timers and reports read the clock through here so tests can move time.
    now: Callable[[], datetime] = utc_now

    @classmethod
    def build(cls, settings: Settings, engine: AsyncEngine | None = None) -> Runtime:
        engine = engine or create_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            knowledge=Knowledge(load_content()),
        )

    @property
    def content(self) -> Content:
        return self.knowledge.content

    @property
    def matcher(self) -> Matcher:
        return self.knowledge.matcher

    async def close(self) -> None:
        await self.engine.dispose()
