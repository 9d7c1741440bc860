"""handle_sns_webhook: what POST /webhooks/ses does, with envelopes signed in the test."""

from __future__ import annotations

import json

import pytest

from mailer.track.intake import handle_sns_webhook
from mailer.track.sns import CertCache
from tests.track.conftest import LEDGER
from tests.track.dbview import consent, events, states, suppressions
from tests.track.payloads import text
from tests.track.sns_signing import (
    CERT_URL,
    FOREIGN_TOPIC_ARN,
    REGION,
    TOPIC_ARN,
    Signer,
    notification,
    subscription_confirmation,
)

INITIAL = {d: s for d, _, s, _ in LEDGER}


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


class FakeSns:
    def __init__(self):
        self.calls = []

    def confirm_subscription(self, **kwargs):
        self.calls.append(kwargs)
        return {"SubscriptionArn": kwargs["TopicArn"] + ":sub"}


@pytest.fixture
def post(factory, signer):
    sns_clients: dict[str, FakeSns] = {}
    fetched: list[str] = []

    def fetch(url):
        fetched.append(url)
        return signer.pem

    def client_for(region):
        return sns_clients.setdefault(region, FakeSns())

    def _post(envelope, fetch_cert=fetch):
        body = json.dumps(envelope).encode() if isinstance(envelope, dict) else envelope
        return handle_sns_webhook(
            body,
            allowed_topics=[TOPIC_ARN],
            session_factory=factory,
            sns_client_for_region=client_for,
            fetch_cert=fetch_cert,
            cert_cache=CertCache(),
        )

    _post.sns_clients = sns_clients
    _post.fetched = fetched
    return _post


def unchanged(factory) -> bool:
    return (
        states(factory) == INITIAL
        and suppressions(factory) == {}
        and events(factory) == []
        and consent(factory) == []
    )


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "Amazon SES Email Event Notification"])
def test_signed_notifications_are_recorded(post, factory, signer, version, subject):
    env = signer.sign(
        notification(text("identity_bounce_permanent_multi.json"), subject=subject), version
    )
    response = post(env)
    assert (response.status, response.result.recorded) == (200, 2)
    assert suppressions(factory) == {
        "bob@example.org": "hard-bounce",
        "carol@example.net": "hard-bounce",
    }
    assert {e.sns_message_id for e in events(factory)} == {env["MessageId"]}


def test_the_same_post_twice_is_accepted_once(post, factory, signer):
    env = signer.sign(notification(text("identity_complaint_with_type.json")))
    assert post(env).result.recorded == 1
    again = post(env)
    assert (again.status, again.result.recorded, again.result.duplicates) == (200, 0, 1)
    assert len(consent(factory)) == 2


def test_validation_message_is_accepted_and_ignored(post, factory, signer):
    response = post(signer.sign(notification(text("validation.txt"))))
    assert response.status == 200 and unchanged(factory)


def test_subscription_confirmation_uses_the_api(post, factory, signer):
    env = signer.sign(subscription_confirmation(), "1")
    response = post(env)
    assert response.status == 200
    assert post.sns_clients[REGION].calls == [
        {"TopicArn": TOPIC_ARN, "Token": env["Token"], "AuthenticateOnUnsubscribe": "true"}
    ]
    assert unchanged(factory)


def test_subscription_confirmation_failure_is_a_5xx(factory, signer):
    class Broken:
        def confirm_subscription(self, **kwargs):
            raise RuntimeError("throttled")

    env = signer.sign(subscription_confirmation())
    response = handle_sns_webhook(
        json.dumps(env),
        allowed_topics=[TOPIC_ARN],
        session_factory=factory,
        sns_client_for_region=lambda region: Broken(),
        fetch_cert=lambda url: signer.pem,
        cert_cache=CertCache(),
    )
    assert response.status >= 500


def _tampered(signer):
    env = signer.sign(notification(text("identity_delivery.json")))
    env["Message"] = text("identity_complaint_without_type.json")
    return env


def _downgraded(signer):
    env = signer.sign(notification(text("identity_complaint_without_type.json")), "2")
    env["SignatureVersion"] = "1"
    return env


REJECTED = {
    "unsigned": lambda s: notification(text("identity_complaint_without_type.json")),
    "tampered": _tampered,
    "sv2-to-sv1": _downgraded,
    "foreign-topic": lambda s: s.sign(
        notification(text("identity_complaint_without_type.json"), topic=FOREIGN_TOPIC_ARN)
    ),
    "subscription-foreign-topic": lambda s: s.sign(
        subscription_confirmation(topic=FOREIGN_TOPIC_ARN)
    ),
    "unsigned-subscription": lambda s: subscription_confirmation(),
    "not-json": lambda s: b"Type=Notification",
}
BAD_URLS = {
    "http": CERT_URL.replace("https://", "http://"),
    "lookalike-host": CERT_URL.replace("amazonaws.com/", "amazonaws.com.evil.example/"),
    "userinfo": CERT_URL.replace("amazonaws.com/", "amazonaws.com@evil.example/"),
    "port": CERT_URL.replace("amazonaws.com/", "amazonaws.com:8443/"),
    "path": "https://sns.us-east-1.amazonaws.com/certs/evil.pem",
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected_envelopes_change_nothing(post, factory, signer, case):
    response = post(REJECTED[case](signer))
    assert response.status == 403
    assert unchanged(factory) and post.sns_clients == {}


@pytest.mark.parametrize("case", sorted(BAD_URLS))
def test_bad_certificate_urls_change_nothing(post, factory, signer, case):
    env = signer.sign(
        notification(text("identity_complaint_without_type.json"), cert_url=BAD_URLS[case])
    )
    response = post(env)
    assert response.status == 403 and post.fetched == []
    assert unchanged(factory)


def test_certificate_fetch_failure_is_a_5xx_and_changes_nothing(post, factory, signer):
    def down(url):
        raise TimeoutError("timed out")

    response = post(
        signer.sign(notification(text("identity_complaint_without_type.json"))), fetch_cert=down
    )
    assert response.status == 503 and unchanged(factory)


def test_verified_but_unparseable_message_is_a_5xx(post, factory, signer):
    response = post(signer.sign(notification("{not json")))
    assert response.status == 500 and unchanged(factory)


def test_an_empty_allow_list_is_our_failure(factory, signer):
    env = signer.sign(notification(text("identity_delivery.json")))
    response = handle_sns_webhook(
        json.dumps(env),
        allowed_topics=[],
        session_factory=factory,
        fetch_cert=lambda url: signer.pem,
        cert_cache=CertCache(),
    )
    assert response.status == 500 and "MAILER_SNS_TOPIC_ARNS" in response.message
    assert unchanged(factory)
