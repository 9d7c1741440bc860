"""Parsing SES notifications (both formats) into per-recipient events."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mailer.errors import MailerError
from mailer.track.ses_events import EventParseError, SesEvent, parse_ses_message
from tests.track.payloads import (
    M_ALICE,
    M_DAVE,
    M_ERIN,
    M_FRANK,
    M_GRACE,
    M_IVAN,
    M_MULTI,
    data,
    text,
)


def parse(name: str, sns_id: str | None = "sns-1") -> list[SesEvent]:
    return parse_ses_message(text(name), sns_id)


def test_identity_permanent_bounce_has_one_event_per_recipient():
    events = parse("identity_bounce_permanent_multi.json")
    assert [e.recipient for e in events] == ["bob@example.org", "carol@example.net"]
    for event in events:
        assert event.event_type == "bounce"
        assert event.ses_message_id == M_MULTI
        assert (event.bounce_type, event.bounce_subtype) == ("Permanent", "General")
        assert event.feedback_id == "0100019aa1b2c3e0-6a1b2c3d-0f1e-4a2b-9c8d-7e6f5a4b3c2d-000000"
        assert event.occurred_at == dt.datetime(2026, 11, 22, 7, 1, 15, tzinfo=dt.UTC)
        assert event.sns_message_id == "sns-1"
        assert event.delivery_id is None  # identity notifications carry no tags
        assert json.loads(event.raw)["notificationType"] == "Bounce"
    assert events[0].detail == "smtp; 550 5.1.1 user unknown"
    assert len({e.dedup_key for e in events}) == 2


def test_transient_bounce():
    [event] = parse("identity_bounce_transient.json")
    assert (event.event_type, event.recipient, event.ses_message_id) == (
        "bounce",
        "erin@example.com",
        M_ERIN,
    )
    assert (event.bounce_type, event.bounce_subtype) == ("Transient", "MailboxFull")


def test_complaint_with_feedback_type():
    [event] = parse("identity_complaint_with_type.json")
    assert (event.event_type, event.recipient, event.ses_message_id) == (
        "complaint",
        "dave@example.com",
        M_DAVE,
    )
    assert event.complaint_feedback_type == "abuse"
    assert event.occurred_at == dt.datetime(2026, 11, 22, 8, 12, 3, tzinfo=dt.UTC)


def test_complaint_without_feedback_type():
    [event] = parse("identity_complaint_without_type.json")
    assert (event.event_type, event.recipient, event.ses_message_id) == (
        "complaint",
        "alice@example.com",
        M_ALICE,
    )
    assert event.complaint_feedback_type is None


def test_identity_delivery():
    [event] = parse("identity_delivery.json")
    assert (event.event_type, event.recipient, event.ses_message_id) == (
        "delivery",
        "alice@example.com",
        M_ALICE,
    )
    assert event.detail.startswith("250 2.0.0 OK")


def test_event_publishing_send_carries_delivery_and_send_tags():
    [event] = parse("event_send.json")
    assert (event.event_type, event.recipient, event.ses_message_id) == (
        "send",
        "frank@example.com",
        M_FRANK,
    )
    assert (event.delivery_id, event.send_id) == (6, 1)
    assert event.occurred_at == dt.datetime(2026, 11, 22, 7, 1, 4, tzinfo=dt.UTC)


def test_event_publishing_delivery_bounce_complaint_reject():
    [delivery] = parse("event_delivery.json")
    assert (delivery.event_type, delivery.delivery_id) == ("delivery", 6)
    [bounce] = parse("event_bounce_permanent.json")
    assert (
        bounce.event_type,
        bounce.bounce_type,
        bounce.bounce_subtype,
        bounce.ses_message_id,
        bounce.delivery_id,
    ) == ("bounce", "Permanent", "NoEmail", M_GRACE, 7)
    [complaint] = parse("event_complaint.json")
    assert (complaint.event_type, complaint.recipient, complaint.delivery_id) == (
        "complaint",
        "heidi@example.com",
        8,
    )
    [reject] = parse("event_reject.json")
    assert (reject.event_type, reject.ses_message_id, reject.detail, reject.delivery_id) == (
        "reject",
        M_IVAN,
        "Bad content",
        9,
    )


def test_delivery_delay_and_rendering_failure():
    [delay] = parse("event_delivery_delay.json")
    assert (delay.event_type, delay.recipient, delay.detail) == (
        "delivery_delay",
        "erin@example.com",
        "smtp; 452 4.2.2 mailbox full",
    )
    [failure] = parse("event_rendering_failure.json")
    assert (failure.event_type, failure.recipient, failure.delivery_id) == (
        "rendering_failure",
        "judy@example.com",
        None,
    )
    assert "rendering data" in failure.detail


@pytest.mark.parametrize("name", ["validation.txt", "identity_subscription_succeeded.json"])
def test_setup_messages_are_ignored(name):
    assert parse(name) == []


def test_validation_text_with_surrounding_whitespace_is_ignored():
    assert parse_ses_message("\n" + text("validation.txt") + "\n", None) == []


def test_the_same_notification_twice_has_the_same_dedup_keys():
    first = parse("identity_bounce_permanent_multi.json", "sns-1")
    again = parse("identity_bounce_permanent_multi.json", "sns-1")
    assert [e.dedup_key for e in first] == [e.dedup_key for e in again]


def test_bounce_published_in_both_formats_collapses_by_feedback_id():
    identity = data("identity_bounce_permanent_multi.json")
    published = dict(identity, eventType="Bounce")
    del published["notificationType"]
    a = parse_ses_message(json.dumps(identity), "sns-a")
    b = parse_ses_message(json.dumps(published), "sns-b")
    assert [e.dedup_key for e in a] == [e.dedup_key for e in b]


def test_delivery_dedup_is_per_message_and_recipient_not_per_sns_message():
    a = parse("identity_delivery.json", "sns-a")
    b = parse("identity_delivery.json", "sns-b")
    assert a[0].dedup_key == b[0].dedup_key == f"delivery:{M_ALICE}:alice@example.com"


def test_distinct_delays_are_distinct_events():
    payload = data("event_delivery_delay.json")
    first = parse_ses_message(json.dumps(payload), None)
    payload["deliveryDelay"]["timestamp"] = "2026-11-22T08:31:02.000Z"
    second = parse_ses_message(json.dumps(payload), None)
    assert first[0].dedup_key != second[0].dedup_key


def test_unknown_fields_are_ignored():
    payload = data("event_delivery.json")
    payload["somethingNew"] = {"x": 1}
    payload["delivery"]["newField"] = True
    [event] = parse_ses_message(json.dumps(payload), None)
    assert event.event_type == "delivery"


def test_unknown_bounce_type_is_undetermined():
    payload = data("identity_bounce_transient.json")
    payload["bounce"]["bounceType"] = "Sideways"
    [event] = parse_ses_message(json.dumps(payload), None)
    assert event.bounce_type == "Undetermined"


def test_open_and_click_are_recorded_by_type():
    payload = data("event_send.json")
    payload["eventType"] = "Open"
    payload["open"] = {
        "timestamp": "2026-11-22T08:00:00.000Z",
        "userAgent": "x",
        "ipAddress": "192.0.2.1",
    }
    [event] = parse_ses_message(json.dumps(payload), "sns-open")
    assert (event.event_type, event.recipient, event.dedup_key) == (
        "open",
        "frank@example.com",
        "open:sns-open:frank@example.com",
    )


def test_very_long_keys_are_hashed_to_fit():
    payload = data("identity_bounce_transient.json")
    payload["bounce"]["bouncedRecipients"][0]["emailAddress"] = "x" * 300 + "@example.com"
    [event] = parse_ses_message(json.dumps(payload), None)
    assert len(event.dedup_key) <= 300 and event.dedup_key.startswith("bounce:sha256:")


@pytest.mark.parametrize(
    "message",
    [
        "",
        "not json",
        "[]",
        "42",
        "{}",
        '{"eventType": "Bounce"}',
        '{"eventType": "Bounce", "mail": {"messageId": "m"}}',
        '{"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": {"bouncedRecipients": "x"}}',
        '{"notificationType": "Delivery", "mail": {"destination": []}, "delivery": {}}',
        '{"eventType": 7, "mail": {"messageId": "m"}}',
    ],
)
def test_unparseable_messages_raise(message):
    with pytest.raises(EventParseError) as info:
        parse_ses_message(message, None)
    assert isinstance(info.value, MailerError)
