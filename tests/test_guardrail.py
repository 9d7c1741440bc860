"""The guardrail: a send whose recipients bounce pauses itself at the list's threshold.

Bounces reach the database while the send runs, through the real tracking code (`record_events`,
as the SNS webhook or the SQS poller would call it), right after each message is handed over.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from mailer.campaign import SendOptions, load_issue_for, run_send
from mailer.content.lists import load_list
from mailer.db import transaction
from mailer.models import Delivery
from mailer.ses_events import parse_ses_message
from mailer.store import ensure_list
from mailer.subscribers import ImportRow, import_rows
from mailer.track import record_events
from mailer.transports.file import FileTransport

from .conftest import DB_KINDS, REPO

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
            bounce = {"notificationType": "Bounce",
                      "mail": {"messageId": message_id, "destination": [message.recipient],
                               "tags": {k: [v] for k, v in message.tags.items()}},
                      "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                                 "feedbackId": f"fb-{message.delivery_id}",
                                 "bouncedRecipients": [{"emailAddress": message.recipient}]}}
            with transaction(self.factory) as session:
                record_events(session, parse_ses_message(json.dumps(bounce)))
        return message_id


@pytest.fixture
def bouncy_list(factory):
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
    rows = [ImportRow(n + 2, f"{'bounce' if n % 10 == 0 else 'reader'}{n}@example.com", "", "confirmed")
            for n in range(400)]
    import_rows(factory, list_id, iter(rows), [], source="generated")
    return list_id


def _send(factory, settings, guardrail=True):
    content = load_issue_for(settings, LIST, "2026-11-21")
    transport = BouncingMailboxes(settings.outbox_dir, factory)
    # paced like a real account: the guardrail acts on what has come back, not on what is in flight
    return run_send(factory, settings, LIST, content, transport, SendOptions(rate=300, guardrail=guardrail))


def test_send_pauses_itself_when_the_bounce_rate_crosses_the_threshold(factory, settings, bouncy_list):
    summary = _send(factory, settings)
    assert summary.state == "paused"
    assert summary.pause_reason.startswith("guardrail: bounce rate")
    assert "over the list's 5 %" in summary.pause_reason
    with factory() as session:
        accepted = session.scalar(select(func.count()).where(Delivery.state.in_(("sent", "bounced"))))
        queued = session.scalar(select(func.count()).where(Delivery.state == "queued"))
    assert 200 <= accepted < 400 and queued == 400 - accepted

    again = _send(factory, settings)
    assert again.state == "paused" and again.sent_now == 0  # still over: a rerun does not push on

    forced = _send(factory, settings, guardrail=False)
    assert forced.state == "done"
    with factory() as session:
        states = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
    assert states == {"sent": 360, "bounced": 40}
