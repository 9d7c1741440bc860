"""Recording a received batch (or a group of them) in one transaction, as `apply_notifications`
does for the poller, leaves the same rows as recording the same notifications one by one, each in
its own transaction: a mixed batch with duplicates (within the batch and of an event stored
before), unknown message ids, an erased person, a Send that gives a ledger row its message id for
the next event, a late Delivery after a Bounce, soft bounces that reach the limit inside the batch,
complaints and unsubscribe request mails in between (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from mailer.audience.lifecycle import erase
from mailer.store.db import make_engine, session_factory, transaction, upgrade
from mailer.store.models import AppMeta, ConsentEvent, Delivery, Event, Subscription, Suppression
from mailer.track.mail_unsubscribe import MailUnsubscriber
from mailer.track.record import (
    TrackResult,
    apply_notifications,
    read_notification,
    record_notification,
)
from tests.conftest import SECRET, fresh_database
from tests.track.conftest import seed
from tests.track.payloads import M_MULTI, data, text, transient_bounce
from tests.track.test_mail_unsubscribe import received, request_mail, token
from tests.track.test_poll_batches import delivery_for

SALT = "5a17" * 8  # the same in both databases, so that suppression hashes compare


def late_delivery_to_bob() -> str:
    """A Delivery for bob's message, arriving after its Bounce: the ledger does not go back."""
    payload = data("identity_delivery.json")
    payload["mail"]["messageId"] = M_MULTI
    payload["mail"]["destination"] = ["bob@example.org"]
    payload["delivery"]["recipients"] = ["bob@example.org"]
    return json.dumps(payload)


def mail_from(subscriber_id: int) -> str:
    return received(request_mail(f"unsubscribe {token(subscriber_id)}"))


STORED_BEFORE = [(text("identity_delivery.json"), "sns-1")]
BATCH = [
    (text("identity_delivery.json"), "sns-1"),  # stored before the batch: a duplicate
    (text("event_send.json"), "sns-2"),  # settles frank's unknown row by its tag, sets its id
    (text("event_delivery.json"), "sns-3"),  # frank again: found by the id the Send gave it
    (text("identity_bounce_permanent_multi.json"), "sns-4"),  # bob and carol
    (late_delivery_to_bob(), "sns-5"),  # bob stays bounced
    (text("identity_bounce_permanent_multi.json"), "sns-4"),  # a duplicate inside the batch
    (text("identity_bounce_transient.json"), "sns-6"),  # erin's soft bounces: 1 ...
    (transient_bounce(2, "2026-11-29T09:00:00.000Z"), "sns-7"),  # 2 ...
    (transient_bounce(3, "2026-12-05T09:00:00.000Z"), "sns-8"),  # 3: the limit, suppressed here
    (transient_bounce(4, "2026-12-06T09:00:00.000Z"), "sns-9"),  # already suppressed
    (transient_bounce(2, "2026-11-29T09:00:00.000Z"), "sns-7"),  # counted once
    (mail_from(4), None),  # dave asks to leave the main list by mail ...
    (text("identity_complaint_with_type.json"), "sns-10"),  # ... then complains: the other list
    (text("event_complaint.json"), "sns-11"),  # heidi complains ...
    (mail_from(8), None),  # ... then asks by mail: already gone
    (delivery_for(1), "sns-12"),  # no ledger row has its message id
    (text("event_bounce_permanent.json"), "sns-13"),  # grace, erased before the batch
    (text("event_reject.json"), "sns-14"),
    (text("identity_complaint_without_type.json"), "sns-15"),  # alice, after her delivery
    (delivery_for(1), "sns-12"),
]


@pytest.fixture
def two_databases(database_url, tmp_path):
    """Two seeded databases of the same kind with the same salt, grace erased in both."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    (tmp_path / "b").mkdir()
    with fresh_database(kind, tmp_path / "b") as other_url:
        engines = [make_engine(url) for url in (database_url, other_url)]
        factories = []
        for engine in engines:
            upgrade(engine)
            factory = session_factory(engine)
            with transaction(factory) as session:
                session.add(AppMeta(key="suppression_salt", value=SALT))
                seed(session)
            with transaction(factory) as session:
                erase(session, "grace@example.com")
                for message, sns_id in STORED_BEFORE:
                    record_notification(session, message, sns_id, None, None)
            factories.append(factory)
        try:
            yield factories
        finally:
            for engine in engines:
                engine.dispose()


def snapshot(factory) -> dict[str, list[tuple]]:
    """Every row recording can write, without ids and the clock's timestamps."""
    with factory() as s:
        return {
            "events": [
                tuple(r)
                for r in s.execute(
                    select(
                        Event.dedup_key,
                        Event.sns_message_id,
                        Event.ses_message_id,
                        Event.event_type,
                        Event.recipient,
                        Event.bounce_type,
                        Event.bounce_subtype,
                        Event.delivery_id,
                        Event.occurred_at,
                        Event.raw,
                    ).order_by(Event.id)
                )
            ],
            "deliveries": [
                tuple(r)
                for r in s.execute(
                    select(
                        Delivery.id,
                        Delivery.email,
                        Delivery.state,
                        Delivery.provider_message_id,
                        Delivery.sent_at,
                        Delivery.last_error,
                    ).order_by(Delivery.id)
                )
            ],
            "suppressions": sorted(
                tuple(r)
                for r in s.execute(
                    select(
                        Suppression.email_hash,
                        Suppression.email,
                        Suppression.reason,
                        Suppression.detail,
                    )
                )
            ),
            "subscriptions": sorted(
                (r.subscriber_id, r.list_id, r.status, r.unsubscribed_at is not None)
                for r in s.execute(select(Subscription)).scalars().all()
            ),
            "consent": sorted(
                tuple(r)
                for r in s.execute(
                    select(
                        ConsentEvent.subscriber_id,
                        ConsentEvent.list_id,
                        ConsentEvent.action,
                        ConsentEvent.source,
                        ConsentEvent.detail,
                    )
                )
            ),
        }


def counts(result: TrackResult) -> dict:
    return {
        "received": result.received,
        "recorded": result.recorded,
        "duplicates": result.duplicates,
        "uncorrelated": result.uncorrelated,
        "deliveries_updated": result.deliveries_updated,
        "suppressed": sorted(result.suppressed),
        "unsubscribed": sorted(result.unsubscribed),
        "mail_unsubscribed": result.mail_unsubscribed,
        "mail_ignored": result.mail_ignored,
    }


def test_a_batch_in_one_transaction_leaves_the_rows_of_one_by_one(two_databases):
    batched, one_by_one = two_databases
    inbound = MailUnsubscriber(SECRET)

    with transaction(batched) as session:
        notifications = [read_notification(m, sns_id) for m, sns_id in BATCH]
        together = apply_notifications(session, notifications, None, inbound)
    alone = TrackResult()
    for message, sns_id in BATCH:
        with transaction(one_by_one) as session:
            alone.merge(record_notification(session, message, sns_id, None, inbound))

    assert snapshot(batched) == snapshot(one_by_one)
    assert counts(together) == counts(alone)
    # ... and what they agree on is what the batch should do
    assert counts(together) == {
        "received": 20,
        "recorded": 15,
        "duplicates": 5,  # sns-1 (stored before), sns-4 (two recipients), sns-7, sns-12
        "uncorrelated": 4,  # three transient bounces and the unknown delivery
        "deliveries_updated": 10,
        "suppressed": sorted(
            [
                "alice@example.com",
                "bob@example.org",
                "carol@example.net",
                "dave@example.com",
                "erin@example.com",
                "heidi@example.com",
            ]
        ),
        "unsubscribed": [1, 4, 8],
        "mail_unsubscribed": 1,
        "mail_ignored": 1,
    }
    rows = snapshot(batched)
    states = {d[0]: d[2] for d in rows["deliveries"]}
    assert states == {
        1: "complained",
        2: "bounced",
        3: "bounced",
        4: "complained",
        5: "bounced",
        6: "delivered",
        7: "bounced",
        8: "complained",
        9: "failed",
    }
    [erin] = [s for s in rows["suppressions"] if s[1] == "erin@example.com"]
    # suppressed at the third bounce, counting none of the batch's later ones
    assert erin[2] == "soft-bounce" and erin[3].startswith("3 soft bounces within 30 days")
    grace = [e for e in rows["events"] if e[7] == 7]
    assert grace and all(e[4] is None and e[9] == '{"erased": true}' for e in grace)
