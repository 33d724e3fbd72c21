"""token refresh claim: a refresh in progress is marked on the row instead of holding a lock over the OAuth call

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("platform_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refresh_claimed_at", bot.store.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("platform_tokens", schema=None) as batch_op:
        batch_op.drop_column("refresh_claimed_at")
