"""rate limit windows shared by all web workers; events indexed by type

Revision ID: 0002 Revises: 0001 Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window", name=op.f("pk_rate_limit_windows")),
    )
    op.create_index(
        "ix_events_type_delivery", "events", ["event_type", "delivery_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_events_type_delivery", table_name="events")
    op.drop_table("rate_limit_windows")
