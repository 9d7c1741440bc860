"""autopilot_days: the autopilot's progress with each list's daily issue, and its lease

One row per (list, local issue date): the stage reached, who holds the day (host:pid:nonce) and
when they last renewed it, when the canary is judged and the summary due, the last alert sent (so
that an unchanged problem is not alerted again) and the canary's verdict.

Revision ID: 0005 Revises: 0004 Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autopilot_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_slug", sa.String(length=100), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("judge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_alert", sa.Text(), nullable=True),
        sa.Column("verdict", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autopilot_days")),
        sa.UniqueConstraint("list_slug", "issue_date", name=op.f("uq_autopilot_days_list_slug")),
    )


def downgrade() -> None:
    op.drop_table("autopilot_days")
