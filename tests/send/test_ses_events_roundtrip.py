"""A real send through moto (SES), then SES-shaped events for those MessageIds through moto SNS ->
SQS, read by `mailer events poll`, reported by `mailer report`: the ledger, suppressions and rates
agree."""

from __future__ import annotations

import json

import boto3
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer.cli import cli
from mailer.store.models import Subscriber, Subscription, Suppression
from tests.conftest import DB_KINDS, REPO, SECRET
from tests.send.conftest import ISSUE, ledger, send, ses_transport

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
VALIDATION = "Successfully validated SNS topic for Amazon SES event publishing."


def _mail(row) -> dict:
    return {
        "timestamp": "2026-11-20T07:00:00.000Z",
        "source": "morning@aimorningpost.example",
        "messageId": row.provider_message_id,
        "destination": [row.email],
        "tags": {"send_id": [str(row.send_id)], "delivery_id": [str(row.id)]},
    }


def _events(rows) -> list[str]:
    bounce_hard, bounce_soft, complaint, complaint_plain, delivered = rows
    return [
        json.dumps(
            {
                "notificationType": "Bounce",
                "mail": _mail(bounce_hard),
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "NoEmail",
                    "feedbackId": "fb-hard",
                    "bouncedRecipients": [{"emailAddress": bounce_hard.email, "status": "5.1.1"}],
                },
            }
        ),
        json.dumps(
            {
                "eventType": "Bounce",
                "mail": _mail(bounce_soft),
                "bounce": {
                    "bounceType": "Transient",
                    "bounceSubType": "MailboxFull",
                    "feedbackId": "fb-soft",
                    "bouncedRecipients": [{"emailAddress": bounce_soft.email}],
                },
            }
        ),
        json.dumps(
            {
                "notificationType": "Complaint",
                "mail": _mail(complaint),
                "complaint": {
                    "feedbackId": "fb-abuse",
                    "complaintFeedbackType": "abuse",
                    "complainedRecipients": [{"emailAddress": complaint.email}],
                },
            }
        ),
        json.dumps(
            {
                "eventType": "Complaint",
                "mail": _mail(complaint_plain),
                "complaint": {
                    "feedbackId": "fb-plain",
                    "complainedRecipients": [{"emailAddress": complaint_plain.email}],
                },
            }
        ),
        json.dumps(
            {
                "eventType": "Delivery",
                "mail": _mail(delivered),
                "delivery": {"recipients": [delivered.email], "smtpResponse": "250 ok"},
            }
        ),
    ]


def test_events_for_a_moto_send_reach_ledger_suppressions_and_report(
    factory, settings, sample_list, moto_url, database_url
):
    send(factory, settings, ses_transport(moto_url))
    rows = sorted(ledger(factory).values(), key=lambda r: r.id)[:5]
    assert all(r.state == "sent" and r.provider_message_id for r in rows)

    sns, sqs = (
        boto3.client("sns", endpoint_url=moto_url),
        boto3.client("sqs", endpoint_url=moto_url),
    )
    queue_url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic = sns.create_topic(Name="ses-events")["TopicArn"]
    # Raw delivery: the poller verifies SNS envelopes against certificates fetched from AWS, which
    # this test cannot reach (tests/track/test_poll.py covers envelopes, with moto's certificates).
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    messages = [VALIDATION, *_events(rows)]
    messages.append(messages[1])  # SNS delivers at least once: the same notification twice
    for message in messages:
        sns.publish(TopicArn=topic, Message=message)

    env = {
        "DATABASE_URL": database_url,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_LISTS_DIR": str(REPO / "lists"),
        "MAILER_ISSUES_PATH": str(REPO / "issues"),
        "MAILER_SNS_TOPIC_ARNS": topic,
        "MAILER_SQS_QUEUE_URL": queue_url,
        "AWS_ENDPOINT_URL": moto_url,
    }
    runner = CliRunner()
    polled = runner.invoke(
        cli, ["events", "poll", "--once", "--wait-seconds", "0"], env=env, catch_exceptions=False
    )
    assert polled.exit_code == 0, polled.output
    assert "7 message(s) handled, 0 left" in polled.output and "1 duplicate(s)" in polled.output

    states = {r.email: r.state for r in ledger(factory).values()}
    hard, soft, complaint, complaint_plain, delivered = (r.email for r in rows)
    assert (
        states[hard],
        states[soft],
        states[complaint],
        states[complaint_plain],
        states[delivered],
    ) == ("bounced", "bounced", "complained", "complained", "delivered")
    with factory() as session:
        reasons = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
        complainers = set(
            session.scalars(
                select(Subscription.status)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Subscriber.email.in_([complaint, complaint_plain]))
            )
        )
    assert reasons == {
        hard.lower(): "hard-bounce",
        complaint.lower(): "complaint",
        complaint_plain.lower(): "complaint",
    }
    assert complainers == {"unsubscribed"}

    report = runner.invoke(
        cli, ["report", "--issue", ISSUE, "--json"], env=env, catch_exceptions=False
    )
    data = json.loads(report.output)
    assert (
        data["sent"],
        data["delivered"],
        data["bounced_hard"],
        data["bounced_soft"],
        data["complained"],
    ) == (21, 1, 1, 1, 2)
    assert data["unsubscribed"] == 2
    assert data["rates"]["complained"] == pytest.approx(2 / 21, abs=1e-6)
