"""scale-out: outbox claim leases, worker heartbeats, shared send slots

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", bot.store.types.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "outbox_workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("started_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_workers")),
    )
    op.create_table(
        "rate_slots",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("next_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_slots")),
    )


def downgrade() -> None:
    op.drop_table("rate_slots")
    op.drop_table("outbox_workers")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
