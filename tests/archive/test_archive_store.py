"""What the archive shows, on real SQLite and PostgreSQL built by the migrations: a 500-issue
archive paginates and searches; unsent, future and hidden issues stay out."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from mailer.archive import store
from mailer.store.db import transaction
from mailer.store.models import Issue, Send, Visibility
from tests.archive.conftest import LIST, WORDS, bulk_issues
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
FIRST = dt.date(2025, 1, 1)
TODAY = dt.date(2026, 12, 3)
SLUG = LIST.slug


@pytest.fixture
def five_hundred(factory):
    return bulk_issues(factory, 500, FIRST)


def test_a_500_issue_archive_pages_newest_first_20_a_page(factory, five_hundred):
    with factory() as session:
        first = store.listing(session, SLUG, TODAY, 1)
        last = store.listing(session, SLUG, TODAY, 25)
        beyond = store.listing(session, SLUG, TODAY, 26)
        zero = store.listing(session, SLUG, TODAY, 0)
        every = store.everything(session, SLUG, TODAY)
    assert (first.total, first.pages) == (500, 25)
    assert [i.date for i in first.issues] == sorted(five_hundred, reverse=True)[:20]
    assert [i.date for i in last.issues] == sorted(five_hundred, reverse=True)[480:]
    assert beyond is None and zero is None
    assert len(every) == 500 and len({i.date for i in every}) == 500


def test_search_finds_words_of_headline_and_text_and_pages_its_results(factory, five_hundred):
    with factory() as session:
        word = store.listing(session, SLUG, TODAY, 1, "robotics")
        one = store.listing(session, SLUG, TODAY, 1, "marker123x")
        both = store.listing(session, SLUG, TODAY, 1, "robotics marker3x")
        second = store.listing(session, SLUG, TODAY, 2, "robotics")
        nothing = store.listing(session, SLUG, TODAY, 1, "nonexistentword")
    expected = sum(1 for n in range(500) if WORDS[n % len(WORDS)] == "robotics")
    assert word.total == expected and word.pages == -(-expected // 20)
    assert all("robotics" in i.headline for i in word.issues + second.issues)
    assert [i.headline for i in one.issues] == [f"Issue 123: {WORDS[123 % len(WORDS)]}"]
    assert [i.headline for i in both.issues] == ["Issue 3: robotics"]
    assert nothing.total == 0 and nothing.issues == () and nothing.pages == 1


def test_a_prefix_finds_the_whole_word_on_sqlite(factory, five_hundred, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("prefix matching is FTS5's (PostgreSQL's websearch_to_tsquery has none)")
    with factory() as session:
        assert store.listing(session, SLUG, TODAY, 1, "multimod").total > 0


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "AND (",
        "robotics OR",
        "NEAR(a b)",
        "*",
        "-",
        "col:robotics",
        "'; DROP TABLE x; --",
        "\x00",
        "a" * 5000,
        "ünïcödé",
        "😀",
        "((((",
        "^robotics",
    ],
)
def test_any_text_typed_in_the_box_is_a_search_not_an_error(factory, five_hundred, query):
    with factory() as session:
        found = store.listing(session, SLUG, TODAY, 1, query)
    assert found is not None and found.total >= 0
    assert len(found.query) <= store.MAX_QUERY


def test_only_started_sends_and_public_issues_of_past_dates_are_in_it(factory):
    days = bulk_issues(factory, 6, TODAY - dt.timedelta(days=3), sent=False)
    # days[0], days[1]: sent; days[2]: planned only; days[3] (today): public; days[4] (tomorrow):
    # public; days[5]: sent but hidden
    with transaction(factory) as session:
        ids = dict(session.execute(select(Issue.issue_date, Issue.id)).all())
        for day, started in ((days[0], True), (days[1], True), (days[2], False), (days[5], True)):
            session.add(
                Send(
                    issue_id=ids[day],
                    list_id=1,
                    state="sending" if started else "planned",
                    started_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC) if started else None,
                )
            )
        session.flush()
        store.set_visibility(session, SLUG, days[3], Visibility.PUBLIC)
        store.set_visibility(session, SLUG, days[4], Visibility.PUBLIC)
        store.set_visibility(session, SLUG, days[5], Visibility.HIDDEN)
    with factory() as session:
        shown = [i.date for i in store.everything(session, SLUG, TODAY)]
        assert shown == [days[3], days[1], days[0]]
        assert store.latest(session, SLUG, TODAY) == days[3]
        assert store.summary(session, SLUG, days[2], TODAY) is None  # unsent
        assert store.summary(session, SLUG, days[4], TODAY) is None  # future
        assert store.summary(session, SLUG, days[5], TODAY) is None  # hidden
        assert store.neighbours(session, SLUG, days[1], TODAY) == (days[0], days[3])
        # the issue page's one query: the issue and the same neighbours, or nothing
        found, before, after = store.located(session, SLUG, days[1], TODAY)
        assert (found.date, before, after) == (days[1], days[0], days[3])
        assert store.located(session, SLUG, days[3], TODAY)[1:] == (days[1], None)
        assert store.located(session, SLUG, days[0], TODAY)[1:] == (None, days[1])
        for unshown in days[2], days[4], days[5]:
            assert store.located(session, SLUG, unshown, TODAY) is None
        # tomorrow, the public issue of tomorrow's date appears
        assert store.summary(session, SLUG, days[4], TODAY + dt.timedelta(days=1)) is not None
        assert store.listing(session, "weekend-digest", TODAY).total == 0


def test_search_follows_edits_of_a_stored_issue(factory):
    [day] = bulk_issues(factory, 1, TODAY)
    with factory() as session:
        assert store.listing(session, SLUG, TODAY, 1, "zeppelin").total == 0
    with transaction(factory) as session:
        session.execute(update(Issue).values(text="now about zeppelins and zeppelin"))
    with factory() as session:
        assert [i.date for i in store.listing(session, SLUG, TODAY, 1, "zeppelin").issues] == [day]
        assert store.listing(session, SLUG, TODAY, 1, "diffusion").total == 0
