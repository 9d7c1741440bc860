"""SNS envelope verification with a certificate generated here and an injected fetcher."""

from __future__ import annotations

import json

import pytest

from mailer.errors import MailerError
from mailer.track.sns import (
    TRANSIENT_TTL,
    CertCache,
    CertificateFetchError,
    SignatureError,
    confirm_subscription,
    load_envelope,
    parse_sqs_body,
    string_to_sign,
    verify_envelope,
)
from tests.track.sns_signing import (
    CERT_URL,
    FOREIGN_TOPIC_ARN,
    TOPIC_ARN,
    Signer,
    notification,
    subscription_confirmation,
)

ALLOWED = [TOPIC_ARN]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


class Fetcher:
    def __init__(self, pem: bytes):
        self.pem = pem
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return self.pem


@pytest.fixture
def fetch(signer) -> Fetcher:
    return Fetcher(signer.pem)


def verify(envelope, fetch, cache=None):
    verify_envelope(
        envelope, ALLOWED, fetch_cert=fetch, cache=cache if cache is not None else CertCache()
    )


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "Amazon SES Email Event Notification"])
def test_signed_notification_is_accepted(signer, fetch, version, subject):
    env = signer.sign(notification('{"eventType":"Send"}', subject=subject), version)
    verify(env, fetch)
    assert fetch.calls == [CERT_URL]


@pytest.mark.parametrize("version", ["1", "2"])
def test_subscription_confirmation_is_accepted(signer, fetch, version):
    verify(signer.sign(subscription_confirmation(), version), fetch)


def test_string_to_sign_field_order():
    env = notification("hello", subject="s", message_id="m-1")
    assert string_to_sign(env).decode() == (
        "Message\nhello\nMessageId\nm-1\nSubject\ns\nTimestamp\n2026-11-22T07:00:01.123Z\n"
        f"TopicArn\n{TOPIC_ARN}\nType\nNotification\n"
    )
    conf = dict(
        subscription_confirmation(),
        Message="m",
        MessageId="i",
        SubscribeURL="u",
        Timestamp="t",
        Token="k",
        TopicArn="a",
        Subject="not signed",
    )
    assert string_to_sign(conf).decode() == (
        "Message\nm\nMessageId\ni\nSubscribeURL\nu\nTimestamp\nt\nToken\nk\nTopicArn\na\n"
        "Type\nSubscriptionConfirmation\n"
    )


def test_unknown_fields_do_not_change_the_signature(signer, fetch):
    env = signer.sign(notification("x"))
    env["SomethingNew"] = "ignored"
    verify(env, fetch)


def test_certificate_is_cached_by_url(signer, fetch):
    cache = CertCache()
    for _ in range(3):
        verify(signer.sign(notification("x")), fetch, cache)
    assert fetch.calls == [CERT_URL]


def test_a_fetch_failure_is_remembered_briefly_then_retried(signer):
    now = [0.0]
    cache = CertCache(clock=lambda: now[0])
    calls = []

    def flaky(url):
        calls.append(url)
        if len(calls) == 1:
            raise OSError("connection reset")
        return signer.pem

    env = signer.sign(notification("x"))
    for _ in range(3):
        with pytest.raises(CertificateFetchError) as info:
            verify(env, flaky, cache)
        assert info.value.retryable and len(cache) == 0
    assert len(calls) == 1
    now[0] += TRANSIENT_TTL + 1
    verify(env, flaky, cache)
    assert len(calls) == 2 and len(cache) == 1


def test_a_fetched_non_certificate_is_not_cached(signer):
    cache = CertCache()
    env = signer.sign(notification("x"))
    with pytest.raises(SignatureError) as info:
        verify(env, lambda url: b"<html>not a cert</html>", cache)
    assert not info.value.retryable and len(cache) == 0


# --- rejected ---------------------------------------------------------------------------------


def rejected(env, fetch):
    with pytest.raises(SignatureError) as info:
        verify(env, fetch)
    assert isinstance(info.value, MailerError)
    return info.value


def test_unsigned_is_rejected(fetch):
    env = notification("x")
    assert "Signature" not in env
    rejected(env, fetch)


@pytest.mark.parametrize("version", ["1", "2"])
def test_tampered_message_is_rejected(signer, fetch, version):
    env = signer.sign(notification('{"eventType":"Delivery"}'), version)
    env["Message"] = '{"eventType":"Complaint"}'
    rejected(env, fetch)


@pytest.mark.parametrize(
    "field,value",
    [
        ("Subject", "added"),
        ("MessageId", "other"),
        ("Timestamp", "2026-11-23T00:00:00.000Z"),
        ("Type", "SubscriptionConfirmation"),
    ],
)
def test_tampered_signed_fields_are_rejected(signer, fetch, field, value):
    env = signer.sign(notification("x"))
    env[field] = value
    rejected(env, fetch)


def test_sv2_downgraded_to_sv1_is_rejected(signer, fetch):
    env = signer.sign(notification("x"), "2")
    env["SignatureVersion"] = "1"
    rejected(env, fetch)


@pytest.mark.parametrize("version", ["3", "", None, 2])
def test_other_signature_versions_are_rejected(signer, fetch, version):
    env = signer.sign(notification("x"), "2")
    env["SignatureVersion"] = version
    rejected(env, fetch)
    assert fetch.calls == []


def test_signature_by_another_key_is_rejected(fetch):
    env = Signer().sign(notification("x"))
    rejected(env, fetch)


def test_foreign_topic_is_rejected_before_fetching(signer, fetch):
    env = signer.sign(notification("x", topic=FOREIGN_TOPIC_ARN))
    rejected(env, fetch)
    assert fetch.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-0a.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-0a.pem",
        "https://evil.example@sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
        "https://user:pw@sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0a.pem",
        "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-0a.pem",
        "https://sns.us-east-1.amazonaws.com/evil.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem/../x.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.crt",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem?x=1",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem#f",
        "https://sns.us-east-1.amazonaws.com./SimpleNotificationService-0a.pem",
        "https://SNS.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
        "https://evilsns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-0a.pem",
        # not the topic's region
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0a.pem",
        # not the topic's partition
        "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-0a.pem",
        "//sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
    ],
)
def test_bad_certificate_urls_are_rejected_before_fetching(signer, fetch, url):
    env = signer.sign(notification("x", cert_url=url))
    rejected(env, fetch)
    assert fetch.calls == []


def test_china_region_url_is_accepted_for_china_topic(signer, fetch):
    topic = "arn:aws-cn:sns:cn-north-1:123456789012:ses-events"
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0a.pem"
    env = signer.sign(notification("x", topic=topic, cert_url=url))
    verify_envelope(env, [topic], fetch_cert=fetch, cache=CertCache())


def test_missing_required_field_is_rejected(signer, fetch):
    env = signer.sign(subscription_confirmation())
    del env["Token"]
    rejected(env, fetch)


def test_garbage_signature_is_rejected(signer, fetch):
    env = signer.sign(notification("x"))
    env["Signature"] = "not base64!!"
    rejected(env, fetch)


# --- confirmation and bodies -----------------------------------------------------------------


class FakeSns:
    def __init__(self):
        self.calls = []

    def confirm_subscription(self, **kwargs):
        self.calls.append(kwargs)
        return {"SubscriptionArn": kwargs["TopicArn"] + ":sub-1"}


def test_confirm_subscription_uses_the_api_with_topic_and_token():
    env = subscription_confirmation()
    client = FakeSns()
    assert confirm_subscription(env, client) == TOPIC_ARN + ":sub-1"
    assert client.calls == [
        {"TopicArn": TOPIC_ARN, "Token": env["Token"], "AuthenticateOnUnsubscribe": "true"}
    ]


def test_confirm_subscription_refuses_notifications():
    with pytest.raises(SignatureError):
        confirm_subscription(notification("x"), FakeSns())


def test_load_envelope_rejects_non_objects():
    assert load_envelope(b'{"Type": "Notification"}') == {"Type": "Notification"}
    for body in (b"", b"[]", b"\xff\xfe", b"Type=Notification"):
        with pytest.raises(SignatureError):
            load_envelope(body)


def test_parse_sqs_body_envelope_and_raw():
    env = notification('{"eventType":"Send"}', message_id="sns-1")
    inbound = parse_sqs_body(json.dumps(env))
    assert (inbound.message, inbound.sns_message_id, inbound.topic_arn, inbound.raw_delivery) == (
        '{"eventType":"Send"}',
        "sns-1",
        TOPIC_ARN,
        False,
    )
    raw = parse_sqs_body('{"eventType":"Send","mail":{}}')
    assert (
        raw.raw_delivery
        and raw.message == '{"eventType":"Send","mail":{}}'
        and raw.topic_arn is None
    )
    text = parse_sqs_body("Successfully validated SNS topic for Amazon SES event publishing.")
    assert text.raw_delivery and text.message.startswith("Successfully")
