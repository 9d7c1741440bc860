"""Fixtures for the track tests: the shared migrated database (tests/conftest.py: SQLite, and
PostgreSQL when MAILER_TEST_DATABASE_URL is set) seeded with one send whose ledger rows carry SES
message ids."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import boto3
import pytest
from moto.server import ThreadedMotoServer

from mailer.store.db import session_factory, transaction
from mailer.store.models import Delivery, Issue, MailingList, Send, Subscriber, Subscription
from tests.conftest import DB_KINDS
from tests.track.payloads import M_ALICE, M_DAVE, M_ERIN, M_GRACE, M_HEIDI, M_IVAN, M_MULTI
from tests.track.sns_signing import REGION

# (delivery id, email, ledger state, provider message id); subscriber id == delivery id
LEDGER = [
    (1, "alice@example.com", "sent", M_ALICE),
    (2, "bob@example.org", "sent", M_MULTI),
    (3, "carol@example.net", "sent", M_MULTI),
    (4, "dave@example.com", "sent", M_DAVE),
    (5, "erin@example.com", "sent", M_ERIN),
    (6, "frank@example.com", "unknown", None),  # outcome unknown: settled by the Send event's tag
    (7, "grace@example.com", "sent", M_GRACE),
    (8, "heidi@example.com", "sent", M_HEIDI),
    (9, "ivan@example.com", "sent", M_IVAN),
]
MAIN_LIST, OTHER_LIST = 1, 2


def pytest_generate_tests(metafunc):
    """Every test that uses the database runs on SQLite and (when configured) PostgreSQL, through
    the
    shared `database_url` fixture of tests/conftest.py (own SQLite file or private PG schema)."""
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", DB_KINDS, indirect=True)


@pytest.fixture
def factory(engine):
    factory = session_factory(engine)
    with transaction(factory) as session:
        seed(session)
    return factory


def seed(session) -> None:
    session.add_all(
        [
            MailingList(id=MAIN_LIST, slug="ai-morning-post", name="The AI Morning Post"),
            MailingList(id=OTHER_LIST, slug="weekend-digest", name="Weekend Digest"),
        ]
    )
    session.flush()
    session.add(
        Issue(
            id=1,
            list_id=MAIN_LIST,
            issue_date=dt.date(2026, 11, 22),
            subject="The AI Morning Post",
            source_path="issues/ai-morning-post/2026-11-22.md",
            content_hash="0" * 64,
            html="<p>",
            text="t",
        )
    )
    session.flush()
    session.add(Send(id=1, issue_id=1, list_id=MAIN_LIST, state="done", planned_count=len(LEDGER)))
    for delivery_id, email, _, _ in LEDGER:
        session.add(Subscriber(id=delivery_id, email=email, name=email.split("@")[0].title()))
    session.flush()
    for delivery_id, email, state, message_id in LEDGER:
        session.add(Subscription(subscriber_id=delivery_id, list_id=MAIN_LIST, status="confirmed"))
        session.add(
            Delivery(
                id=delivery_id,
                send_id=1,
                subscriber_id=delivery_id,
                email=email,
                state=state,
                attempts=1,
                provider_message_id=message_id,
            )
        )
    # dave and alice are on a second list too: a complaint unsubscribes them everywhere
    session.add(Subscription(subscriber_id=4, list_id=OTHER_LIST, status="confirmed"))
    session.add(Subscription(subscriber_id=1, list_id=OTHER_LIST, status="confirmed"))
    session.flush()


def moto_cert_fetcher(endpoint: str):
    """A certificate fetcher for the envelopes moto delivers: moto signs them and serves the
    certificate
    at its endpoint (same path as SigningCertURL), but routes a GET there to SNS only when it
    carries an
    SNS credential scope (unsigned, it goes to S3)."""
    import requests

    from mailer.track.sns import CertificateMissingError

    scope = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sns/aws4_request, "
        "SignedHeaders=host, Signature=0"
    }

    def fetch(url: str) -> bytes:
        response = requests.get(endpoint + urlsplit(url).path, headers=scope, timeout=5)
        if response.status_code != 200:
            raise CertificateMissingError(
                f"moto has no certificate {url}: HTTP {response.status_code}"
            )
        return response.content

    return fetch


@pytest.fixture(scope="module")
def moto_endpoint():
    """moto in server mode on a free loopback port: SNS and SQS for the intake tests."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint):
    """(SNS client, SQS client) on the moto server, in REGION, with moto's dummy credentials."""
    kwargs = dict(
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return boto3.client("sns", **kwargs), boto3.client("sqs", **kwargs)
