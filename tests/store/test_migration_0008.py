"""Migration 0008 on a database that has sends and a ledger: sends is rebuilt on SQLite (issue_id
becomes nullable) and nothing that references it cascades away, going up, down and up again."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from mailer.store.db import alembic_config, make_engine, upgrade
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
AT = dt.datetime(2026, 11, 18, 6, 30, tzinfo=dt.UTC)
COUNTED = ("sends", "deliveries", "send_links", "click_salts", "subscriptions", "consent_events")


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED}


def fill_0007(engine) -> None:
    statements = [
        "INSERT INTO lists (slug, name) VALUES ('ai-morning-post', 'Post')",
        "INSERT INTO subscribers (email, email_key, name) VALUES ('a@example.com', "
        "'a@example.com', 'A')",
        "INSERT INTO subscriptions (subscriber_id, list_id, status) VALUES (1, 1, 'confirmed')",
        "INSERT INTO consent_events (subscriber_id, list_id, action, source) "
        "VALUES (1, 1, 'import', 'import')",
        "INSERT INTO issues (list_id, issue_date, subject, source_path, content_hash, html, text) "
        "VALUES (1, '2026-11-18', 'S', 'x.md', 'h', '<p>x</p>', 'x')",
        "INSERT INTO sends (issue_id, list_id, state, planned_count, started_at, click_tracking) "
        "VALUES (1, 1, 'done', 1, :at, true)",
        "INSERT INTO deliveries (send_id, subscriber_id, email, name, state, attempts) "
        "VALUES (1, 1, 'a@example.com', 'A', 'delivered', 1)",
        "INSERT INTO send_links (send_id, position, url, section) "
        "VALUES (1, 1, 'https://example.com/', 'headline')",
        "INSERT INTO click_salts (send_id, day, salt) VALUES (1, '2026-11-18', 'x')",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), {"at": AT})


def test_0008_keeps_the_ledger_up_down_and_up(database_url):
    engine = make_engine(database_url)
    upgrade(engine, "0007")
    fill_0007(engine)
    before = counts(engine)
    assert set(before.values()) == {1}

    upgrade(engine)
    assert counts(engine) == before
    with engine.begin() as conn:
        kind, digest = conn.execute(text("SELECT kind, digest_id FROM sends")).one()
        assert (kind, digest) == ("issue", None)
        cadence, paused = conn.execute(
            text("SELECT cadence, paused_until FROM subscriptions")
        ).one()
        assert (cadence, paused) == ("daily", None)
        conn.execute(
            text("INSERT INTO sends (list_id, state, kind) VALUES (1, 'sending', 'welcome')")
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:  # one welcome send per list
        conn.execute(
            text("INSERT INTO sends (list_id, state, kind) VALUES (1, 'sending', 'welcome')")
        )

    command.downgrade(alembic_config(engine), "0007")
    assert counts(engine) == before  # the welcome send went, nothing else
    assert "digests" not in inspect(engine).get_table_names()
    assert "attributes" not in {c["name"] for c in inspect(engine).get_columns("subscribers")}
    upgrade(engine)
    assert counts(engine) == before
    engine.dispose()
