"""Faults moto cannot produce, injected by the local SES endpoint; each ends in an asserted
ledger."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from mailer.store.models import Send
from tests.conftest import DB_KINDS
from tests.send import fakeses
from tests.send.conftest import ledger, send, ses_transport

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
ADA = "ada.lovelace@example.com"


def test_throttling_slows_down_requeues_and_everyone_is_sent_once(
    factory, settings, sample_list, fake_ses
):
    fake_ses.faults = lambda address, seen: fakeses.THROTTLE if seen < 2 and address < "e" else None
    summary = send(factory, settings, ses_transport(fake_ses.url))
    assert summary.state == "done" and summary.counts == {"sent": 21}
    rows = ledger(factory)
    assert all(Counter(fake_ses.acknowledged()).get(a) == 1 for a in rows)
    throttled = [r for r in rows.values() if r.email < "e"]
    assert throttled and all(r.attempts == 3 for r in throttled)
    assert all(r.provider_message_id in fake_ses.message_ids() for r in rows.values())


def test_one_rejected_address_fails_only_its_row(factory, settings, sample_list, fake_ses):
    fake_ses.faults = lambda address, seen: fakeses.REJECTED if address == ADA else None
    summary = send(factory, settings, ses_transport(fake_ses.url))
    assert summary.state == "done" and summary.counts == {"sent": 20, "failed": 1}
    row = ledger(factory)[ADA]
    assert (
        row.state == "failed"
        and "MessageRejected" in row.last_error
        and row.provider_message_id is None
    )


@pytest.mark.parametrize(
    "fault, words",
    [(fakeses.DAILY_QUOTA, "Daily message quota"), (fakeses.PAUSED, "SendingPausedException")],
)
def test_quota_or_paused_account_pauses_the_send_and_a_rerun_resumes(
    factory, settings, sample_list, fake_ses, fault, words
):
    fake_ses.faults = lambda address, seen: (
        fault if len(fake_ses.received) >= 5 and seen == 0 else None
    )
    first = send(factory, settings, ses_transport(fake_ses.url), concurrency=1)
    assert first.state == "paused" and words in first.pause_reason and not first.finished
    assert first.counts.get("sent") == 5 and first.counts.get("queued") == 16
    with factory() as session:
        row = session.scalar(select(Send))
        assert row.state == "paused" and words in row.pause_reason
    fake_ses.faults = lambda address, seen: None
    second = send(factory, settings, ses_transport(fake_ses.url))
    assert second.state == "done" and second.counts == {"sent": 21} and second.sent_now == 16
    assert max(fake_ses.acknowledged().values()) == 1


def test_paused_account_is_seen_before_anything_is_sent(factory, settings, sample_list, fake_ses):
    fake_ses.account["SendingEnabled"] = False
    summary = send(factory, settings, ses_transport(fake_ses.url))
    assert summary.state == "paused" and "SendingEnabled=false" in summary.pause_reason
    assert fake_ses.received == [] and summary.counts == {"queued": 21}


def test_daily_quota_is_checked_before_and_while_sending(factory, settings, sample_list, fake_ses):
    fake_ses.account["SendQuota"].update(Max24HourSend=200, SentLast24Hours=192)
    summary = send(factory, settings, ses_transport(fake_ses.url))
    assert summary.state == "paused" and "24-hour sending quota" in summary.pause_reason
    assert summary.counts == {"sent": 8, "queued": 13} and len(fake_ses.received) == 8


def test_account_max_send_rate_caps_the_configured_rate(
    factory, settings, sample_list, fake_ses, monkeypatch
):
    from mailer.send import campaign

    seen = {}
    original = campaign.TokenBucket.__init__

    def spy(self, rate, *args, **kwargs):
        seen["rate"] = rate
        original(self, rate, *args, **kwargs)

    monkeypatch.setattr(campaign.TokenBucket, "__init__", spy)
    fake_ses.account["SendQuota"]["MaxSendRate"] = 40.0
    send(factory, settings, ses_transport(fake_ses.url), rate=1000.0)
    assert seen["rate"] == 40.0


def test_slow_answer_is_an_unknown_outcome_not_a_retry(factory, settings, sample_list, fake_ses):
    fake_ses.faults = lambda address, seen: fakeses.delay(2.0) if address == ADA else None
    summary = send(factory, settings, ses_transport(fake_ses.url, read_timeout=0.5))
    assert summary.counts == {"sent": 20, "unknown": 1} and summary.state == "done"
    row = ledger(factory)[ADA]
    assert row.state == "unknown" and row.attempts == 1 and "Read timeout" in row.last_error
    assert fake_ses.requests(ADA) == 1  # never retried blindly


def test_dropped_connection_is_unknown_and_resend_unknown_sends_it_again(
    factory, settings, sample_list, fake_ses
):
    fake_ses.faults = lambda address, seen: fakeses.DROP if address == ADA and seen == 0 else None
    first = send(factory, settings, ses_transport(fake_ses.url))
    assert first.counts == {"sent": 20, "unknown": 1}
    again = send(factory, settings, ses_transport(fake_ses.url))
    assert again.sent_now == 0 and again.counts == {
        "sent": 20,
        "unknown": 1,
    }  # unknown is not resent by default
    resent = send(factory, settings, ses_transport(fake_ses.url), resend_unknown=True)
    assert resent.sent_now == 1 and resent.counts == {"sent": 21}
    assert ledger(factory)[ADA].attempts == 2


def test_server_errors_are_retried_and_counted(factory, settings, sample_list, fake_ses):
    fake_ses.faults = lambda address, seen: (
        fakeses.error(500, "InternalFailure", "oops") if address == ADA and seen == 0 else None
    )
    summary = send(factory, settings, ses_transport(fake_ses.url))
    assert summary.counts == {"sent": 21}
    assert ledger(factory)[ADA].attempts == 2


def test_email_tags_and_configuration_set(factory, settings, sample_list, fake_ses):
    send(factory, settings, ses_transport(fake_ses.url, configuration_set="newsletter"))
    rows = {r.id: r for r in ledger(factory).values()}
    for received in fake_ses.received:
        assert set(received.tags) == {"send_id", "delivery_id"}
        assert rows[int(received.tags["delivery_id"])].email == received.address
