"""The pipeline against a ledger in memory and against the real one (SQLite, PostgreSQL): the same
script of transport answers ends in the same rows, whichever ledger records them."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update

from mailer.audience.importing.importer import ImportRow, import_rows
from mailer.audience.lists import ensure_list
from mailer.config import Settings
from mailer.content.load import load_issue_for
from mailer.errors import OutcomeUnknownError, PermanentError, RetryableError
from mailer.send.campaign import plan_issue
from mailer.send.ledger import ClaimedDelivery, Ledger
from mailer.send.pacing import TokenBucket
from mailer.send.pipeline import Pipeline, SendLedger
from mailer.store.db import make_engine, session_factory, transaction, upgrade
from mailer.store.models import (
    Delivery,
    DeliveryState,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.transports.base import AccountLimits, OutgoingMessage
from tests.conftest import DB_KINDS, REPO, SECRET, fresh_database
from tests.send.conftest import ISSUE, LIST
from tests.send.memory_ledger import MemoryLedger

READERS = [f"a{n}@example.com" for n in range(6)]
SCRIPTED = [
    *READERS,
    "bad@example.com",
    "flaky@example.com",
    "lost@example.com",
    "gone@example.com",
]
GONE = ("gone@example.com",)  # unsubscribes after planning


class ScriptedTransport:
    """Answers by the address's local part: bad is refused, flaky is busy once, lost times out after
    the data; anyone else is sent."""

    name = "scripted"

    def __init__(self):
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> str:
        with self._lock:
            self.calls[message.recipient] += 1
            seen = self.calls[message.recipient]
        local = message.recipient.partition("@")[0]
        if local == "bad":
            raise PermanentError("550 no such user")
        if local == "flaky" and seen == 1:
            raise RetryableError("421 busy", retry_after=0.05)
        if local == "lost":
            raise OutcomeUnknownError("timed out after the final dot")
        return f"id-{message.delivery_id}"

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        return None

    def limits(self) -> AccountLimits | None:
        return None

    def describe(self, batch: str) -> str:
        return "scripted"

    def close(self) -> None:
        pass


@dataclass
class World:
    """A planned send and the ledger that holds it; `rows()` is {email: (state, attempts)}."""

    ledger: SendLedger
    send_id: int
    list_id: int
    rows: Callable[[], dict[str, tuple[str, int]]]


def memory_world(emails: list[str], gone: tuple[str, ...]) -> World:
    ledger = MemoryLedger(emails, ineligible=gone)

    def rows() -> dict[str, tuple[str, int]]:
        return {r.email: (r.state, r.attempts) for r in ledger.rows.values()}

    return World(ledger, 1, 1, rows)


@contextmanager
def database_world(kind: str, tmp_path, emails: list[str], gone: tuple[str, ...]):
    with fresh_database(kind, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        factory = session_factory(engine)
        settings = Settings(
            database_url=url,
            secret_key=SECRET,
            base_url="https://news.example",
            issues_path=(REPO / "issues",),
            lists_dir=REPO / "lists",
        )
        with transaction(factory) as session:
            list_id = ensure_list(session, LIST)
        rows = [ImportRow(n + 2, email, "", "confirmed") for n, email in enumerate(emails)]
        import_rows(factory, list_id, rows, [], source="test")
        _, planned = plan_issue(factory, settings, LIST, load_issue_for(settings, LIST, ISSUE))
        with transaction(factory) as session:
            leaving = select(Subscriber.id).where(Subscriber.email.in_(gone))
            session.execute(
                update(Subscription)
                .where(Subscription.subscriber_id.in_(leaving))
                .values(status=SubscriptionStatus.UNSUBSCRIBED)
            )

        def ledger_rows() -> dict[str, tuple[str, int]]:
            with factory() as session:
                return {r.email: (r.state, r.attempts) for r in session.scalars(select(Delivery))}

        try:
            yield World(Ledger(factory), planned.send_id, list_id, ledger_rows)
        finally:
            engine.dispose()


@pytest.fixture(params=["memory", *DB_KINDS])
def make_world(request, tmp_path):
    """make_world(emails, gone) -> World, with the ledger this test run is given."""
    with_database = []

    def make(emails: list[str], gone: tuple[str, ...] = ()) -> World:
        if request.param == "memory":
            return memory_world(emails, gone)
        context = database_world(request.param, tmp_path, emails, gone)
        with_database.append(context)
        return context.__enter__()

    yield make
    for context in with_database:
        context.__exit__(None, None, None)


def pipeline(world: World, transport: ScriptedTransport, **kwargs) -> Pipeline:
    def build(claim: ClaimedDelivery) -> OutgoingMessage:
        return OutgoingMessage(
            delivery_id=claim.id,
            send_id=world.send_id,
            recipient=claim.email,
            raw=b"Subject: test\r\n\r\nhello\r\n",
            batch="test/1",
        )

    return Pipeline(
        world.ledger,
        transport,
        send_id=world.send_id,
        list_id=world.list_id,
        worker="test-host:1:abcdef",
        bucket=TokenBucket(1000.0),
        pool_size=4,
        build=build,
        **kwargs,
    )


def test_every_answer_of_the_transport_lands_in_the_ledger(make_world):
    world = make_world(SCRIPTED, GONE)
    transport = ScriptedTransport()
    result = pipeline(world, transport).run(max_retry_wait=5.0)
    rows = world.rows()
    assert {email: state for email, (state, _) in rows.items()} == {
        **{email: DeliveryState.SENT for email in READERS},
        "bad@example.com": DeliveryState.FAILED,
        "flaky@example.com": DeliveryState.SENT,
        "lost@example.com": DeliveryState.UNKNOWN,
        "gone@example.com": DeliveryState.SKIPPED,
    }
    assert rows["flaky@example.com"][1] == 2 and rows["a0@example.com"][1] == 1
    called = {email: 1 for email in SCRIPTED if email not in GONE}
    assert transport.calls == Counter({**called, "flaky@example.com": 2})
    assert result.by_state == {
        DeliveryState.SENT: 7,
        DeliveryState.FAILED: 1,
        DeliveryState.UNKNOWN: 1,
        DeliveryState.SKIPPED: 1,
        DeliveryState.QUEUED: 1,
    }  # the retry's first answer
    assert result.handed_over == 10 and result.pause_reason is None and not result.stopped_by_limit


def test_a_quota_used_up_mid_batch_gives_the_unsent_claims_back(make_world):
    world = make_world(READERS)
    transport = ScriptedTransport()
    result = pipeline(world, transport, limits=AccountLimits(max_24h=3, sent_24h=0)).run()
    assert "quota" in result.pause_reason and result.handed_over == 3
    rows = world.rows()
    sent = [email for email, (state, _) in rows.items() if state == DeliveryState.SENT]
    assert len(sent) == 3 and sorted(transport.calls) == sorted(sent)
    # a claim never handed to the transport is queued again, its attempt not counted
    assert all(rows[email] == (DeliveryState.QUEUED, 0) for email in rows if email not in sent)


def test_a_canary_stops_after_its_limit(make_world):
    world = make_world(READERS)
    result = pipeline(world, ScriptedTransport()).run(limit=2)
    assert result.stopped_by_limit and result.handed_over == 2
    states = Counter(state for state, _ in world.rows().values())
    assert states == {DeliveryState.SENT: 2, DeliveryState.QUEUED: 4}
