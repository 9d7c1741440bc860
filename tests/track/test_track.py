"""record_events on a migrated database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json

from mailer.content.lists import BouncePolicy
from mailer.send.ledger import still_eligible
from mailer.store.db import transaction
from mailer.track.record import TrackResult, load_policies, record_events
from mailer.track.ses_events import parse_ses_message
from tests.track.conftest import LEDGER, MAIN_LIST, OTHER_LIST
from tests.track.dbview import (
    consent,
    delivery,
    events,
    states,
    subscription_statuses,
    suppressions,
)
from tests.track.payloads import M_ALICE, M_FRANK, M_GRACE, data, text, transient_bounce

INITIAL = {d: s for d, _, s, _ in LEDGER}


def record(factory, message: str, sns_id: str | None = "sns-1", policies=None) -> TrackResult:
    with transaction(factory) as session:
        return record_events(session, parse_ses_message(message, sns_id), policies)


def changed(factory) -> dict[int, str]:
    return {d: s for d, s in states(factory).items() if INITIAL[d] != s}


def test_delivery_marks_the_ledger_and_is_stored_with_raw_payload(factory):
    result = record(factory, text("identity_delivery.json"))
    assert (result.recorded, result.deliveries_updated, result.uncorrelated) == (1, 1, 0)
    assert changed(factory) == {1: "delivered"}
    [event] = events(factory)
    assert (event.event_type, event.recipient, event.delivery_id, event.ses_message_id) == (
        "delivery",
        "alice@example.com",
        1,
        M_ALICE,
    )
    assert json.loads(event.raw)["delivery"]["smtpResponse"].startswith("250")
    assert suppressions(factory) == {}


def test_the_same_notification_twice_changes_nothing_the_second_time(factory):
    first = record(factory, text("identity_complaint_with_type.json"), "sns-dup")
    snapshot = (states(factory), suppressions(factory), consent(factory), len(events(factory)))
    again = record(factory, text("identity_complaint_with_type.json"), "sns-dup")
    assert (first.recorded, again.recorded, again.duplicates) == (1, 0, 1)
    assert again.suppressed == [] and again.unsubscribed == []
    assert (
        states(factory),
        suppressions(factory),
        consent(factory),
        len(events(factory)),
    ) == snapshot


def test_multi_recipient_permanent_bounce_suppresses_every_address(factory):
    result = record(factory, text("identity_bounce_permanent_multi.json"))
    assert changed(factory) == {2: "bounced", 3: "bounced"}
    assert suppressions(factory) == {
        "bob@example.org": "hard-bounce",
        "carol@example.net": "hard-bounce",
    }
    assert sorted(result.suppressed) == ["bob@example.org", "carol@example.net"]
    assert "550 5.1.1 user unknown" in delivery(factory, 2).last_error
    assert {e.delivery_id for e in events(factory)} == {2, 3}
    with factory() as session:  # the next send's audience leaves them out
        assert still_eligible(session, MAIN_LIST, [1, 2, 3]) == {1}


def test_transient_bounces_suppress_after_the_limit_within_the_window(factory):
    record(factory, text("identity_bounce_transient.json"))
    assert changed(factory) == {5: "bounced"}
    assert suppressions(factory) == {}
    record(factory, transient_bounce(2, "2026-11-29T09:00:00.000Z"))
    assert suppressions(factory) == {}
    result = record(factory, transient_bounce(3, "2026-12-05T09:00:00.000Z"))
    assert suppressions(factory) == {"erin@example.com": "soft-bounce"}
    assert result.suppressed == ["erin@example.com"]


def test_old_transient_bounces_decay(factory):
    record(factory, transient_bounce(1, "2026-09-01T09:00:00.000Z"))
    record(
        factory, transient_bounce(2, "2026-10-11T09:00:00.000Z")
    )  # day 40: the first has decayed
    record(factory, transient_bounce(3, "2026-10-16T09:00:00.000Z"))  # 2 within 30 days
    assert suppressions(factory) == {}
    record(factory, transient_bounce(4, "2026-10-21T09:00:00.000Z"))  # 3 within 30 days
    assert suppressions(factory) == {"erin@example.com": "soft-bounce"}


def test_a_duplicate_transient_bounce_does_not_count_twice(factory):
    for _ in range(3):
        record(factory, transient_bounce(2, "2026-11-29T09:00:00.000Z"))
    assert suppressions(factory) == {}


def test_soft_bounce_policy_comes_from_the_list_of_the_send(factory):
    strict = {
        MAIN_LIST: BouncePolicy(soft_bounce_limit=1),
        OTHER_LIST: BouncePolicy(soft_bounce_limit=9),
    }
    record(factory, text("identity_bounce_transient.json"), policies=strict)
    assert suppressions(factory) == {"erin@example.com": "soft-bounce"}


def test_load_policies_maps_database_ids_by_slug(factory):
    class ListDef:
        def __init__(self, slug, limit):
            self.slug, self.bounce_policy = slug, BouncePolicy(soft_bounce_limit=limit)

    with factory() as session:
        policies = load_policies(session, [ListDef("ai-morning-post", 5), ListDef("not-in-db", 7)])
    assert policies == {MAIN_LIST: BouncePolicy(soft_bounce_limit=5)}


def test_complaint_unsubscribes_from_every_list_and_suppresses(factory):
    result = record(factory, text("identity_complaint_with_type.json"))
    assert changed(factory) == {4: "complained"}
    assert subscription_statuses(factory, 4) == {
        MAIN_LIST: "unsubscribed",
        OTHER_LIST: "unsubscribed",
    }
    assert consent(factory) == [
        (4, MAIN_LIST, "unsubscribe", "complaint"),
        (4, OTHER_LIST, "unsubscribe", "complaint"),
    ]
    assert suppressions(factory) == {"dave@example.com": "complaint"}
    assert result.unsubscribed == [4]
    with factory() as session:
        assert still_eligible(session, MAIN_LIST, [1, 4]) == {1}
    assert subscription_statuses(factory, 1) == {MAIN_LIST: "confirmed", OTHER_LIST: "confirmed"}


def test_complaint_without_feedback_type(factory):
    record(factory, text("identity_delivery.json"))
    record(factory, text("identity_complaint_without_type.json"))
    assert changed(factory) == {1: "complained"}
    assert subscription_statuses(factory, 1) == {
        MAIN_LIST: "unsubscribed",
        OTHER_LIST: "unsubscribed",
    }
    assert suppressions(factory) == {"alice@example.com": "complaint"}


def test_uncorrelated_complaint_still_unsubscribes_the_address(factory):
    payload = data("identity_complaint_without_type.json")
    payload["mail"]["messageId"] = "not-in-the-ledger"
    result = record(factory, json.dumps(payload))
    assert result.uncorrelated == 1 and changed(factory) == {}
    assert subscription_statuses(factory, 1) == {
        MAIN_LIST: "unsubscribed",
        OTHER_LIST: "unsubscribed",
    }
    assert suppressions(factory) == {"alice@example.com": "complaint"}


def test_send_event_settles_unknown_by_delivery_id_tag_then_delivery_follows(factory):
    result = record(factory, text("event_send.json"))
    assert result.deliveries_updated == 1
    row = delivery(factory, 6)
    assert (row.state, row.provider_message_id) == ("sent", M_FRANK)
    assert row.sent_at is not None
    record(factory, text("event_delivery.json"))
    assert changed(factory) == {6: "delivered"}


def test_send_event_does_not_move_other_states(factory):
    payload = data("event_send.json")
    payload["mail"]["messageId"] = M_ALICE
    payload["mail"]["destination"] = ["alice@example.com"]
    record(factory, json.dumps(payload))
    assert changed(factory) == {}


def test_event_publishing_bounce_complaint_and_reject(factory):
    record(factory, text("event_bounce_permanent.json"))
    record(factory, text("event_complaint.json"))
    record(factory, text("event_reject.json"))
    assert changed(factory) == {7: "bounced", 8: "complained", 9: "failed"}
    assert suppressions(factory) == {
        "grace@example.com": "hard-bounce",
        "heidi@example.com": "complaint",
    }
    assert delivery(factory, 9).last_error == "reject: Bad content"
    assert subscription_statuses(factory, 8) == {MAIN_LIST: "unsubscribed"}


def test_a_late_delivery_does_not_undo_a_bounce(factory):
    record(factory, text("event_bounce_permanent.json"))
    payload = data("event_delivery.json")
    payload["mail"]["messageId"] = M_GRACE
    payload["delivery"]["recipients"] = ["grace@example.com"]
    result = record(factory, json.dumps(payload))
    assert result.recorded == 1 and result.deliveries_updated == 0
    assert changed(factory) == {7: "bounced"}


def test_a_contradicted_tag_is_not_trusted(factory):
    payload = data("event_delivery.json")
    payload["mail"]["tags"]["delivery_id"] = ["1"]  # alice's row has another SES message id
    payload["delivery"]["recipients"] = ["alice@example.com"]
    result = record(factory, json.dumps(payload))
    assert result.uncorrelated == 1 and changed(factory) == {}


def test_delivery_delay_and_rendering_failure_are_stored_without_effects(factory):
    delay = record(factory, text("event_delivery_delay.json"))
    failure = record(factory, text("event_rendering_failure.json"))
    assert (delay.recorded, delay.deliveries_updated, failure.uncorrelated) == (1, 0, 1)
    assert changed(factory) == {} and suppressions(factory) == {}
    assert [e.event_type for e in events(factory)] == ["delivery_delay", "rendering_failure"]
    assert events(factory)[0].delivery_id == 5


def test_validation_message_records_nothing(factory):
    result = record(factory, text("validation.txt"))
    assert result == TrackResult()
    assert events(factory) == []


def test_an_address_already_suppressed_is_not_reported_again(factory):
    record(factory, text("identity_complaint_with_type.json"))
    payload = data("identity_bounce_transient.json")
    payload["bounce"].update(bounceType="Permanent", bounceSubType="General")
    payload["bounce"]["bouncedRecipients"][0]["emailAddress"] = "dave@example.com"
    payload["mail"]["messageId"] = "another-message"
    result = record(factory, json.dumps(payload))
    assert (result.recorded, result.suppressed) == (1, [])
    assert suppressions(factory) == {"dave@example.com": "complaint"}
