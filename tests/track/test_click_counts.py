"""What a click counts as (track/click_counts.py): the scanner rules, the network a visitor is
hashed by, and the batch writes on a real database (SQLite and PostgreSQL, see
tests/track/conftest.py): counts add up, visitors are written once, salts are shared and past ones
deleted. The counts over HTTP: tests/web/test_clicks_http.py."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from mailer.store.db import session_factory, transaction
from mailer.store.models import ClickSalt, ClickVisitor, LinkKind
from mailer.track.click_counts import (
    SCANNER_AGENTS,
    CountKey,
    VisitorKey,
    click_kind,
    day_of,
    day_salts,
    drop_past_salts,
    hour_of,
    is_scanner_agent,
    network_of,
    visitor_hash,
    write_counts,
    write_visitors,
)
from tests.web.click_sends import click_send, counted

BROWSERS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148",  # Apple Mail's in-app browser
)


@pytest.fixture
def factory(engine):
    """The migrated database without the track tests' seeded send (click_send makes its own)."""
    return session_factory(engine)


@pytest.mark.parametrize("agent", SCANNER_AGENTS)
def test_every_listed_scanner_agent_matches_in_any_case_anywhere(agent):
    for spelled in (agent, agent.upper(), agent.title(), agent.swapcase()):
        assert is_scanner_agent(f"Mozilla/5.0 (compatible; {spelled}/1.2; +https://x.example)")


@pytest.mark.parametrize("agent", BROWSERS)
def test_browsers_are_readers(agent):
    assert not is_scanner_agent(agent)
    assert click_kind("GET", agent, 1000.0, 0, 10) is LinkKind.READER


def test_the_scanner_rules():
    browser = BROWSERS[0]
    assert click_kind("HEAD", browser, 1000.0, 0, 10) is LinkKind.SCANNER
    assert click_kind("GET", "", 1000.0, 0, 10) is LinkKind.SCANNER
    assert click_kind("GET", None, 1000.0, 0, 10) is LinkKind.SCANNER
    # The window: a click before hand-over + window is a scanner's, from then on a reader's.
    assert click_kind("GET", browser, 1009.9, 1000, 10) is LinkKind.SCANNER
    assert click_kind("GET", browser, 1010.0, 1000, 10) is LinkKind.READER
    assert click_kind("GET", browser, 999.0, 1000, 0) is LinkKind.SCANNER  # before the hand-over
    assert click_kind("GET", browser, 1000.0, 1000, 0) is LinkKind.READER


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("203.0.113.0", "203.0.113.0/24"),
        ("10.1.2.255", "10.1.2.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("2001:DB8:ABCD:ffff:ffff:ffff:ffff:ffff", "2001:db8:abcd::/48"),
        ("::1", "::/48"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),
        ("fe80::1%eth0", "fe80::/48"),
        ("", ""),
        (None, ""),
        ("not an address", ""),
        ("203.0.113.777", ""),
        ("unix:/run/mailer.sock", ""),
    ],
)
def test_a_visitor_is_known_by_their_network_only(address, network):
    assert network_of(address) == network


def test_hours_and_days_are_utc():
    at = dt.datetime(2026, 12, 3, 23, 59, 59, 900_000, tzinfo=dt.UTC).timestamp()
    assert hour_of(at) == dt.datetime(2026, 12, 3, 23, tzinfo=dt.UTC)
    assert day_of(at) == dt.date(2026, 12, 3)
    assert day_of(at + 0.2) == dt.date(2026, 12, 4)


def test_the_visitor_hash_needs_the_salt():
    one = visitor_hash("a" * 64, "203.0.113.0/24", BROWSERS[0])
    assert len(one) == 32 and int(one, 16) >= 0
    assert one == visitor_hash("a" * 64, "203.0.113.0/24", BROWSERS[0])
    assert one != visitor_hash("b" * 64, "203.0.113.0/24", BROWSERS[0])
    assert one != visitor_hash("a" * 64, "203.0.114.0/24", BROWSERS[0])
    assert one != visitor_hash("a" * 64, "203.0.113.0/24", BROWSERS[1])
    # The separator: no (network, agent) pair can pass for another.
    assert visitor_hash("s", "1.2.3.0/24", "x") != visitor_hash("s", "1.2.3.0/2", "4x")


def test_batches_add_up_and_visitors_are_written_once(factory):
    send_id = click_send(factory)
    hour = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)
    day = hour.date()
    batch = {
        CountKey(send_id, 1, hour, "reader"): 3,
        CountKey(send_id, 1, hour, "scanner"): 2,
        CountKey(send_id, 2, hour + dt.timedelta(hours=1), "reader"): 1,
    }
    people = {
        VisitorKey(send_id, 1, day, "203.0.113.0/24", BROWSERS[0]),
        VisitorKey(send_id, 1, day, "203.0.114.0/24", BROWSERS[0]),
        VisitorKey(send_id, 2, day, "203.0.113.0/24", BROWSERS[0]),
    }
    for _ in range(3):  # three flushes of the same clicks: counts add, visitors stay
        with transaction(factory) as session:
            salts = day_salts(session, {(send_id, day)})
            write_counts(session, batch)
            write_visitors(session, people, salts)
    assert counted(factory, send_id) == Counter(
        {(1, "reader"): 9, (1, "scanner"): 6, (2, "reader"): 3}
    )
    with factory() as session:
        stored = session.execute(select(ClickVisitor.position, ClickVisitor.visitor)).all()
        [salt] = session.scalars(select(ClickSalt.salt))
    assert Counter(position for position, _ in stored) == Counter({1: 2, 2: 1})
    assert {v for _, v in stored} == {
        visitor_hash(salt, "203.0.113.0/24", BROWSERS[0]),
        visitor_hash(salt, "203.0.114.0/24", BROWSERS[0]),
    }


def test_a_days_salt_is_made_once_and_deleted_after_the_day(factory):
    send_id = click_send(factory)
    today = dt.date(2026, 12, 3)
    with transaction(factory) as session:
        first = day_salts(session, {(send_id, today), (send_id, today - dt.timedelta(days=1))})
    with transaction(factory) as session:  # another worker asks: it gets the same salts
        again = day_salts(session, {(send_id, today)})
    assert again == {(send_id, today): first[send_id, today]}
    assert len(set(first.values())) == 2 and all(len(s) == 64 for s in first.values())
    with transaction(factory) as session:
        assert drop_past_salts(session, today) == 1
    with factory() as session:
        assert session.execute(select(ClickSalt.send_id, ClickSalt.day)).all() == [(send_id, today)]
