"""The web app's click counter (web/click_counter.py) on a real database, without HTTP: the
flusher writes in batches, a failed write keeps its counts, memory stays bounded and what is
dropped is logged, close() writes what is left. Over HTTP and real servers:
tests/web/test_clicks_http.py."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

import pytest
from sqlalchemy import create_engine, delete, event, select

from mailer.store.db import session_factory
from mailer.store.models import ClickSalt, Send
from mailer.track.click_counts import CountKey, VisitorKey
from mailer.web import click_counter
from mailer.web.click_counter import ClickCounter
from tests.web.click_sends import click_send, counted, visitors, wait_for

HOUR = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)
DAY = HOUR.date()
NOON = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC).timestamp()


def key(send_id: int, position: int = 1, kind: str = "reader") -> CountKey:
    return CountKey(send_id, position, HOUR, kind)


def visitor(send_id: int, network: str, position: int = 1) -> VisitorKey:
    return VisitorKey(send_id, position, DAY, network, "Mozilla/5.0 Firefox/133.0")


@pytest.fixture
def statements(engine):
    """The statements the engine runs, to count transactions."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_thousand_clicks_are_one_transaction(factory, engine, statements):
    send_id = click_send(factory)
    counter = ClickCounter(factory, interval=3600, clock=lambda: NOON)  # no thread flush here
    for n in range(1000):
        counter.add(key(send_id, 1 + n % 3), visitor(send_id, f"203.0.{n % 7}.0/24", 1 + n % 3))
    assert counter.pending() == 1000
    statements.clear()
    assert counter.flush()
    assert counter.pending() == 0
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "DELETE"))]
    # The salt, the three count rows, the visitors, the past salts: one statement each.
    assert len(writes) == 4, writes
    assert counted(factory, send_id) == Counter(
        {(1, "reader"): 334, (2, "reader"): 333, (3, "reader"): 333}
    )
    assert visitors(factory, send_id) == Counter({1: 7, 2: 7, 3: 7})
    counter.close()


def test_a_failed_write_is_kept_and_logged_then_written(factory, caplog, tmp_path):
    send_id = click_send(factory)
    broken = session_factory(create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}"))
    counter = ClickCounter(broken, interval=3600, clock=lambda: NOON)
    for _ in range(4):
        counter.add(key(send_id), visitor(send_id, "203.0.113.0/24"))
    with caplog.at_level(logging.ERROR, logger="mailer.web.click_counter"):
        assert not counter.flush()
        assert not counter.flush()
    assert counter.pending() == 4
    [record] = caplog.records  # the second failure within a minute is not logged again
    assert "4 clicks kept for the next try" in record.getMessage()
    counter._factory = factory  # the database is back
    assert counter.flush()
    assert counted(factory, send_id) == Counter({(1, "reader"): 4})
    assert visitors(factory, send_id) == Counter({1: 1})
    counter.close()


def test_memory_is_bounded_and_what_is_dropped_is_logged(factory, monkeypatch, caplog):
    send_id = click_send(factory)
    monkeypatch.setattr(click_counter, "MAX_PENDING_COUNTS", 2)
    monkeypatch.setattr(click_counter, "MAX_PENDING_VISITORS", 3)
    counter = ClickCounter(factory, interval=3600, clock=lambda: NOON)
    for position in (1, 2, 3, 4, 1, 2):  # rows 3 and 4 find no room; 1 and 2 still count
        counter.add(key(send_id, position), visitor(send_id, f"203.0.{position}.0/24", 1))
    counter.add(key(send_id, 1), visitor(send_id, "203.0.1.0/24", 1))  # a visitor already held
    assert counter.pending() == 5
    with caplog.at_level(logging.ERROR, logger="mailer.web.click_counter"):
        assert counter.flush()
    assert "2 clicks and 1 visitor hashes not counted" in caplog.text
    assert counted(factory, send_id) == Counter({(1, "reader"): 3, (2, "reader"): 2})
    assert visitors(factory, send_id) == Counter({1: 3})
    counter.close()


def test_clicks_of_a_send_deleted_meanwhile_do_not_block_the_rest(factory, caplog):
    kept, gone = click_send(factory), click_send(factory, day=dt.date(2026, 11, 19))
    counter = ClickCounter(factory, interval=3600, clock=lambda: NOON)
    counter.add(key(kept), visitor(kept, "203.0.113.0/24"))
    counter.add(key(gone), visitor(gone, "203.0.113.0/24"))
    with factory.begin() as session:
        session.execute(delete(Send).where(Send.id == gone))
    with caplog.at_level(logging.INFO, logger="mailer.web.click_counter"):
        assert counter.flush()
    assert f"1 clicks of deleted send(s) [{gone}] not counted" in caplog.text
    assert counted(factory) == Counter({(1, "reader"): 1})
    counter.close()


def test_the_thread_writes_and_deletes_past_salts(factory):
    send_id = click_send(factory)
    with factory.begin() as session:
        session.add(ClickSalt(send_id=send_id, day=DAY - dt.timedelta(days=1), salt="0" * 64))
    counter = ClickCounter(factory, interval=0.05, clock=lambda: NOON)
    counter.start()  # as the app does: past salts go even when nobody clicks
    assert wait_for(salts_stored(factory), []) == []
    counter.add(key(send_id, 2, "scanner"))
    counter.add(key(send_id), visitor(send_id, "203.0.113.0/24"))
    expected = Counter({(1, "reader"): 1, (2, "scanner"): 1})
    assert wait_for(lambda: counted(factory, send_id), expected) == expected
    assert salts_stored(factory)() == [DAY]
    counter.close()


def test_close_writes_what_is_pending_once(factory):
    send_id = click_send(factory)
    counter = ClickCounter(factory, interval=3600, clock=lambda: NOON)
    counter.start()  # its first write would be in an hour
    for _ in range(3):
        counter.add(key(send_id, 2, "scanner"))
    counter.close()
    assert counted(factory, send_id) == Counter({(2, "scanner"): 3})
    counter.close()  # twice (the test server's teardown, then atexit): nothing more
    counter.add(key(send_id, 2, "scanner"))  # after close no thread starts again
    assert counter._thread is None
    assert counted(factory, send_id) == Counter({(2, "scanner"): 3})


def salts_stored(factory):
    def read():
        with factory() as session:
            return session.execute(select(ClickSalt.day)).scalars().all()

    return read
