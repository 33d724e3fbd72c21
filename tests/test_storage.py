"""Migrations and the storage layer on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store import migrate, roles
from bot.store.engine import create_engine, session_factory
from bot.store.models import TICKET_IS_OPEN, AuditEntry, Base, Identity, Resident, Ticket


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_from_empty_and_downgrade_back(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await _tables(engine) == set()
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) is not None
        assert set(Base.metadata.tables) <= await _tables(engine)
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        assert await _tables(engine) <= {"alembic_version"}
        # and up again: a downgrade that left debris would fail here
        await migrate.upgrade(engine)
        assert set(Base.metadata.tables) <= await _tables(engine)
    finally:
        await engine.dispose()


async def test_models_match_the_migrations(database_url: str) -> None:
    """A model changed without a migration is caught here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert diff == []
    finally:
        await engine.dispose()


async def test_times_come_back_aware_in_utc(migrated_engine: AsyncEngine) -> None:
    sessions = session_factory(migrated_engine)
    saigon = timezone(timedelta(hours=7))
    seen = datetime(2026, 11, 23, 8, 30, tzinfo=saigon)
    async with sessions() as session, session.begin():
        session.add(Resident(display_name="Bà Tư", last_seen_at=seen))
    async with sessions() as session:
        resident = (await session.scalars(select(Resident))).one()
    assert resident.last_seen_at.tzinfo is not None
    assert resident.last_seen_at == seen
    assert resident.last_seen_at.utcoffset() == timedelta(0)


async def test_naive_times_are_refused(migrated_engine: AsyncEngine) -> None:
    sessions = session_factory(migrated_engine)
    with pytest.raises(Exception, match="naive datetime"):
        async with sessions() as session, session.begin():
            session.add(Resident(display_name="x", last_seen_at=datetime(2026, 1, 1)))


async def test_one_open_ticket_per_resident(migrated_engine: AsyncEngine) -> None:
    sessions = session_factory(migrated_engine)
    async with sessions() as session, session.begin():
        resident = Resident(display_name="Ông Năm")
        identity = Identity(resident=resident, channel="zalo", external_id="z1")
        session.add(identity)
        await session.flush()
        session.add(Ticket(resident_id=resident.id, identity_id=identity.id, reason="asked"))
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            session.add(Ticket(resident_id=resident.id, identity_id=identity.id, reason="asked"))
    async with sessions() as session, session.begin():
        ticket = (await session.scalars(select(Ticket))).one()
        ticket.status = "closed"
        ticket.closed_at = datetime.now(UTC)
    async with sessions() as session, session.begin():
        session.add(Ticket(resident_id=resident.id, identity_id=identity.id, reason="asked"))


def test_the_open_ticket_condition_is_the_partial_index_condition() -> None:
    """With 'closed' bound as a parameter, SQLite could not tell at prepare time that the partial index applies,
    and would prepare the statement again on every execution."""
    [index] = [i for i in Ticket.__table__.indexes if i.name == "uq_tickets_one_open_per_resident"]
    condition = str(index.dialect_options["sqlite"]["where"])
    sql = str(select(Ticket.id).where(TICKET_IS_OPEN).compile(dialect=sqlite.dialect()))
    assert sql.endswith(f"WHERE tickets.{condition}")


async def test_role_grant_revoke_is_audited(migrated_engine: AsyncEngine) -> None:
    sessions = session_factory(migrated_engine)
    async with sessions() as session, session.begin():
        assert await roles.grant(session, "volunteer", "telegram:42", "cli")
        assert not await roles.grant(session, "volunteer", "telegram:42", "cli")
    async with sessions() as session, session.begin():
        assert await roles.has_role(session, "telegram", "42", "volunteer")
        assert not await roles.has_role(session, "telegram", "42", "staff")
        assert await roles.revoke(session, "volunteer", "telegram:42", "cli")
        assert not await roles.revoke(session, "volunteer", "telegram:42", "cli")
    async with sessions() as session:
        actions = [(a.action, a.target) for a in (await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))]
    assert actions == [("role.grant", "telegram:42"), ("role.revoke", "telegram:42")]


@pytest.mark.parametrize("address", ["telegram", "sms:1", "zalo:", ":5"])
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="không hợp lệ"):
        roles.parse_address(address)
