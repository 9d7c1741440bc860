"""Unsubscribe requests by mail (the List-Unsubscribe mailto): parsed from raw mail, arriving as SES
Received notifications through SQS (moto server) and the signed SNS webhook, or piped to the CLI."""

from __future__ import annotations

import base64
import email
import json
import uuid
from email.policy import default as default_policy

import boto3
import pytest
from click.testing import CliRunner

from mailer.cli import cli
from mailer.errors import MailerError
from mailer.tokens import make_token
from mailer.track.intake import handle_sns_webhook, poll_queue
from mailer.track.mail_unsubscribe import MailUnsubscriber, find_token, received_mail
from mailer.track.sns import CertCache
from tests.conftest import SECRET
from tests.track.conftest import MAIN_LIST, OTHER_LIST, moto_cert_fetcher
from tests.track.dbview import consent, subscription_statuses
from tests.track.sns_signing import TOPIC_ARN, Signer, notification

BOB, ALICE = 2, 1  # subscriber ids of the seeded ledger; alice is on both lists


def token(
    subscriber_id: int,
    slug: str = "ai-morning-post",
    key: str = SECRET,
    purpose: str = "unsubscribe",
) -> str:
    return make_token(key, purpose, subscriber_id, slug)


def request_mail(subject: str, body: str = "", extra: str = "") -> bytes:
    return (
        f"From: Reader <reader@example.org>\r\nTo: unsubscribe@aimorningpost.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@example.org>\r\n{extra}"
        f"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()


def received(raw: bytes, encoding: str | None = "BASE64") -> str:
    action = {"type": "SNS", "topicArn": TOPIC_ARN}
    if encoding:
        action["encoding"] = encoding
    note = {
        "notificationType": "Received",
        "mail": {
            "timestamp": "2026-11-22T08:00:01.000Z",
            "source": "reader@example.org",
            "messageId": uuid.uuid4().hex,
            "destination": ["unsubscribe@aimorningpost.example"],
        },
        "receipt": {
            "recipients": ["unsubscribe@aimorningpost.example"],
            "action": action,
            "spamVerdict": {"status": "PASS"},
            "virusVerdict": {"status": "PASS"},
        },
    }
    if encoding:
        note["content"] = base64.b64encode(raw).decode() if encoding == "BASE64" else raw.decode()
    return json.dumps(note)


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=default_policy)


# --- finding the token
# ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject", ["unsubscribe {t}", "Re: unsubscribe {t}", "UNSUBSCRIBE   {t}", "unsubscribe%20{t}"]
)
def test_the_token_is_found_in_the_subject_the_mailto_sets(subject):
    t = token(BOB)
    assert find_token(parsed(request_mail(subject.format(t=t)))) == t


def test_an_encoded_word_subject_and_a_body_request_are_understood():
    t = token(BOB)
    encoded = "=?utf-8?b?" + base64.b64encode(f"unsubscribe {t}".encode()).decode() + "?="
    assert find_token(parsed(request_mail(encoded))) == t
    assert (
        find_token(parsed(request_mail("Please remove me", body=f"> unsubscribe {t}\r\nthanks")))
        == t
    )
    assert find_token(parsed(request_mail("Please remove me", body="no token here"))) is None


def test_received_notifications_give_the_raw_mail_in_either_encoding():
    raw = request_mail("unsubscribe x.y.z")
    assert received_mail(received(raw, "BASE64")) == raw
    assert received_mail(received(raw, "UTF8")) == raw
    assert received_mail(json.dumps({"notificationType": "Bounce"})) is None
    with pytest.raises(MailerError, match="SNS action"):
        received_mail(received(raw, None))  # an S3-action alert: no content


# --- applying a request
# ------------------------------------------------------------------------------


def apply(factory, raw: bytes, key: str = SECRET, old_keys: tuple[str, ...] = ()):
    from mailer.store.db import transaction

    with transaction(factory) as session:
        return MailUnsubscriber(key, old_keys)(session, raw)


def test_a_request_unsubscribes_from_the_list_in_the_token_only_and_is_idempotent(factory):
    first = apply(factory, request_mail(f"unsubscribe {token(ALICE)}"))
    assert (first.outcome, first.subscriber_id, first.list_slug) == (
        "unsubscribed",
        ALICE,
        "ai-morning-post",
    )
    assert subscription_statuses(factory, ALICE) == {
        MAIN_LIST: "unsubscribed",
        OTHER_LIST: "confirmed",
    }
    assert consent(factory) == [(ALICE, MAIN_LIST, "unsubscribe", "mailto")]
    again = apply(factory, request_mail(f"Re: unsubscribe {token(ALICE)}"))
    assert again.outcome == "already-unsubscribed" and len(consent(factory)) == 1


@pytest.mark.parametrize(
    "bad", ["tampered", "other key", "confirm purpose", "no token", "unknown list"]
)
def test_requests_without_a_valid_token_change_nothing(factory, bad):
    value, signature = token(BOB).rsplit(".", 1)
    t = {
        "tampered": f"{value}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",
        "other key": token(BOB, key="another-secret-key-0123456789"),
        "confirm purpose": token(BOB, purpose="confirm"),
        "no token": "please",
        "unknown list": token(BOB, slug="no-such-list"),
    }[bad]
    outcome = apply(factory, request_mail(f"unsubscribe {t}")).outcome
    assert outcome == {"no token": "no-token", "unknown list": "unknown-list"}.get(
        bad, "invalid-token"
    )
    assert (
        subscription_statuses(factory, BOB) == {MAIN_LIST: "confirmed"} and consent(factory) == []
    )


def test_a_token_signed_with_a_rotated_out_key_still_works(factory):
    old = "the-old-secret-key-0123456789"
    request = apply(
        factory, request_mail(f"unsubscribe {token(BOB, key=old)}"), key=SECRET, old_keys=(old,)
    )
    assert request.outcome == "unsubscribed"


# --- the two intakes
# -------------------------------------------------------------------------------


def test_a_request_mail_through_sns_and_sqs_unsubscribes(factory, moto_endpoint):
    kwargs = dict(
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sns, sqs = boto3.client("sns", **kwargs), boto3.client("sqs", **kwargs)
    tag = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"inbound-{tag}", Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic = sns.create_topic(Name=f"inbound-{tag}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Message=received(request_mail(f"unsubscribe {token(BOB)}")))
    sns.publish(TopicArn=topic, Message=received(request_mail("hello")))
    sns.publish(
        TopicArn=topic, Message=received(request_mail("x"), encoding=None)
    )  # S3 alert: left

    verified = {"fetch_cert": moto_cert_fetcher(moto_endpoint), "cert_cache": CertCache()}
    result = poll_queue(
        sqs,
        queue_url,
        factory,
        [topic],
        once=True,
        wait_seconds=0,
        inbound=MailUnsubscriber(SECRET),
        **verified,
    )
    assert (
        result.mail_unsubscribed,
        result.mail_ignored,
        result.messages_deleted,
        result.messages_left,
    ) == (1, 1, 2, 1)
    assert subscription_statuses(factory, BOB) == {MAIN_LIST: "unsubscribed"}

    sns.publish(TopicArn=topic, Message=received(request_mail(f"unsubscribe {token(ALICE)}")))
    no_key = poll_queue(sqs, queue_url, factory, [topic], once=True, wait_seconds=0, **verified)
    assert (
        no_key.messages_left >= 1
        and subscription_statuses(factory, ALICE)[MAIN_LIST] == "confirmed"
    )


def test_a_request_mail_through_the_signed_webhook_unsubscribes(factory):
    signer = Signer()
    envelope = signer.sign(notification(received(request_mail(f"unsubscribe {token(BOB)}"))))
    response = handle_sns_webhook(
        json.dumps(envelope).encode(),
        allowed_topics=[TOPIC_ARN],
        session_factory=factory,
        fetch_cert=lambda url: signer.pem,
        cert_cache=CertCache(),
        inbound=MailUnsubscriber(SECRET),
    )
    assert response.status == 200 and "1 unsubscribed" in response.message
    assert subscription_statuses(factory, BOB) == {MAIN_LIST: "unsubscribed"}
    assert consent(factory) == [(BOB, MAIN_LIST, "unsubscribe", "mailto")]


# --- the CLI, for an MTA pipe
# --------------------------------------------------------------------------


def test_cli_reads_the_mail_from_stdin(factory, database_url):
    env = {"DATABASE_URL": database_url, "MAILER_SECRET_KEY": SECRET}
    run = CliRunner()
    done = run.invoke(
        cli,
        ["subscribers", "unsubscribe-mail"],
        input=request_mail(f"unsubscribe {token(BOB)}"),
        env=env,
        catch_exceptions=False,
    )
    assert done.exit_code == 0 and "subscriber 2 from ai-morning-post: unsubscribed" in done.output
    ignored = run.invoke(
        cli, ["subscribers", "unsubscribe-mail", "-"], input=request_mail("hi"), env=env
    )
    assert ignored.exit_code == 0 and "ignored: no unsubscribe token" in ignored.output
    assert subscription_statuses(factory, BOB) == {MAIN_LIST: "unsubscribed"}


def test_cli_asks_the_mta_to_retry_when_the_database_is_down():
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "MAILER_SECRET_KEY": SECRET}
    result = CliRunner().invoke(
        cli, ["subscribers", "unsubscribe-mail"], input=request_mail("unsubscribe a.b.c"), env=env
    )
    assert result.exit_code == 75, result.output
    assert (
        "not applied, the mail should be delivered again later: cannot open database"
        in result.output
    )
