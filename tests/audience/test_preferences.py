"""The preference centre's library (audience/preferences.py) on real SQLite and PostgreSQL built by
the migrations: each change is one compare-and-set and one consent event, a repeat records
nothing, an erased or unsubscribed person changes nothing, and an address changes only from the
newest request's confirmation, never onto someone else's or a suppressed address."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import select

from mailer.audience import lifecycle, preferences
from mailer.audience.preferences import AddressOutcome
from mailer.audience.suppressions import suppress
from mailer.content.lists import DigestSettings, Schedule, load_list
from mailer.store.db import transaction
from mailer.store.models import (
    Cadence,
    ConsentEvent,
    Subscriber,
    Subscription,
    SuppressionReason,
)
from mailer.tokens import AddressToken
from tests.conftest import DB_KINDS, REPO, import_sample

both = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
ADA, GRACE = "ada.lovelace@example.com", "grace.hopper@example.net"
WEB = lifecycle.Visitor(ip="192.0.2.7", user_agent="test", source="web")
TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def people(factory) -> tuple[int, int]:
    """The sample list imported; (its list id, Ada's subscriber id)."""
    list_id = import_sample(factory)
    with factory() as session:
        ada = session.scalar(select(Subscriber.id).where(Subscriber.email == ADA))
    return list_id, ada


def events(factory, subscriber_id: int) -> list[tuple[str, str | None]]:
    with factory() as session:
        rows = session.execute(
            select(ConsentEvent.action, ConsentEvent.detail)
            .where(ConsentEvent.subscriber_id == subscriber_id)
            .where(ConsentEvent.action.not_in(("import", "subscribe", "confirm")))
            .order_by(ConsentEvent.id)
        )
        return [tuple(row) for row in rows]


def run(factory, call, *args):
    with transaction(factory) as session:
        return call(session, *args)


def subscription(factory, list_id: int, subscriber_id: int) -> Subscription:
    with factory() as session:
        return session.scalar(
            select(Subscription).where(
                Subscription.list_id == list_id, Subscription.subscriber_id == subscriber_id
            )
        )


@both
def test_name_changes_once_and_is_cleaned(factory, people):
    list_id, ada = people
    assert run(factory, preferences.change_name, ada, list_id, "  Ada\tKing \n", WEB)
    assert not run(factory, preferences.change_name, ada, list_id, "Ada King", WEB)
    with factory() as session:
        assert session.get(Subscriber, ada).name == "Ada King"
    assert events(factory, ada) == [("name", None)]


@both
def test_pause_counts_weeks_from_today_and_resume_ends_it(factory, people):
    list_id, ada = people
    until = run(factory, preferences.pause, ada, list_id, 2, TODAY, WEB)
    assert until == dt.date(2026, 12, 4)
    assert run(factory, preferences.pause, ada, list_id, 2, TODAY, WEB) is None  # a repeat
    assert subscription(factory, list_id, ada).paused_until == until
    with pytest.raises(ValueError, match="1, 2, 4 weeks, not 3"):
        run(factory, preferences.pause, ada, list_id, 3, TODAY, WEB)
    assert run(factory, preferences.resume, ada, list_id, TODAY, WEB)
    assert not run(factory, preferences.resume, ada, list_id, TODAY, WEB)
    assert subscription(factory, list_id, ada).paused_until is None
    # a pause whose end has come is over: nothing to resume
    run(factory, preferences.pause, ada, list_id, 1, TODAY, WEB)
    assert not run(factory, preferences.resume, ada, list_id, TODAY + dt.timedelta(weeks=1), WEB)
    assert [action for action, _ in events(factory, ada)] == ["pause", "resume", "pause"]
    assert events(factory, ada)[0][1] == "until 2026-12-04 (2 weeks)"


@both
def test_pause_and_cadence_apply_to_confirmed_subscriptions_only(factory, people):
    list_id, ada = people
    with transaction(factory) as session:
        lifecycle.unsubscribe(session, ada, [list_id], WEB)
    digest = dataclasses.replace(
        load_list(REPO / "lists", "ai-morning-post"), digest=DigestSettings(enabled=True)
    )
    assert run(factory, preferences.pause, ada, list_id, 1, TODAY, WEB) is None
    assert not run(factory, preferences.set_cadence, ada, list_id, digest, Cadence.WEEKLY, WEB)
    assert events(factory, ada) == [("unsubscribe", None)]


@both
def test_weekly_is_offered_only_where_the_list_has_a_digest(factory, people):
    list_id, ada = people
    plain = load_list(REPO / "lists", "ai-morning-post")
    digest = dataclasses.replace(plain, digest=DigestSettings(enabled=True))
    assert preferences.cadences(plain) == (Cadence.DAILY,)
    assert preferences.cadences(digest) == (Cadence.DAILY, Cadence.WEEKLY)
    with pytest.raises(ValueError, match="offers daily, not weekly"):
        run(factory, preferences.set_cadence, ada, list_id, plain, Cadence.WEEKLY, WEB)
    assert run(factory, preferences.set_cadence, ada, list_id, digest, Cadence.WEEKLY, WEB)
    assert not run(factory, preferences.set_cadence, ada, list_id, digest, Cadence.WEEKLY, WEB)
    assert subscription(factory, list_id, ada).cadence == Cadence.WEEKLY
    # back to daily even where the digest was switched off since
    assert run(factory, preferences.set_cadence, ada, list_id, plain, Cadence.DAILY, WEB)
    assert events(factory, ada) == [("cadence", "weekly"), ("cadence", "daily")]


def test_today_is_the_lists_own_date():
    plain = load_list(REPO / "lists", "ai-morning-post")
    late = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.UTC)
    assert preferences.local_today(plain, late) == dt.date(2026, 11, 20)
    tokyo = dataclasses.replace(plain, schedule=Schedule(time=dt.time(6), timezone="Asia/Tokyo"))
    assert preferences.local_today(tokyo, late) == dt.date(2026, 11, 21)


def request(factory, ada, list_id, address) -> preferences.AddressRequest:
    return run(factory, preferences.request_address_change, ada, list_id, address, WEB)


def apply(factory, token: AddressToken, list_id) -> AddressOutcome:
    return run(factory, preferences.apply_address_change, token, list_id, WEB)


def address_of(factory, subscriber_id: int) -> str:
    with factory() as session:
        return session.get(Subscriber, subscriber_id).email


@both
def test_an_address_changes_only_when_the_new_one_confirms(factory, people):
    list_id, ada = people
    asked = request(factory, ada, list_id, "ada@new.example")
    assert asked.outcome == AddressOutcome.REQUESTED and asked.request_id
    assert address_of(factory, ada) == ADA  # the old address keeps getting mail
    token = AddressToken(ada, "ai-morning-post", "ada@new.example", asked.request_id)
    assert apply(factory, token, list_id) == AddressOutcome.CHANGED
    assert address_of(factory, ada) == "ada@new.example"
    assert apply(factory, token, list_id) == AddressOutcome.DONE_BEFORE  # the button again
    assert events(factory, ada) == [
        ("address-request", "new address: ada@new.example"),
        ("address-change", f"{ADA} -> ada@new.example"),
    ]
    with factory() as session:  # found by the new address, in any case, from now on
        assert lifecycle.history(session, "ADA@new.example").subscriber_id == ada
    assert request(factory, ada, list_id, "Ada@New.example").outcome == AddressOutcome.SAME


@both
def test_only_the_newest_request_applies(factory, people):
    list_id, ada = people
    first = request(factory, ada, list_id, "ada@first.example")
    second = request(factory, ada, list_id, "ada@second.example")
    old = AddressToken(ada, "ai-morning-post", "ada@first.example", first.request_id)
    new = AddressToken(ada, "ai-morning-post", "ada@second.example", second.request_id)
    assert apply(factory, old, list_id) == AddressOutcome.SUPERSEDED
    assert apply(factory, new, list_id) == AddressOutcome.CHANGED
    assert apply(factory, old, list_id) == AddressOutcome.SUPERSEDED
    assert address_of(factory, ada) == "ada@second.example"


@both
def test_never_onto_another_subscribers_or_a_suppressed_address(factory, people):
    list_id, ada = people
    taken = request(factory, ada, list_id, GRACE.upper())
    assert taken.outcome == AddressOutcome.REQUESTED  # the page does not tell who is subscribed
    token = AddressToken(ada, "ai-morning-post", GRACE.upper(), taken.request_id)
    assert apply(factory, token, list_id) == AddressOutcome.TAKEN
    with transaction(factory) as session:
        suppress(session, "gone@example.com", SuppressionReason.HARD_BOUNCE)
    blocked = request(factory, ada, list_id, "gone@example.com")
    assert blocked.outcome == AddressOutcome.NOT_MAILED
    token = AddressToken(ada, "ai-morning-post", "gone@example.com", blocked.request_id)
    assert apply(factory, token, list_id) == AddressOutcome.SUPPRESSED
    # suppressed after the request was mailed: refused at the button too
    later = request(factory, ada, list_id, "later@example.com")
    with transaction(factory) as session:
        suppress(session, "later@example.com", SuppressionReason.COMPLAINT)
    token = AddressToken(ada, "ai-morning-post", "later@example.com", later.request_id)
    assert apply(factory, token, list_id) == AddressOutcome.SUPPRESSED
    assert address_of(factory, ada) == ADA


@both
def test_an_erased_person_changes_nothing(factory, people):
    list_id, ada = people
    asked = request(factory, ada, list_id, "ada@new.example")
    with transaction(factory) as session:
        lifecycle.erase(session, ADA)
    token = AddressToken(ada, "ai-morning-post", "ada@new.example", asked.request_id)
    assert apply(factory, token, list_id) == AddressOutcome.GONE
    assert request(factory, ada, list_id, "ada@other.example").outcome == AddressOutcome.GONE
    assert not run(factory, preferences.change_name, ada, list_id, "Someone", WEB)
    with factory() as session:
        person = session.get(Subscriber, ada)
        assert person.email is None and person.name == ""


@both
def test_concurrent_confirmations_change_the_address_once(factory, people):
    list_id, ada = people
    asked = request(factory, ada, list_id, "ada@new.example")
    token = AddressToken(ada, "ai-morning-post", "ada@new.example", asked.request_id)
    outcomes: list[AddressOutcome] = []
    start = threading.Barrier(6)

    def confirm() -> None:
        start.wait()
        outcomes.append(apply(factory, token, list_id))

    threads = [threading.Thread(target=confirm) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == sorted([AddressOutcome.CHANGED] + [AddressOutcome.DONE_BEFORE] * 5)
    assert [action for action, _ in events(factory, ada)] == ["address-request", "address-change"]
