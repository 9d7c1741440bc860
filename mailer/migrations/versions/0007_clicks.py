"""clicks counted per link, not per person: send_links, link_clicks, click_visitors, click_salts

With a list's [analytics] clicks on, a send rewrites each content link to /r/<token>; the token
names the send, the link's position and the second its message was handed over, never the reader.
send_links holds each position's original URL and section; link_clicks the counts per link, hour
and kind (reader or scanner); click_visitors one salted hash of (network, user agent) per link and
day, to estimate unique readers; click_salts the salt of each send and day, deleted once the day
is over, so that no hash can be tied to anyone afterwards. sends.click_tracking records whether the
send rewrote its links (fixed at plan time, so a resumed send does the same);
subscribers.plain_links is a reader's choice of original URLs (/manage).

Revision ID: 0007 Revises: 0006 Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _send_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["send_id"], ["sends.id"], name=op.f(f"fk_{table}_send_id_sends"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.add_column(
        "sends",
        sa.Column("click_tracking", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "subscribers",
        sa.Column("plain_links", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "send_links",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("section", sa.String(length=40), nullable=False, server_default=""),
        _send_fk("send_links"),
        sa.PrimaryKeyConstraint("send_id", "position", name=op.f("pk_send_links")),
    )
    op.create_table(
        "link_clicks",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False, server_default="0"),
        _send_fk("link_clicks"),
        sa.PrimaryKeyConstraint("send_id", "position", "hour", "kind", name=op.f("pk_link_clicks")),
    )
    op.create_table(
        "click_visitors",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor", sa.String(length=32), nullable=False),
        _send_fk("click_visitors"),
        sa.PrimaryKeyConstraint(
            "send_id", "position", "day", "visitor", name=op.f("pk_click_visitors")
        ),
    )
    op.create_table(
        "click_salts",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        _send_fk("click_salts"),
        sa.PrimaryKeyConstraint("send_id", "day", name=op.f("pk_click_salts")),
    )


def downgrade() -> None:
    for table in ("click_salts", "click_visitors", "link_clicks", "send_links"):
        op.drop_table(table)
    # In place, not batch mode: a batch copy of sends would cascade to the ledger (see 0006).
    op.execute("ALTER TABLE subscribers DROP COLUMN plain_links")
    op.execute("ALTER TABLE sends DROP COLUMN click_tracking")
