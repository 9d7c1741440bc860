"""Migration 0004 on a database that already holds one person three times (in three letter cases),
seeded through SQL at schema 0002 and upgraded with `mailer db upgrade`, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mailer.store.db import make_engine, upgrade
from mailer.store.events import stored_dedup_key
from tests.cli.test_cli import mailer
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)

SEED = [
    "INSERT INTO lists (id, slug, name) VALUES (1, 'ai-morning-post', 'The AI Morning Post'), "
    "(2, 'weekend-digest', 'The Weekend Digest')",
    # Alan three times: 2 consented first (though created later than 1 was, by a re-import)
    "INSERT INTO subscribers (id, email, name, created_at) VALUES "
    "(1, 'alan@example.com', '', '2026-01-05 00:00:00'), (2, 'ALAN@example.com', '', '2026-01-06 "
    "00:00:00'), "
    "(3, 'Alan@example.com', 'Al', '2026-01-03 00:00:00'), (4, 'bob@example.com', 'Bob', "
    "'2026-01-01 00:00:00'), "
    "(5, NULL, '', '2026-01-01 00:00:00')",
    "INSERT INTO consent_events (id, subscriber_id, list_id, action, source, detail, created_at) "
    "VALUES "
    "(1, 2, 1, 'subscribe', 'web', 'web-subscribe-v1', '2025-12-24 09:00:00'), "
    "(2, 2, 1, 'confirm', 'web', 'confirmation link', '2025-12-24 09:05:00'), "
    "(3, 1, 1, 'import', 'import', 'a.csv line 2: status confirmed', '2026-01-05 00:00:00'), "
    "(4, 3, 1, 'unsubscribe', 'one-click', NULL, '2026-01-07 00:00:00'), "
    "(5, 1, 2, 'import', 'import', 'b.csv line 9: status pending', '2026-01-05 00:00:00'), "
    "(6, 4, 1, 'import', 'import', 'a.csv line 3: status confirmed', '2026-01-01 00:00:00')",
    "INSERT INTO subscriptions (id, subscriber_id, list_id, status, created_at, confirmed_at, "
    "unsubscribed_at) VALUES "
    "(1, 1, 1, 'confirmed', '2026-01-05 00:00:00', '2026-01-05 00:00:00', NULL), "
    "(2, 2, 1, 'confirmed', '2025-12-24 09:00:00', '2025-12-24 09:05:00', NULL), "
    "(3, 3, 1, 'unsubscribed', '2026-01-03 00:00:00', '2026-01-03 00:00:00', '2026-01-07 "
    "00:00:00'), "
    "(4, 1, 2, 'pending', '2026-01-05 00:00:00', NULL, NULL), "
    "(5, 3, 2, 'confirmed', '2026-01-03 00:00:00', '2026-01-04 00:00:00', NULL), "
    "(6, 4, 1, 'confirmed', '2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)",
    "INSERT INTO issues (id, list_id, issue_date, subject, source_path, content_hash, html, text) "
    "VALUES "
    "(1, 1, '2026-01-08', 'S1', 'x', 'h', '<p>', 't'), (2, 1, '2026-01-09', 'S2', 'x', 'h', '<p>', "
    "'t')",
    "INSERT INTO sends (id, issue_id, list_id, state, planned_count) VALUES (1, 1, 1, 'done', 4), "
    "(2, 2, 1, 'done', 2)",
    # send 1 mailed Alan twice (1 and 2) and Bob; send 2 mailed 3 (before the unsubscribe took
    # effect)
    "INSERT INTO deliveries (id, send_id, subscriber_id, email, name, state, attempts) VALUES "
    "(10, 1, 1, 'alan@example.com', '', 'delivered', 1), (11, 1, 2, 'ALAN@example.com', '', "
    "'complained', 1), "
    "(12, 1, 4, 'bob@example.com', 'Bob', 'delivered', 1), (13, 2, 3, 'Alan@example.com', 'Al', "
    "'sent', 1)",
    "INSERT INTO events (id, dedup_key, ses_message_id, event_type, recipient, delivery_id, raw) "
    "VALUES "
    "(1, 'delivery:m10:alan@example.com', 'm10', 'delivery', 'alan@example.com', 10, '{}'), "
    "(2, 'complaint:f11:alan@example.com', 'm11', 'complaint', 'ALAN@example.com', 11, '{}'), "
    "(3, 'delivery:m12:bob@example.com', 'm12', 'delivery', 'bob@example.com', 12, '{}')",
]


def _rows(conn, sql: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(text(sql))]


def test_upgrade_merges_people_who_differ_only_in_letter_case(database_url, workdir):
    engine = make_engine(database_url)
    upgrade(engine, "0002")
    with engine.begin() as conn:
        for statement in SEED:
            conn.execute(text(statement))

    result = mailer(workdir, "db", "upgrade", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr

    with engine.connect() as conn:
        # the one who consented first survives, with the address as they gave it and a name from the
        # others
        assert _rows(conn, "SELECT id, email, email_key, name FROM subscribers ORDER BY id") == [
            (2, "ALAN@example.com", "alan@example.com", "Al"),
            (4, "bob@example.com", "bob@example.com", "Bob"),
            (5, None, None, ""),
        ]
        assert str(conn.scalar(text("SELECT created_at FROM subscribers WHERE id = 2"))).startswith(
            "2026-01-03"
        )
        # every consent event kept, now the survivor's
        assert _rows(conn, "SELECT id, subscriber_id FROM consent_events ORDER BY id") == [
            (1, 2),
            (2, 2),
            (3, 2),
            (4, 2),
            (5, 2),
            (6, 4),
        ]
        # per list: unsubscribed over confirmed over pending; the earliest dates
        subs = _rows(
            conn,
            "SELECT subscriber_id, list_id, status, created_at, confirmed_at, unsubscribed_at "
            "FROM subscriptions ORDER BY subscriber_id, list_id",
        )
        assert [s[:3] for s in subs] == [
            (2, 1, "unsubscribed"),
            (2, 2, "confirmed"),
            (4, 1, "confirmed"),
        ]
        assert [str(v)[:10] for v in subs[0][3:]] == ["2025-12-24", "2025-12-24", "2026-01-07"]
        assert [str(v)[:10] for v in subs[1][3:5]] == ["2026-01-03", "2026-01-04"] and subs[1][
            5
        ] is None
        # one ledger row per send for the merged person: the furthest state; its events follow it
        assert _rows(
            conn, "SELECT id, send_id, subscriber_id, state FROM deliveries ORDER BY id"
        ) == [(11, 1, 2, "complained"), (12, 1, 4, "delivered"), (13, 2, 2, "sent")]
        assert _rows(conn, "SELECT id, delivery_id FROM events ORDER BY id") == [
            (1, 11),
            (2, 11),
            (3, 12),
        ]
        # dedup keys name nobody any more, and are what a new copy of the same notification gets
        salt = conn.scalar(text("SELECT value FROM app_meta WHERE key = 'suppression_salt'"))
        assert _rows(conn, "SELECT dedup_key FROM events ORDER BY id") == [
            (stored_dedup_key("delivery:m10", "delivery", "alan@example.com", salt),),
            (stored_dedup_key("complaint:f11", "complaint", "ALAN@example.com", salt),),
            (stored_dedup_key("delivery:m12", "delivery", "bob@example.com", salt),),
        ]

    shown = mailer(
        workdir, "subscribers", "show", "alan@EXAMPLE.com", env={"DATABASE_URL": database_url}
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("ALAN@example.com  name='Al'  id=2")
    (workdir / "again.csv").write_text("email\nAlan@Example.COM\n")
    again = mailer(
        workdir,
        "subscribers",
        "import",
        "again.csv",
        "--list",
        "ai-morning-post",
        env={"DATABASE_URL": database_url},
    )
    assert "0 added" in again.stdout, again.stderr
    with engine.connect() as conn:
        assert (
            conn.scalar(
                text("SELECT count(*) FROM subscribers WHERE email_key = 'alan@example.com'")
            )
            == 1
        )
        with pytest.raises(Exception, match="(?i)unique"):
            conn.execute(
                text(
                    "INSERT INTO subscribers (email, email_key, name) "
                    "VALUES ('alan@Example.com', 'alan@example.com', '')"
                )
            )
    engine.dispose()
