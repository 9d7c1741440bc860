"""Schema and store behaviour on real databases built by the Alembic migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from mailer.audience.importing.importer import import_rows, read_csv
from mailer.audience.lists import ensure_list
from mailer.audience.suppressions import suppress
from mailer.content.lists import load_list
from mailer.errors import ConfigError, ImportFileError
from mailer.store.db import make_engine, require_schema, transaction
from mailer.store.models import Base, ConsentEvent, Subscriber, Subscription
from tests.conftest import DB_KINDS, REPO

LIST = load_list(REPO / "lists", "ai-morning-post")
pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


def test_upgrade_builds_every_table(engine):
    tables = set(inspect(engine).get_table_names())
    assert {
        "lists",
        "subscribers",
        "subscriptions",
        "consent_events",
        "suppressions",
        "issues",
        "sends",
        "deliveries",
        "events",
        "trending_snapshots",
        "rate_limit_windows",
        "alembic_version",
    } <= tables


# The archive's search index (migration 0006) has no model: FTS5's table and its shadow tables on
# SQLite, an expression index on PostgreSQL; mailer/archive/store.py queries them by name.
# The GIN index of subscribers.attributes (0008) is PostgreSQL's alone, likewise left out.
SEARCH_INDEX = ("issues_fts", "ix_issues_search", "ix_subscribers_attributes")


def _not_search_index(obj, name, type_, reflected, compare_to) -> bool:
    return not (name or "").startswith(SEARCH_INDEX)


def test_models_agree_with_migrations(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _not_search_index})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_schema_missing_is_a_clear_error(database_url):
    with pytest.raises(ConfigError, match="run `mailer db upgrade` first"):
        require_schema(make_engine(database_url))


def test_a_schema_behind_the_code_is_a_clear_error(database_url):
    from mailer.store.db import schema_revisions, upgrade

    engine = make_engine(database_url)
    upgrade(engine, "0001")
    head = schema_revisions(engine)[1]  # the newest migration shipped, whichever it is
    with pytest.raises(
        ConfigError,
        match=rf"is at schema revision 0001, this version of mailer needs {head}; "
        r"run `mailer db upgrade` first",
    ):
        require_schema(engine)
    upgrade(engine)
    require_schema(engine)


def _import(factory, tmp_path, text):
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    rows, problems = read_csv(path)
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
    return list_id, import_rows(factory, list_id, rows, problems, source=path.name)


def test_sample_list_imports_and_normalises(factory):
    rows, problems = read_csv(REPO / "lists" / "ai-morning-post.sample.csv")
    assert problems == [] and len(rows) == 25
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
    report = import_rows(factory, list_id, rows, problems, source="sample")
    assert (report.added, report.problems) == (25, [])
    with factory() as session:
        emails = set(session.scalars(select(Subscriber.email)))
        statuses = dict(
            session.execute(
                select(Subscription.status, func.count()).group_by(Subscription.status)
            ).all()
        )
    assert "mei.ling@xn--bcher-kva.example" in emails  # IDN domain stored as punycode
    assert statuses == {"confirmed": 21, "pending": 3, "unsubscribed": 1}


def test_bad_rows_are_reported_by_line_and_skipped(factory, tmp_path):
    _, report = _import(
        factory,
        tmp_path,
        "email,name,status\n"
        "good@example.com,Good,confirmed\n"
        "not-an-address,Bad,confirmed\n"
        "\n"
        "other@EXAMPLE.COM,Other,maybe\n"
        "GOOD@Example.com,Dup,confirmed\n"
        "x@example.com,too,many,fields\n",
    )
    assert report.added == 1  # GOOD@Example.com is good@example.com in other letter case
    assert [p.split(":")[0] for p in report.problems] == ["line 3", "line 5", "line 6", "line 7"]
    assert "invalid address 'not-an-address'" in report.problems[0]
    assert "status 'maybe'" in report.problems[1]
    assert "duplicate of line 2 (GOOD@example.com); merged" in report.problems[2]
    assert "expected 3 fields" in report.problems[3]


def test_duplicates_in_one_file_are_merged(factory, tmp_path):
    _, report = _import(factory, tmp_path, "email,name\nsame@Example.com,A\nsame@example.COM,B\n")
    assert report.added == 1
    assert report.problems == ["line 3: duplicate of line 2 (same@example.com); merged"]


def test_reimport_is_harmless_and_never_resubscribes(factory, tmp_path):
    csv_text = "email,status\na@example.com,confirmed\nb@example.com,pending\n"
    list_id, first = _import(factory, tmp_path, csv_text)
    with transaction(factory) as session:
        session.execute(
            Subscription.__table__.update()
            .where(Subscription.list_id == list_id)
            .values(status="unsubscribed")
        )
    _, second = _import(factory, tmp_path, csv_text)
    assert (first.added, second.added, second.updated, second.unchanged) == (2, 0, 0, 2)
    with factory() as session:
        assert set(session.scalars(select(Subscription.status))) == {"unsubscribed"}
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 2


def test_reimport_moves_pending_forward_with_a_consent_record_per_line(factory, tmp_path):
    list_id, first = _import(
        factory, tmp_path, "email,status\na@example.com,pending\nb@example.com,confirmed\n"
    )
    _, second = _import(
        factory, tmp_path, "email,status\nb@example.com,pending\n\na@example.com,confirmed\n"
    )
    assert (first.added, second.added, second.updated, second.unchanged) == (2, 0, 1, 1)
    with factory() as session:
        statuses = dict(
            session.execute(
                select(Subscriber.email, Subscription.status).join(
                    Subscription, Subscription.subscriber_id == Subscriber.id
                )
            ).all()
        )
        details = sorted(session.scalars(select(ConsentEvent.detail)))
        confirmed_at = session.scalar(
            select(Subscription.confirmed_at)
            .join(Subscriber)
            .where(Subscriber.email == "a@example.com")
        )
    assert statuses == {"a@example.com": "confirmed", "b@example.com": "confirmed"}
    assert confirmed_at is not None
    assert details == [
        "people.csv:2: status pending",
        "people.csv:3: status confirmed",
        "people.csv:4: status confirmed",
    ]


def test_suppressed_address_is_not_imported(factory, tmp_path):
    with transaction(factory) as session:
        suppress(session, "gone@example.com", "hard-bounce")
    _, report = _import(factory, tmp_path, "email\ngone@example.com\nkept@example.com\n")
    assert report.added == 1
    assert report.problems == [
        "line 2: gone@example.com is suppressed (bounced, complained or erased); not imported"
    ]


def test_csv_without_email_column_is_refused(factory, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("mail,name\na@example.com,A\n")
    with pytest.raises(ImportFileError, match=r"x.csv:1: no 'email' column"):
        read_csv(path)
