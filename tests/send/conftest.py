"""Fixtures for the sender tests: AWS settings that can never reach AWS, the local fault-injecting
SES endpoint, moto in server mode, subscriber lists of any size, and a view of the ledger."""

from __future__ import annotations

import urllib.request

import boto3
import pytest
from sqlalchemy import select

from mailer.audience.importing.importer import ImportRow, import_rows
from mailer.audience.lists import ensure_list
from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import SendOptions, run_send
from mailer.store.db import transaction
from mailer.store.models import Delivery
from mailer.transports.ses import SesTransport
from tests.conftest import REPO
from tests.send.fakeses import FakeSes

LIST = load_list(REPO / "lists", "ai-morning-post")
ISSUE = "2026-11-20"

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    """Dummy credentials and a region for every sender test: nothing here can reach AWS."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def fake_ses():
    fake = FakeSes().start()
    yield fake
    fake.stop()


@pytest.fixture
def moto_url(aws_env, monkeypatch):
    from moto.server import ThreadedMotoServer
    from moto.ses import models as ses_models

    # moto's account allows 1 message/s; our pacing obeys it, which would make this test take 20 s.
    original = ses_models.SESQuota.__init__

    def faster(self, sent):
        original(self, sent)
        self.max_send_rate = 200

    monkeypatch.setattr(ses_models.SESQuota, "__init__", faster)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends live in this process and outlive the server: start from a clean account.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
    sesv2 = boto3.client("sesv2", endpoint_url=url)
    sesv2.create_email_identity(EmailIdentity=LIST.from_address)
    yield url
    server.stop()


def add_subscribers(factory, count: int, domain: str = "example.com") -> int:
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
    rows = [
        ImportRow(i + 2, f"reader{i:06d}@{domain}", f"Reader {i}", "confirmed")
        for i in range(count)
    ]
    import_rows(factory, list_id, rows, [], source="generated")
    return list_id


def ses_transport(url: str, **kwargs) -> SesTransport:
    return SesTransport(endpoint_url=url, **kwargs)


def send(factory, settings, transport, **options):
    content = load_issue_for(settings, LIST, ISSUE)
    options.setdefault("rate", 500.0)
    return run_send(factory, settings, LIST, content, transport, SendOptions(**options))


def ledger(factory) -> dict[str, Delivery]:
    with factory() as session:
        return {row.email: row for row in session.scalars(select(Delivery))}
