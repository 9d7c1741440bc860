"""the archive on the web: issues.headline, issues.dek, issues.visibility, issue_cards, search

Each issue row keeps its headline and dek (the archive's index and the feeds show them; rows made
before this take their subject as headline), and a visibility: NULL (in the archive once its send
has started), 'public' (shown though not sent) or 'hidden' (never shown). issue_cards holds each
issue's share-card PNG, made when the issue is stored.

Search over headline, dek and text: on SQLite an FTS5 table over the issues rows (external
content, kept in step by triggers); on PostgreSQL a GIN index on the same to_tsvector expression
that mailer.archive.store queries (the two must stay identical for the index to be used).

Revision ID: 0006 Revises: 0005 Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# mailer.archive.store.PG_SEARCH_VECTOR, repeated: a migration must not change when the code does.
PG_SEARCH_VECTOR = "to_tsvector('english', headline || ' ' || dek || ' ' || text)"
FTS_COLUMNS = "headline, dek, text"
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE issues_fts USING fts5(headline, dek, text, content='issues', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER issues_fts_insert AFTER INSERT ON issues BEGIN "
    f"INSERT INTO issues_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, new.headline, new.dek, new.text);"
    " END",
    "CREATE TRIGGER issues_fts_delete AFTER DELETE ON issues BEGIN "
    f"INSERT INTO issues_fts(issues_fts, rowid, {FTS_COLUMNS}) "
    "VALUES ('delete', old.id, old.headline, old.dek, old.text); END",
    "CREATE TRIGGER issues_fts_update AFTER UPDATE ON issues BEGIN "
    f"INSERT INTO issues_fts(issues_fts, rowid, {FTS_COLUMNS}) "
    "VALUES ('delete', old.id, old.headline, old.dek, old.text); "
    f"INSERT INTO issues_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, new.headline, new.dek, new.text);"
    " END",
    "INSERT INTO issues_fts(issues_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.add_column("issues", sa.Column("headline", sa.Text(), nullable=False, server_default=""))
    op.add_column("issues", sa.Column("dek", sa.Text(), nullable=False, server_default=""))
    op.add_column("issues", sa.Column("visibility", sa.String(length=8), nullable=True))
    op.execute("UPDATE issues SET headline = subject WHERE headline = ''")
    op.create_table(
        "issue_cards",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_cards_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_issue_cards")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute(f"CREATE INDEX ix_issues_search ON issues USING gin ({PG_SEARCH_VECTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS issues_fts_{name}")
        op.execute("DROP TABLE IF EXISTS issues_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_issues_search")
    op.drop_table("issue_cards")
    # Not batch mode on SQLite: it would copy and drop `issues`, and with foreign keys on the drop
    # cascades to every send and ledger row. SQLite 3.35+ drops a column in place.
    for name in ("visibility", "dek", "headline"):
        op.execute(f"ALTER TABLE issues DROP COLUMN {name}")
