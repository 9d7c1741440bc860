"""Migration 0006 on a database that already has issues: they keep their rows, take their subject
as headline, are found by the new search, and the migration goes down and up again."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text

from mailer.archive import store
from mailer.store.db import make_engine, session_factory, upgrade
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
DAY = dt.date(2026, 11, 18)


def test_issues_stored_before_0006_get_a_headline_and_are_searchable(database_url):
    engine = make_engine(database_url)
    upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO lists (slug, name) VALUES ('ai-morning-post', 'Post')"))
        conn.execute(
            text(
                "INSERT INTO issues (list_id, issue_date, subject, source_path, content_hash, "
                "html, text) VALUES (1, :day, 'Quantum leaps in small models', 'x.md', 'h', "
                "'<html><body>old</body></html>', 'About tokenizers and quantization.')"
            ),
            {"day": DAY},
        )
        conn.execute(
            text(
                "INSERT INTO sends (issue_id, list_id, state, planned_count, started_at) "
                "VALUES (1, 1, 'done', 0, :at)"
            ),
            {"at": dt.datetime(2026, 11, 18, 6, 30, tzinfo=dt.UTC)},
        )
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as session:
        [issue] = store.everything(session, "ai-morning-post", DAY)
        assert (issue.headline, issue.dek) == ("Quantum leaps in small models", "")
        assert store.listing(session, "ai-morning-post", DAY, 1, "tokenizers").total == 1
        assert store.card(session, issue) is None  # drawn on request (documents.drawn_card)

    from alembic import command

    from mailer.store.db import alembic_config

    command.downgrade(alembic_config(engine), "0005")
    with engine.connect() as conn:  # nothing cascaded away with the columns
        assert conn.execute(text("SELECT count(*) FROM sends")).scalar() == 1
    columns = {c["name"] for c in inspect(engine).get_columns("issues")}
    assert not {"headline", "dek", "visibility"} & columns
    assert "issue_cards" not in inspect(engine).get_table_names()
    upgrade(engine)
    with factory() as session:
        assert store.listing(session, "ai-morning-post", DAY, 1, "quantization").total == 1
    engine.dispose()
