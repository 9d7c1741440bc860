"""`mailer doctor --round-trip` against moto: three messages to the SES mailbox simulator's
addresses go out through the ses transport (sesv2 SendEmail, the lean path, into moto), the
simulated SES events come back through SNS and SQS (simulator.py publishes them: moto cannot),
the ledger, the suppression rule and the report react, and the clean-up leaves the database as
it was, on SQLite and PostgreSQL. Real subscribers (the sample list) are never touched."""

from __future__ import annotations

import re

import pytest

from mailer.doctor.check import Status
from mailer.doctor.runner import RoundTripOptions
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
