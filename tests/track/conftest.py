"""Fixtures for the track tests: a migrated database (SQLite, and PostgreSQL when
MAILER_TEST_DATABASE_URL is set) seeded with one send whose ledger rows carry SES message ids."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from mailer.db import make_engine, session_factory, transaction, upgrade
from mailer.models import Delivery, Issue, MailingList, Send, Subscriber, Subscription
from payloads import M_ALICE, M_DAVE, M_ERIN, M_GRACE, M_HEIDI, M_IVAN, M_MULTI

PG_URL = os.environ.get("MAILER_TEST_DATABASE_URL")
# SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3, but the `postgres` extra installs psycopg2.
if PG_URL and PG_URL.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
    PG_URL = "postgresql+psycopg2://" + PG_URL[len("postgresql://"):]

# (delivery id, email, ledger state, provider message id); subscriber id == delivery id
LEDGER = [
    (1, "alice@example.com", "sent", M_ALICE),
    (2, "bob@example.org", "sent", M_MULTI),
    (3, "carol@example.net", "sent", M_MULTI),
    (4, "dave@example.com", "sent", M_DAVE),
    (5, "erin@example.com", "sent", M_ERIN),
    (6, "frank@example.com", "unknown", None),  # outcome unknown: settled by the Send event's tag
    (7, "grace@example.com", "sent", M_GRACE),
    (8, "heidi@example.com", "sent", M_HEIDI),
    (9, "ivan@example.com", "sent", M_IVAN),
]
MAIN_LIST, OTHER_LIST = 1, 2


def _sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'track.db'}")
    yield engine
    engine.dispose()


def _postgres():
    schema = f"track_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("MAILER_TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
        gen = _postgres()
    else:
        gen = _sqlite(tmp_path)
    engine = next(gen)
    upgrade(engine)
    yield engine
    next(gen, None)


@pytest.fixture
def factory(engine):
    factory = session_factory(engine)
    with transaction(factory) as session:
        seed(session)
    return factory


def seed(session) -> None:
    session.add_all([MailingList(id=MAIN_LIST, slug="ai-morning-post", name="The AI Morning Post"),
                     MailingList(id=OTHER_LIST, slug="weekend-digest", name="Weekend Digest")])
    session.flush()
    session.add(Issue(id=1, list_id=MAIN_LIST, issue_date=dt.date(2026, 11, 22), subject="The AI Morning Post",
                      source_path="issues/ai-morning-post/2026-11-22.md", content_hash="0" * 64, html="<p>", text="t"))
    session.flush()
    session.add(Send(id=1, issue_id=1, list_id=MAIN_LIST, state="done", planned_count=len(LEDGER)))
    for delivery_id, email, _, _ in LEDGER:
        session.add(Subscriber(id=delivery_id, email=email, name=email.split("@")[0].title()))
    session.flush()
    for delivery_id, email, state, message_id in LEDGER:
        session.add(Subscription(subscriber_id=delivery_id, list_id=MAIN_LIST, status="confirmed"))
        session.add(Delivery(id=delivery_id, send_id=1, subscriber_id=delivery_id, email=email, state=state,
                             attempts=1, provider_message_id=message_id))
    # dave and alice are on a second list too: a complaint unsubscribes them everywhere
    session.add(Subscription(subscriber_id=4, list_id=OTHER_LIST, status="confirmed"))
    session.add(Subscription(subscriber_id=1, list_id=OTHER_LIST, status="confirmed"))
    session.flush()
