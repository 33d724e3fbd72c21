"""Volunteer and staff roles, granted to a channel address ("telegram:123456")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import audit
from bot.store.models import CHANNELS, ROLES, Role


def parse_address(address: str) -> tuple[str, str]:
    """"telegram:123" → ("telegram", "123"), refusing what cannot be an address."""
    channel, sep, user_id = address.partition(":")
    if not sep or channel not in CHANNELS or not user_id.strip():
        raise ValueError(f"địa chỉ không hợp lệ {address!r}: cần dạng KÊNH:MÃ_NGƯỜI_DÙNG, KÊNH là {'/'.join(CHANNELS)}")
    return channel, user_id.strip()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"vai trò không hợp lệ {role!r}: chọn {' hoặc '.join(ROLES)}")
    return role


async def grant(session: AsyncSession, role: str, address: str, actor: str) -> bool:
    """Grant a role; False when it was already held."""
    channel, user_id = parse_address(address)
    check_role(role)
    if await has_role(session, channel, user_id, role):
        return False
    session.add(Role(channel=channel, external_id=user_id, role=role, granted_by=actor))
    audit.record(session, actor, "role.grant", f"{channel}:{user_id}", role=role)
    return True


async def revoke(session: AsyncSession, role: str, address: str, actor: str) -> bool:
    channel, user_id = parse_address(address)
    check_role(role)
    result = await session.execute(
        delete(Role).where(Role.channel == channel, Role.external_id == user_id, Role.role == role)
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        audit.record(session, actor, "role.revoke", f"{channel}:{user_id}", role=role)
    return removed


async def has_role(session: AsyncSession, channel: str, user_id: str, role: str) -> bool:
    found = await session.scalar(
        select(Role.id).where(Role.channel == channel, Role.external_id == user_id, Role.role == role)
    )
    return found is not None


async def roles_by_address(session: AsyncSession) -> dict[tuple[str, str], frozenset[str]]:
    """Every address that holds a role, with its roles: the table is small (a commune's team), and the pipeline
    keeps this for a few seconds instead of asking about each sender."""
    held: dict[tuple[str, str], set[str]] = defaultdict(set)
    for channel, external_id, role in await session.execute(
        select(Role.__table__.c.channel, Role.__table__.c.external_id, Role.__table__.c.role)
    ):
        held[(channel, external_id)].add(role)
    return {address: frozenset(names) for address, names in held.items()}


async def list_roles(session: AsyncSession) -> Sequence[Role]:
    return (await session.scalars(select(Role).order_by(Role.role, Role.channel, Role.external_id))).all()
