"""preferences, imports, welcome mails and weekly digests

subscribers.attributes: what an import brought beyond our columns (JSON; JSONB with a GIN index on
PostgreSQL). subscriptions.cadence (daily issues or the weekly digest) and
subscriptions.paused_until (nothing planned before that date), both set in /manage. digests: the
frozen render of a list's weekly digest. sends.kind says what a send carries: an issue
(sends.issue_id, now nullable), a digest (sends.digest_id) or a list's welcome mails (one welcome
send per list, a partial unique index).

On SQLite, sends is rebuilt by batch mode (issue_id's NOT NULL cannot be altered in place); env.py
turns foreign keys off around migrations so that dropping the old table does not cascade to the
ledger.

Revision ID: 0008 Revises: 0007 Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WELCOME = sa.text("kind = 'welcome'")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    attributes_type = postgresql.JSONB() if postgres else sa.JSON()
    op.add_column(
        "subscribers",
        sa.Column("attributes", attributes_type, nullable=False, server_default="{}"),
    )
    if postgres:
        op.create_index(
            "ix_subscribers_attributes", "subscribers", ["attributes"], postgresql_using="gin"
        )
    op.add_column(
        "subscriptions",
        sa.Column("cadence", sa.String(length=8), nullable=False, server_default="daily"),
    )
    op.add_column("subscriptions", sa.Column("paused_until", sa.Date(), nullable=True))
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("digest_date", sa.Date(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_digests_list_id_lists"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("list_id", "digest_date", name=op.f("uq_digests_list_id")),
    )
    with op.batch_alter_table("sends") as batch:
        batch.alter_column("issue_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="issue")
        )
        batch.create_foreign_key(
            op.f("fk_sends_digest_id_digests"), "digests", ["digest_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_unique_constraint(op.f("uq_sends_digest_id"), ["digest_id"])
    op.create_index(
        "uq_sends_welcome_list",
        "sends",
        ["list_id"],
        unique=True,
        sqlite_where=WELCOME,
        postgresql_where=WELCOME,
    )


def downgrade() -> None:
    # Digest and welcome sends have no issue: they go, with their ledger rows.
    op.execute("DELETE FROM sends WHERE issue_id IS NULL")
    op.drop_index("uq_sends_welcome_list", table_name="sends")
    with op.batch_alter_table("sends") as batch:
        batch.drop_constraint(op.f("uq_sends_digest_id"), type_="unique")
        batch.drop_constraint(op.f("fk_sends_digest_id_digests"), type_="foreignkey")
        batch.drop_column("kind")
        batch.drop_column("digest_id")
        batch.alter_column("issue_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("digests")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_subscribers_attributes", table_name="subscribers")
    for table, column in (
        ("subscriptions", "paused_until"),
        ("subscriptions", "cadence"),
        ("subscribers", "attributes"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # in place, as in 0007
