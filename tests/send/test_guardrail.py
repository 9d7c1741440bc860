"""The guardrail: a send whose recipients bounce pauses itself at the list's threshold.

Bounces reach the database while the send runs, through the real tracking code (`record_events`,
as the SNS webhook or the SQS poller would call it), right after each message is handed over.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from mailer.audience.importing.importer import ImportRow, import_rows
from mailer.audience.lists import ensure_list
from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import SendOptions, run_send
from mailer.store.db import transaction
from mailer.store.models import Delivery
from mailer.track.record import record_events
from mailer.track.ses_events import parse_ses_message
from mailer.transports.file import FileTransport
from tests.conftest import DB_KINDS, REPO

LIST = load_list(REPO / "lists", "ai-morning-post")
pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


class BouncingMailboxes(FileTransport):
    """Writes the message like the file transport; every 10th address bounces hard at once."""

    def __init__(self, outbox, factory):
        super().__init__(outbox)
        self.factory = factory

    def send(self, message):
        message_id = super().send(message)
        if message.recipient.startswith("bounce"):
            bounce = {
                "notificationType": "Bounce",
                "mail": {
                    "messageId": message_id,
                    "destination": [message.recipient],
                    "tags": {k: [v] for k, v in message.tags.items()},
                },
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "feedbackId": f"fb-{message.delivery_id}",
                    "bouncedRecipients": [{"emailAddress": message.recipient}],
                },
            }
            with transaction(self.factory) as session:
                record_events(session, parse_ses_message(json.dumps(bounce)))
        return message_id


@pytest.fixture
def bouncy_list(factory):
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
    rows = [
        ImportRow(n + 2, f"{'bounce' if n % 10 == 0 else 'reader'}{n}@example.com", "", "confirmed")
        for n in range(400)
    ]
    import_rows(factory, list_id, iter(rows), [], source="generated")
    return list_id


def _send(factory, settings, guardrail=True):
    content = load_issue_for(settings, LIST, "2026-11-21")
    transport = BouncingMailboxes(settings.outbox_dir, factory)
    # paced like a real account: the guardrail acts on what has come back, not on what is in flight
    return run_send(
        factory, settings, LIST, content, transport, SendOptions(rate=300, guardrail=guardrail)
    )


def test_send_pauses_itself_when_the_bounce_rate_crosses_the_threshold(
    factory, settings, bouncy_list
):
    summary = _send(factory, settings)
    assert summary.state == "paused"
    assert summary.pause_reason.startswith("guardrail: bounce rate")
    assert "over the list's 5 %" in summary.pause_reason
    with factory() as session:
        accepted = session.scalar(
            select(func.count()).where(Delivery.state.in_(("sent", "bounced")))
        )
        queued = session.scalar(select(func.count()).where(Delivery.state == "queued"))
    # the addresses that bounce are planned first: 11 hard bounces already make 5.5 % of the first
    # 200, so it pauses before 200 were sent (it used to send 200 first, 40 of them bounces)
    assert 11 <= accepted < 200 and queued == 400 - accepted

    again = _send(factory, settings)
    assert again.state == "paused" and again.sent_now == 0  # still over: a rerun does not push on

    forced = _send(factory, settings, guardrail=False)
    assert forced.state == "done"
    with factory() as session:
        states = dict(
            session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
        )
    assert states == {"sent": 360, "bounced": 40}


@pytest.fixture
def small_list(factory):
    """16 people, the first two of whom bounce hard: 12.5 %, far over the list's 5 %."""
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
    rows = [
        ImportRow(n + 2, f"{'bounce' if n < 2 else 'reader'}{n:02d}@example.com", "", "confirmed")
        for n in range(16)
    ]
    import_rows(factory, list_id, iter(rows), [], source="generated")
    return list_id


def test_a_small_send_with_two_hard_bounces_in_sixteen_pauses(factory, settings, small_list):
    content = load_issue_for(settings, LIST, "2026-11-21")
    transport = BouncingMailboxes(settings.outbox_dir, factory)
    # 14 messages/s, a new SES account's rate: the bounces come back while the rest still waits
    summary = run_send(factory, settings, LIST, content, transport, SendOptions(rate=14))
    assert summary.state == "paused", summary.line()
    assert summary.pause_reason.startswith(
        "guardrail: bounce rate 12.5 % or more (2 of the first 16 messages"
    )
    assert (
        "over the list's 5 %" in summary.pause_reason and "--no-guardrail" in summary.pause_reason
    )
    assert summary.counts.get("queued", 0) >= 1  # paused before the end: the rest was not sent
    forced = run_send(
        factory, settings, LIST, content, transport, SendOptions(rate=14, guardrail=False)
    )
    assert forced.state == "done" and forced.counts == {"sent": 14, "bounced": 2}


def _expected(sent: int, bounced: int, complained: int, planned: int, policy) -> str | None:
    """The guardrail's rule, stated plainly: the rate over what was accepted, but never over fewer
    than min_sent_for_rate messages or the whole send when it is smaller (the rest counted clean);
    on a send smaller than min_sent_for_rate, two events of a kind at least."""
    judged = max(sent, min(policy.min_sent_for_rate, planned))
    least = 2 if planned < policy.min_sent_for_rate else 1
    if bounced >= least and bounced / judged > policy.bounce_rate_threshold:
        return "bounce"
    if complained >= least and complained / judged > policy.complaint_rate_threshold:
        return "complaint"
    return None


def test_breach_agrees_with_the_plain_rule_at_every_boundary(factory):
    """`breach` counts accepted deliveries only as far as its verdict needs: it must still give the
    plain rule's verdict around every threshold, with thresholds of 0 too."""
    import datetime as dt

    from mailer.content.lists import BouncePolicy
    from mailer.send.guardrail import breach
    from mailer.store.models import Event, Issue, Send, Subscriber

    policies = [
        BouncePolicy(
            bounce_rate_threshold=0.05, complaint_rate_threshold=0.1, min_sent_for_rate=20
        ),
        BouncePolicy(bounce_rate_threshold=0.0, complaint_rate_threshold=0.0, min_sent_for_rate=20),
        # sends of 60 smaller than the minimum: judged over all 60, two events needed
        BouncePolicy(
            bounce_rate_threshold=0.05, complaint_rate_threshold=0.02, min_sent_for_rate=100
        ),
        BouncePolicy(
            bounce_rate_threshold=0.0, complaint_rate_threshold=0.0, min_sent_for_rate=100
        ),
    ]
    cases = [
        (sent, bounced, complained)
        for sent in (0, 19, 20, 21, 39, 40, 41, 60)
        for bounced in (0, 1, 2, 3)
        for complained in (0, 1, 2, 5)
        if bounced + complained <= sent
    ]
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
        session.add_all([Subscriber(id=n + 1, email=f"g{n}@example.com") for n in range(60)])
        for k, (sent, bounced, complained) in enumerate(cases):
            issue = Issue(
                list_id=list_id,
                issue_date=dt.date(2020, 1, 1) + dt.timedelta(days=k),
                subject="s",
                source_path="x",
                content_hash="0",
                html="h",
                text="t",
            )
            session.add(issue)
            session.flush()
            send = Send(issue_id=issue.id, list_id=list_id, state="sending", planned_count=60)
            session.add(send)
            session.flush()
            rows = [
                Delivery(
                    send_id=send.id,
                    subscriber_id=n + 1,
                    email=f"g{n}@example.com",
                    state="sent" if n < sent else "queued",
                )
                for n in range(60)
            ]
            session.add_all(rows)
            session.flush()
            for n in range(bounced):
                session.add(
                    Event(
                        dedup_key=f"b{k}.{n}",
                        event_type="bounce",
                        bounce_type="Permanent",
                        delivery_id=rows[n].id,
                        raw="{}",
                    )
                )
            for n in range(complained):
                session.add(
                    Event(
                        dedup_key=f"c{k}.{n}",
                        event_type="complaint",
                        delivery_id=rows[bounced + n].id,
                        raw="{}",
                    )
                )
        session.flush()
        sends = [s.id for s in session.scalars(select(Send).order_by(Send.id))]
        for policy in policies:
            for send_id, (sent, bounced, complained) in zip(sends, cases, strict=True):
                verdict = breach(session, send_id, policy)
                kind = verdict and verdict.split()[1]  # "guardrail: bounce rate ..." -> "bounce"
                assert kind == _expected(sent, bounced, complained, 60, policy), (
                    policy,
                    sent,
                    bounced,
                    complained,
                )


def test_the_cadence_looks_at_every_message_of_a_small_send_and_rarely_on_a_large_one(database_url):
    """How often the breach query runs as messages are handed over one by one (no database needed;
    the module's parametrisation runs it once per kind)."""
    from mailer.send.guardrail import Cadence

    def evaluations(total: int) -> int:
        cadence = Cadence(lambda: None, total)
        for handed_over in range(total + 1):
            cadence(handed_over)
        return cadence.evaluations

    assert evaluations(16) == 17  # before the first message, then after each one
    assert 100 < evaluations(400) <= 101 + 300 // 20  # each of the first 100, then every 20th
    large = evaluations(200_000)
    assert 100 < large <= 101 + (200_000 - 100) // 50  # then every 50th: ~4,100 queries for 200,000
