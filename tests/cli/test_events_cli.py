"""`mailer events poll` and `mailer reconcile` through the CLI, with moto (server mode) as
SNS/SQS/SES."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from sqlalchemy import select, update

from mailer.cli import cli
from mailer.store.models import ConsentEvent, Delivery, Suppression
from mailer.track.reconcile import mirror_to_ses
from tests.conftest import DB_KINDS, REPO, SECRET

REGION = "us-east-1"
pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


@pytest.fixture
def aws(moto_url, monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
    }.items():
        monkeypatch.setenv(key, value)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    tag = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"ses-{tag}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic = sns.create_topic(Name=f"ses-events-{tag}")["TopicArn"]
    # Raw delivery: the poller verifies SNS envelopes against certificates fetched from AWS, which
    # these tests cannot reach (tests/track/test_poll.py covers envelopes, with moto's
    # certificates).
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return sns, topic, queue_url


@pytest.fixture
def run(engine, database_url, tmp_path, aws):
    _, topic, queue_url = aws
    env = {
        "DATABASE_URL": database_url,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_OUTBOX": str(tmp_path / "out"),
        "MAILER_ISSUES_PATH": str(REPO / "issues"),
        "MAILER_LISTS_DIR": str(REPO / "lists"),
        "MAILER_SNS_TOPIC_ARNS": topic,
        "MAILER_SQS_QUEUE_URL": queue_url,
    }

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    assert (
        invoke("subscribers", "import", str(REPO / "lists/ai-morning-post.sample.csv")).exit_code
        == 0
    )
    assert invoke("send", "--issue", "2026-11-19", "--yes").exit_code == 0
    return invoke


def _mail(message_id: str, recipient: str, row) -> dict:
    return {
        "timestamp": "2026-11-19T07:00:00.000Z",
        "source": "morning@aimorningpost.example",
        "messageId": message_id,
        "destination": [recipient],
        "tags": {"delivery_id": [str(row.id)], "send_id": [str(row.send_id)]},
    }


def _rows(factory):
    with factory() as session:
        return session.execute(
            select(Delivery.id, Delivery.send_id, Delivery.email).order_by(Delivery.id)
        ).all()


def test_poll_applies_bounces_and_complaints_and_mirrors_to_ses(run, factory, aws):
    sns, topic, _ = aws
    first, second = _rows(factory)[:2]
    with factory.begin() as session:
        for n, row in enumerate((first, second)):
            session.execute(
                update(Delivery).where(Delivery.id == row.id).values(provider_message_id=f"ses-{n}")
            )
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(
            {
                "notificationType": "Bounce",
                "mail": _mail("ses-0", first.email, first),
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "feedbackId": "fb-1",
                    "timestamp": "2026-11-19T07:01:00.000Z",
                    "bouncedRecipients": [{"emailAddress": first.email}],
                },
            }
        ),
    )
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(
            {
                "eventType": "Complaint",
                "mail": _mail("ses-1", second.email, second),
                "complaint": {
                    "feedbackId": "fb-2",
                    "timestamp": "2026-11-19T08:00:00.000Z",
                    "complainedRecipients": [{"emailAddress": second.email}],
                },
            }
        ),
    )
    result = run("events", "poll", "--once", "--wait-seconds", "0")
    assert result.exit_code == 0, result.output
    assert (
        "2 message(s) handled" in result.output and "2 suppressed, 1 unsubscribed" in result.output
    )
    with factory() as session:
        states = dict(session.execute(select(Delivery.id, Delivery.state)).all())
        reasons = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
        unsubscribed = session.scalars(
            select(ConsentEvent.source).where(ConsentEvent.action == "unsubscribe")
        ).all()
    assert (states[first.id], states[second.id]) == ("bounced", "complained")
    assert reasons == {first.email.lower(): "hard-bounce", second.email.lower(): "complaint"}
    assert unsubscribed == ["complaint"]
    with factory() as session:
        stub_client = boto3.client("sesv2")
        with Stubber(stub_client) as stub:  # moto has no PutSuppressedDestination
            stub.add_response(
                "put_suppressed_destination",
                {},
                {"EmailAddress": first.email.lower(), "Reason": "BOUNCE"},
            )
            stub.add_response(
                "put_suppressed_destination",
                {},
                {"EmailAddress": second.email.lower(), "Reason": "COMPLAINT"},
            )
            assert (
                mirror_to_ses(
                    session, stub_client, [first.email, second.email, "other@example.com"]
                )
                == 2
            )
            stub.assert_no_pending_responses()
    again = run("events", "poll", "--once", "--wait-seconds", "0")
    assert "0 message(s) handled" in again.output


def test_reconcile_settles_unknown_rows_from_send_events(run, factory, aws):
    """The Send event arrived while the row was still 'sending'; the run then died (row ->
    unknown)."""
    sns, topic, _ = aws
    first, second = _rows(factory)[:2]
    with factory.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([first.id, second.id]))
            .values(state="sending", provider_message_id=None)
        )
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(
            {"eventType": "Send", "mail": _mail("ses-9", first.email, first), "send": {}}
        ),
    )
    assert "1 event(s) recorded" in run("events", "poll", "--once", "--wait-seconds", "0").output
    with factory.begin() as session:
        session.execute(
            update(Delivery).where(Delivery.id.in_([first.id, second.id])).values(state="unknown")
        )
    result = run("reconcile", "--issue", "2026-11-19", "--no-poll")
    assert result.exit_code == 0, result.output
    assert "1 unknown deliveries settled as sent, 0 as failed; 1 still unknown" in result.output
    assert "--resend-unknown" in result.output
    with factory() as session:
        row = session.execute(
            select(Delivery.state, Delivery.provider_message_id).where(Delivery.id == first.id)
        ).one()
    assert tuple(row) == ("sent", "ses-9")


def test_reconcile_polls_first_when_a_queue_is_configured(run, factory, aws):
    sns, topic, _ = aws
    first = _rows(factory)[0]
    with factory.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == first.id)
            .values(state="unknown", provider_message_id=None)
        )
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(
            {"eventType": "Send", "mail": _mail("ses-7", first.email, first), "send": {}}
        ),
    )
    result = run("reconcile", "--issue", "2026-11-19")
    assert "1 deliveries updated" in result.output and "0 still unknown" in result.output


def test_poll_without_queue_names_the_setting(engine, database_url):
    result = CliRunner().invoke(
        cli,
        ["events", "poll", "--once"],
        env={"DATABASE_URL": database_url, "MAILER_SQS_QUEUE_URL": ""},
    )
    assert result.exit_code == 1 and "MAILER_SQS_QUEUE_URL is not set" in result.output
