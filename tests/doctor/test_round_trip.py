"""`mailer doctor --round-trip` against moto: three messages to the SES mailbox simulator's
addresses go out through the ses transport (sesv2 SendEmail, the lean path, into moto), the
simulated SES events come back through SNS and SQS (simulator.py publishes them: moto cannot),
the ledger, the suppression rule and the report react, and the clean-up leaves the database as
it was, on SQLite and PostgreSQL. Real subscribers (the sample list) are never touched."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from mailer.doctor.check import Status
from mailer.doctor.round_trip import LEFTOVER_AGE, remove, remove_leftovers
from mailer.doctor.runner import RoundTripOptions
from mailer.store.db import transaction
from mailer.store.models import Event, MailingList, Subscriber, Subscription, Suppression, utcnow
from tests.conftest import DB_KINDS, import_sample
from tests.doctor.conftest import not_ok
from tests.doctor.simulator import MailboxSimulator
from tests.web.conftest import dump_tables

TRIP = (
    "round_trip.send",
    "round_trip.events",
    "round_trip.ledger",
    "round_trip.suppression",
    "round_trip.report",
    "round_trip.cleanup",
)
SENDS = "POST /v2/email/outbound-emails"  # sesv2 SendEmail, as the overlay forwards it to moto
# FTS5's own b-tree (SQLite's archive search): a deleted issue leaves segment records there until
# FTS5 merges them; what the index finds is checked by a search instead.
FTS_INTERNALS = ("issues_fts_data", "issues_fts_idx")


def rows(engine) -> dict[str, list[tuple]]:
    """Every table's rows, as the round trip must leave them: unchanged, except the suppression
    salt, which the first suppression of an installation creates (app_meta; every later one uses
    it, so it stays)."""
    tables = {k: v for k, v in dump_tables(engine).items() if k not in FTS_INTERNALS}
    tables["app_meta"] = [row for row in tables.get("app_meta", []) if row[0] != "suppression_salt"]
    return tables


def nothing_found_by_search(engine) -> bool:
    if engine.dialect.name != "sqlite":
        return True  # PostgreSQL's index is on the issues rows themselves (compared above)
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT rowid FROM issues_fts WHERE issues_fts MATCH 'simulator OR doctor'"
        )
        return not found.all()


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_the_round_trip_proves_the_chain_and_leaves_nothing_behind(installation):
    import_sample(installation.factory)
    before = rows(installation.engine)
    simulator = MailboxSimulator(installation.factory, installation.sns, installation.topic)
    with simulator:
        found = installation.examine(round_trip=RoundTripOptions(wait=60))
    for name in TRIP:
        print(found[name])
    assert not not_ok(found), {n: c for n, c in found.items() if c.status != Status.OK}
    assert [name for name in found if name.startswith("round_trip.")] == list(TRIP)
    # three messages, one to each simulator address, labelled with the run's nonce
    addresses = sorted(simulator.answered)
    assert len(addresses) == 3 and installation.overlay.requests.count(SENDS) == 3
    nonce = re.fullmatch(
        r"bounce\+mailer-doctor-([0-9a-f]{8})@simulator\.amazonses\.com", addresses[0]
    )
    assert nonce, addresses
    assert addresses == [
        f"{kind}+mailer-doctor-{nonce.group(1)}@simulator.amazonses.com"
        for kind in ("bounce", "complaint", "success")
    ]
    assert "sent 3, delivered 2, bounced hard 1, complained 1, unsubscribed 1" in (
        found["round_trip.report"].detail
    )
    assert rows(installation.engine) == before
    assert nothing_found_by_search(installation.engine)


def test_events_that_never_come_fail_round_trip_events_and_are_cleaned_up(installation):
    before = rows(installation.engine)
    found = installation.examine(round_trip=RoundTripOptions(wait=2))  # no simulator: no events
    assert found["round_trip.send"].status == Status.OK
    events = found["round_trip.events"]
    assert events.status == Status.FAIL and "still sent" in events.detail, events
    assert "mailer events poll" in events.fix
    for name in ("round_trip.ledger", "round_trip.suppression", "round_trip.report"):
        assert found[name].detail == "not checked: see round_trip.events"
    assert found["round_trip.cleanup"].status == Status.OK
    assert rows(installation.engine) == before
    assert nothing_found_by_search(installation.engine)


def test_a_send_ses_refuses_is_round_trip_send(installation):
    installation.ses.delete_identity(Identity="aimorningpost.example")  # moto: not authorised
    before = rows(installation.engine)
    found = installation.examine(round_trip=RoundTripOptions(wait=2))
    assert found["round_trip.send"].status == Status.FAIL, found["round_trip.send"]
    assert found["round_trip.events"].detail == "not checked: see round_trip.send"
    assert found["round_trip.cleanup"].status == Status.OK
    assert rows(installation.engine) == before
    assert nothing_found_by_search(installation.engine)


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_leftovers_of_earlier_round_trips_go_once_an_hour_old(factory, engine):
    """What a killed run left, or a late event after a clean-up: deleted by a later round trip
    when an hour old; a younger run's rows (perhaps running now) and real subscribers stay."""
    import_sample(factory)
    real = {k: v for k, v in dump_tables(engine).items() if k not in FTS_INTERNALS}
    now = utcnow()
    for label, when in (("0ld0ld00", now - dt.timedelta(hours=2)), ("ad0e5700", now)):
        address = f"bounce+mailer-doctor-{label}@simulator.amazonses.com"
        with transaction(factory) as session:
            mailing_list = MailingList(slug=f"mailer-doctor-{label}", name=label, created_at=when)
            subscriber = Subscriber(email=address, name="", created_at=when)
            session.add_all([mailing_list, subscriber])
            session.flush()
            session.add_all(
                [
                    Subscription(
                        subscriber_id=subscriber.id,
                        list_id=mailing_list.id,
                        status="confirmed",
                        created_at=when,
                    ),
                    Suppression(
                        email=address, email_hash=label * 8, reason="hard-bounce", created_at=when
                    ),
                    Event(
                        dedup_key=f"late-{label}",
                        event_type="bounce",
                        recipient=address,
                        raw="{}",
                        received_at=when,
                    ),
                ]
            )
    removed = remove_leftovers(factory, now - LEFTOVER_AGE)
    assert removed == 5  # the old run's list, subscriber, subscription, suppression and event
    with factory() as session:
        left = session.scalars(select(Subscriber.email).where(Subscriber.email.like("%simulator%")))
        assert list(left) == ["bounce+mailer-doctor-ad0e5700@simulator.amazonses.com"]
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        assert session.scalar(select(func.count()).select_from(Suppression)) == 1
    remove(
        factory, "mailer-doctor-ad0e5700", ["bounce+mailer-doctor-ad0e5700@simulator.amazonses.com"]
    )
    assert {k: v for k, v in dump_tables(engine).items() if k not in FTS_INTERNALS} == real
