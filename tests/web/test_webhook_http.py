"""`POST /webhooks/ses` over real HTTP: signed SNS envelopes change the ledger; forged ones change nothing."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import func, select, update

from mailer.campaign import load_issue_for, run_send
from mailer.content.lists import load_list
from mailer.db import transaction
from mailer.models import Delivery, Event, Suppression
from mailer.transports.file import FileTransport
from tests.track.sns_signing import FOREIGN_TOPIC_ARN, TOPIC_ARN, Signer, notification, subscription_confirmation

from ..conftest import DB_KINDS, REPO, import_sample

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


@pytest.fixture
def hook(serve, factory):
    """The app with SES events allowed from TOPIC_ARN, a test signing certificate, and a sent issue."""
    signer = Signer()
    live = serve(settings_changes={"sns_topic_arns": (TOPIC_ARN,)})
    live.app.extensions["mailer"]["sns_fetch_cert"] = lambda url: signer.pem
    list_def = load_list(REPO / "lists", "ai-morning-post")
    import_sample(factory)
    settings = live.settings
    run_send(factory, settings, list_def, load_issue_for(settings, list_def, "2026-11-20"),
             FileTransport(settings.outbox_dir))
    with transaction(factory) as session:
        row = session.execute(select(Delivery.id, Delivery.email).order_by(Delivery.id).limit(1)).one()
        session.execute(update(Delivery).where(Delivery.id == row.id).values(provider_message_id="ses-hook-1"))
    return live, signer, row


def bounce_for(row) -> str:
    return json.dumps({"notificationType": "Bounce",
                       "mail": {"messageId": "ses-hook-1", "destination": [row.email]},
                       "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "fb-hook",
                                  "bouncedRecipients": [{"emailAddress": row.email}]}})


def post(live, envelope: dict):
    return live.post("/webhooks/ses", data=json.dumps(envelope),
                     headers={"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": envelope["Type"]})


def snapshot(factory):
    with factory() as session:
        return (session.scalar(select(func.count()).select_from(Event)),
                session.scalar(select(func.count()).select_from(Suppression)),
                tuple(session.scalars(select(Delivery.state).order_by(Delivery.id))))


def test_signed_bounce_is_recorded_and_suppresses(hook, factory):
    live, signer, row = hook
    response = post(live, signer.sign(notification(bounce_for(row))))
    assert response.status_code == 200, response.text
    with factory() as session:
        assert session.scalar(select(Delivery.state).where(Delivery.id == row.id)) == "bounced"
        assert session.scalar(select(Suppression.reason).where(Suppression.email == row.email.lower())) == "hard-bounce"
    again = post(live, signer.sign(notification(bounce_for(row))))  # SNS retries: same event, no new effect
    assert again.status_code == 200
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1


@pytest.mark.parametrize("forge", ["tampered", "foreign-topic", "unsigned", "downgrade", "lookalike-cert"])
def test_forged_envelopes_are_refused_and_change_nothing(hook, factory, forge):
    live, signer, row = hook
    before = snapshot(factory)
    if forge == "tampered":
        envelope = signer.sign(notification(bounce_for(row)))
        envelope["Message"] = envelope["Message"].replace("Permanent", "Transient")
    elif forge == "foreign-topic":
        envelope = signer.sign(notification(bounce_for(row), topic=FOREIGN_TOPIC_ARN))
    elif forge == "unsigned":
        envelope = notification(bounce_for(row))
    elif forge == "downgrade":
        envelope = signer.sign(notification(bounce_for(row)), version="2")
        envelope["SignatureVersion"] = "1"
    else:
        url = "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-1.pem"
        envelope = signer.sign(notification(bounce_for(row), cert_url=url))
    response = post(live, envelope)
    assert response.status_code == 403
    assert snapshot(factory) == before


def test_subscription_confirmation_goes_through_the_sns_api(hook):
    live, signer, _ = hook
    envelope = signer.sign(subscription_confirmation(), version="1")
    client = boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("confirm_subscription", {"SubscriptionArn": f"{TOPIC_ARN}:sub-1"},
                          {"TopicArn": TOPIC_ARN, "Token": envelope["Token"], "AuthenticateOnUnsubscribe": "true"})
        live.app.extensions["mailer"]["sns_client_for_region"] = lambda region: client
        response = post(live, envelope)
        assert response.status_code == 200, response.text
        stub.assert_no_pending_responses()
