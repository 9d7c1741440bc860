"""poll_queue against moto in server mode: SNS topics -> SQS queue (envelope and raw delivery).

moto signs the envelopes it delivers and serves the certificate at its endpoint, so the poller
verifies
them for real (conftest.moto_cert_fetcher). moto leaves Subject out of
the text it signs (SNS signs it), so nothing here is published with a Subject; tests/web and
test_sns_verify.py cover signed Subjects.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest

from mailer.errors import ConfigError
from mailer.track.intake import poll_queue
from mailer.track.sns import CertCache
from tests.track.conftest import LEDGER, moto_cert_fetcher
from tests.track.dbview import (
    consent,
    delivery,
    events,
    states,
    subscription_statuses,
    suppressions,
)
from tests.track.payloads import M_ERIN, M_FRANK, STATES_AFTER_THE_PAYLOADS, data, text
from tests.track.sns_signing import Signer, subscription_confirmation

REGION = "us-east-1"
VISIBILITY_FOR_COUNTING = 5  # seconds: Setup's docstring


@pytest.fixture
def verified(moto_endpoint) -> dict:
    """poll_queue options: moto's certificates, a fresh cache."""
    return {"fetch_cert": moto_cert_fetcher(moto_endpoint), "cert_cache": CertCache()}


class Setup:
    """A queue (with a dead-letter queue after `max_receive` receives) fed by three topics.

    `visibility`: the queue's VisibilityTimeout in seconds. A batch whose handling outlasts it is
    visible again; another receiver of the same poll then receives it, and with maxReceiveCount 1
    that moves it to the dead-letter queue, so its DeleteMessageBatch fails (as on SQS). Tests that
    count deletions give the handling room (seen under a loaded full run: 10 of 14 not deleted)."""

    def __init__(self, sns, sqs, max_receive: int = 1, visibility: int = 1):
        self.sns, self.sqs = sns, sqs
        tag = uuid.uuid4().hex[:8]
        self.dlq_url = sqs.create_queue(QueueName=f"ses-dlq-{tag}")["QueueUrl"]
        dlq_arn = self._arn(self.dlq_url)
        self.queue_url = sqs.create_queue(
            QueueName=f"ses-{tag}",
            Attributes={
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}
                ),
            },
        )["QueueUrl"]
        queue_arn = self._arn(self.queue_url)
        self.topic = self._topic(f"ses-events-{tag}", queue_arn, raw=False)
        self.raw_topic = self._topic(f"ses-raw-{tag}", queue_arn, raw=True)
        self.foreign_topic = self._topic(f"other-{tag}", queue_arn, raw=False)
        # a second, unpolled copy of the allowed topic's envelopes, to replay one of them
        self.copy_url = sqs.create_queue(QueueName=f"ses-copy-{tag}")["QueueUrl"]
        self.sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=self._arn(self.copy_url))

    def _arn(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def _topic(self, name, queue_arn, raw):
        arn = self.sns.create_topic(Name=name)["TopicArn"]
        self.sns.subscribe(
            TopicArn=arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
        )
        return arn

    def publish(self, topic, message):
        self.sns.publish(TopicArn=topic, Message=message)

    def bodies(self, url):
        out = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return out
            out.extend(m["Body"] for m in batch)


def test_poll_records_both_formats_and_leaves_what_it_cannot_use(aws, factory, caplog, verified):
    q = Setup(*aws, visibility=VISIBILITY_FOR_COUNTING)
    q.publish(q.topic, text("identity_delivery.json"))
    # SNS delivers at least once: the very same envelope reaches the queue a second time
    [envelope] = q.bodies(q.copy_url)
    q.sqs.send_message(QueueUrl=q.queue_url, MessageBody=envelope)
    for name in (
        "identity_bounce_permanent_multi.json",
        "identity_bounce_transient.json",
        "identity_complaint_with_type.json",
        "identity_complaint_without_type.json",
        "validation.txt",
    ):
        q.publish(q.topic, text(name))
    q.publish(
        q.topic, text("identity_complaint_with_type.json")
    )  # SES sent it twice: same feedbackId
    for name in (
        "event_send.json",
        "event_delivery.json",
        "event_reject.json",
        "event_bounce_permanent.json",
        "event_complaint.json",
        "validation.txt",
    ):
        q.publish(q.raw_topic, text(name))
    # what must be left: a complaint from a topic not on the allow-list, and garbage
    foreign = data("event_complaint.json")
    foreign["mail"].update(messageId=M_ERIN, destination=["erin@example.com"])
    foreign["complaint"]["complainedRecipients"] = [{"emailAddress": "erin@example.com"}]
    q.publish(q.foreign_topic, json.dumps(foreign))
    q.publish(q.topic, "{this is not SES")
    q.sqs.send_message(QueueUrl=q.queue_url, MessageBody="garbage, raw")

    with caplog.at_level(logging.ERROR, logger="mailer.track"):
        result = poll_queue(
            q.sqs, q.queue_url, factory, [q.topic], once=True, wait_seconds=1, **verified
        )

    assert states(factory) == STATES_AFTER_THE_PAYLOADS
    assert delivery(factory, 6).provider_message_id == M_FRANK
    assert suppressions(factory) == {
        "bob@example.org": "hard-bounce",
        "carol@example.net": "hard-bounce",
        "grace@example.com": "hard-bounce",
        "alice@example.com": "complaint",
        "dave@example.com": "complaint",
        "heidi@example.com": "complaint",
    }
    assert subscription_statuses(factory, 4) == {1: "unsubscribed", 2: "unsubscribed"}
    assert subscription_statuses(factory, 5) == {
        1: "confirmed"
    }  # the foreign complaint had no effect
    assert len([c for c in consent(factory) if c[0] == 4]) == 2
    # 2 + 1 + 1 + 1 + 1 identity events, 5 published events; duplicates collapsed
    assert len(events(factory)) == 11
    assert (result.recorded, result.messages_deleted, result.messages_left) == (11, 14, 3)
    assert result.duplicates == 2
    left_logs = [r for r in caplog.records if "dead-letter" in r.getMessage()]
    assert len(left_logs) == 3

    assert (
        q.bodies(q.queue_url) == []
    )  # deleted after commit; the rest went to the dead-letter queue
    time.sleep(VISIBILITY_FOR_COUNTING + 0.2)
    assert q.bodies(q.queue_url) == []
    dead = q.bodies(q.dlq_url)
    assert len(dead) == 3
    assert "garbage, raw" in dead
    assert {json.loads(b)["TopicArn"] for b in dead if b != "garbage, raw"} == {
        q.topic,
        q.foreign_topic,
    }


def test_a_failed_commit_leaves_the_message_for_the_next_poll(aws, factory, caplog, verified):
    q = Setup(*aws, max_receive=3)
    q.publish(q.topic, text("identity_bounce_permanent_multi.json"))

    def broken_factory():
        raise RuntimeError("database is down")

    with caplog.at_level(logging.ERROR, logger="mailer.track"):
        result = poll_queue(
            q.sqs, q.queue_url, broken_factory, [q.topic], once=True, wait_seconds=0, **verified
        )
    assert (result.messages_deleted, result.messages_left) == (0, 1)
    assert "database is down" in caplog.text
    assert states(factory)[2] == "sent"
    time.sleep(1.2)  # the visibility timeout
    again = poll_queue(
        q.sqs, q.queue_url, factory, [q.topic], once=True, wait_seconds=0, **verified
    )
    assert (again.messages_deleted, again.recorded) == (1, 2)
    assert states(factory)[2] == "bounced"
    time.sleep(1.2)
    assert q.bodies(q.queue_url) == [] and q.bodies(q.dlq_url) == []


def test_subscription_confirmation_on_the_queue_is_confirmed_through_the_api(aws, factory):
    q = Setup(*aws)
    signer = Signer()
    envelope = signer.sign(subscription_confirmation(topic=q.topic), version="1")
    q.sqs.send_message(QueueUrl=q.queue_url, MessageBody=json.dumps(envelope))
    calls = []

    class FakeSns:
        def confirm_subscription(self, **kwargs):
            calls.append(kwargs)
            return {"SubscriptionArn": q.topic + ":sub"}

    result = poll_queue(
        q.sqs,
        q.queue_url,
        factory,
        [q.topic],
        once=True,
        wait_seconds=0,
        sns_client_for_region=lambda region: FakeSns() if region == REGION else None,
        fetch_cert=lambda url: signer.pem,
        cert_cache=CertCache(),
    )
    assert calls == [
        {"TopicArn": q.topic, "Token": envelope["Token"], "AuthenticateOnUnsubscribe": "true"}
    ]
    assert (result.messages_deleted, result.messages_left, result.recorded) == (1, 0, 0)
    assert events(factory) == [] and states(factory) == {d: s for d, _, s, _ in LEDGER}


def _complaint_for_erin() -> str:
    complaint = data("event_complaint.json")
    complaint["mail"].update(messageId=M_ERIN, destination=["erin@example.com"])
    complaint["complaint"]["complainedRecipients"] = [{"emailAddress": "erin@example.com"}]
    return json.dumps(complaint)


def test_an_envelope_with_a_bad_signature_is_not_applied(aws, factory, caplog, verified):
    """Whoever may send to the queue (its policy can admit more than SNS) cannot make up SNS
    envelopes."""
    q = Setup(*aws)
    q.publish(q.topic, text("identity_delivery.json"))
    [genuine] = q.bodies(q.copy_url)
    tampered = dict(json.loads(genuine), Message=_complaint_for_erin())
    unsigned = {k: v for k, v in tampered.items() if k != "Signature"}
    other_key = Signer().sign(
        dict(tampered)
    )  # a valid signature, by a key that is not the certificate's
    subscribe = dict(
        Signer().sign(subscription_confirmation(topic=q.topic)),
        SigningCertURL=tampered["SigningCertURL"],
    )  # would confirm someone's subscription
    for forged in (tampered, unsigned, other_key, subscribe):
        q.sqs.send_message(QueueUrl=q.queue_url, MessageBody=json.dumps(forged))
    confirmed = []

    class Sns:
        def confirm_subscription(self, **kwargs):
            confirmed.append(kwargs)
            return {}

    with caplog.at_level(logging.ERROR, logger="mailer.track"):
        result = poll_queue(
            q.sqs,
            q.queue_url,
            factory,
            [q.topic],
            once=True,
            wait_seconds=0,
            sns_client_for_region=lambda region: Sns(),
            **verified,
        )
    assert (result.recorded, result.messages_deleted, result.messages_left) == (
        1,
        1,
        4,
    )  # the genuine one
    assert states(factory)[5] == "sent" and suppressions(factory) == {} and confirmed == []
    assert subscription_statuses(factory, 5) == {1: "confirmed"}
    reasons = [
        r.getMessage().split("; body:")[0]
        for r in caplog.records
        if "dead-letter" in r.getMessage()
    ]
    assert len(reasons) == 4 and all("signature" in reason.lower() for reason in reasons), reasons
    time.sleep(1.2)  # the visibility timeout: the forged envelopes move to the dead-letter queue
    assert q.bodies(q.queue_url) == []
    assert len(q.bodies(q.dlq_url)) == 4


def test_poll_refuses_an_empty_allow_list(aws, factory):
    q = Setup(*aws)
    with pytest.raises(ConfigError, match="MAILER_SNS_TOPIC_ARNS"):
        poll_queue(q.sqs, q.queue_url, factory, [], once=True, wait_seconds=0)
