"""deliveries.message_id: the Message-ID header of a delivery, random and kept for every attempt

Existing rows stay NULL; a send gives its rows one when it next runs (send/ledger.py, assign_message_ids).

Revision ID: 0003 Revises: 0002 Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("message_id")
