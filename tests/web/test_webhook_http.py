"""`POST /webhooks/ses` over real HTTP: signed SNS envelopes change the ledger; forged ones change
nothing."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import func, select, update

from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.db import transaction
from mailer.store.models import Delivery, Event, Suppression
from mailer.transports.file import FileTransport
from tests.conftest import DB_KINDS, REPO, import_sample
from tests.track.sns_signing import (
    FOREIGN_TOPIC_ARN,
    TOPIC_ARN,
    Signer,
    notification,
    subscription_confirmation,
)

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


@pytest.fixture
def hook(serve, factory):
    """The app with SES events allowed from TOPIC_ARN, a test signing certificate, and a sent
    issue."""
    signer = Signer()
    live = serve(settings_changes={"sns_topic_arns": (TOPIC_ARN,)})
    live.app.extensions["mailer"]["sns_fetch_cert"] = lambda url: signer.pem
    list_def = load_list(REPO / "lists", "ai-morning-post")
    import_sample(factory)
    settings = live.settings
    run_send(
        factory,
        settings,
        list_def,
        load_issue_for(settings, list_def, "2026-11-20"),
        FileTransport(settings.outbox_dir),
    )
    with transaction(factory) as session:
        row = session.execute(
            select(Delivery.id, Delivery.email).order_by(Delivery.id).limit(1)
        ).one()
        session.execute(
            update(Delivery).where(Delivery.id == row.id).values(provider_message_id="ses-hook-1")
        )
    return live, signer, row


def bounce_for(row) -> str:
    return json.dumps(
        {
            "notificationType": "Bounce",
            "mail": {"messageId": "ses-hook-1", "destination": [row.email]},
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "feedbackId": "fb-hook",
                "bouncedRecipients": [{"emailAddress": row.email}],
            },
        }
    )


def post(live, envelope: dict):
    return live.post(
        "/webhooks/ses",
        data=json.dumps(envelope),
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": envelope["Type"],
        },
    )


def snapshot(factory):
    with factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Event)),
            session.scalar(select(func.count()).select_from(Suppression)),
            tuple(session.scalars(select(Delivery.state).order_by(Delivery.id))),
        )


def test_signed_bounce_is_recorded_and_suppresses(hook, factory):
    live, signer, row = hook
    response = post(live, signer.sign(notification(bounce_for(row))))
    assert response.status_code == 200, response.text
    with factory() as session:
        assert session.scalar(select(Delivery.state).where(Delivery.id == row.id)) == "bounced"
        assert (
            session.scalar(select(Suppression.reason).where(Suppression.email == row.email.lower()))
            == "hard-bounce"
        )
    again = post(
        live, signer.sign(notification(bounce_for(row)))
    )  # SNS retries: same event, no new effect
    assert again.status_code == 200
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1


@pytest.mark.parametrize(
    "forge", ["tampered", "foreign-topic", "unsigned", "downgrade", "lookalike-cert"]
)
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
    client = boto3.client(
        "sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "confirm_subscription",
            {"SubscriptionArn": f"{TOPIC_ARN}:sub-1"},
            {
                "TopicArn": TOPIC_ARN,
                "Token": envelope["Token"],
                "AuthenticateOnUnsubscribe": "true",
            },
        )
        live.app.extensions["mailer"]["sns_client_for_region"] = lambda region: client
        response = post(live, envelope)
        assert response.status_code == 200, response.text
        stub.assert_no_pending_responses()


# --- the edges: SNS's size limit, line breaks in signed fields, failing certificate URLs
# -------------


def test_a_250_kb_signed_notification_is_accepted(hook, factory):
    """SNS messages go up to 256 KiB; a bounce with a long diagnostic (or many recipients) gets
    there."""
    live, signer, row = hook
    message = json.loads(bounce_for(row))
    message["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = "smtp; 550 5.1.1 " + "x" * 250_000
    envelope = signer.sign(notification(json.dumps(message)))
    assert len(json.dumps(envelope)) > 250_000
    response = post(live, envelope)
    assert response.status_code == 200, response.text[:300]
    with factory() as session:
        assert session.scalar(select(Delivery.state).where(Delivery.id == row.id)) == "bounced"


def test_a_body_beyond_what_sns_sends_is_refused(hook, factory):
    live, signer, row = hook
    before = snapshot(factory)
    response = live.post(
        "/webhooks/ses",
        data=b"{" + b" " * (2 << 20) + b"}",
        headers={"Content-Type": "text/plain; charset=UTF-8"},
    )
    assert response.status_code == 413
    assert snapshot(factory) == before


def test_a_line_break_in_a_signed_field_cannot_move_a_signature(hook, factory):
    """The string to sign is `Name\\nValue\\n` per field: a MessageId carrying
    "\\nSubject\\n<subject>"
    and no Subject yields the same bytes as the genuine envelope, so the genuine signature would fit
    an
    envelope with another MessageId (a replay SNS never sent)."""
    live, signer, row = hook
    genuine = signer.sign(
        notification(bounce_for(row), subject="Amazon SES Email Event Notification")
    )
    forged = {k: v for k, v in genuine.items() if k != "Subject"}
    forged["MessageId"] = f"{genuine['MessageId']}\nSubject\n{genuine['Subject']}"
    before = snapshot(factory)
    response = post(live, forged)
    assert response.status_code == 403
    assert "line break" in response.text and "MessageId" in response.text
    assert snapshot(factory) == before


class CertServer:
    """A local stand-in for the SNS certificate host: answers every GET with `status`, counts them,
    and
    can hold requests until released (to see how many fetches run at once)."""

    def __init__(self, status: int = 404, body: bytes = b"no such certificate", hold: bool = False):
        import http.server
        import threading

        self.status, self.body, self.requests, self.in_flight = status, body, [], 0
        self.release, self.lock, self.arrived = (
            threading.Event(),
            threading.Lock(),
            threading.Condition(),
        )
        if not hold:
            self.release.set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.arrived:
                    outer.requests.append(self.path)
                    outer.in_flight += 1
                    outer.arrived.notify_all()
                outer.release.wait(30)
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)
                with outer.arrived:
                    outer.in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def fetcher(self):
        """mailer's own HTTPS fetcher, pointed at this server (same path, plain http on
        loopback)."""
        from urllib.parse import urlsplit

        from mailer.track.sns import fetch_cert_https

        return lambda url: fetch_cert_https(self.url + urlsplit(url).path)

    def wait_for(self, count: int) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=30)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cert_server():
    servers = []

    def start(**options) -> CertServer:
        servers.append(CertServer(**options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_failing_certificate_url_is_fetched_once_per_window(hook, factory, cert_server):
    from mailer.track.sns import NEGATIVE_TTL, CertCache

    live, signer, row = hook
    certs = cert_server(status=404)
    now = [1000.0]
    ext = live.app.extensions["mailer"]
    ext["sns_fetch_cert"] = certs.fetcher()
    ext["sns_cert_cache"] = CertCache(clock=lambda: now[0])
    before = snapshot(factory)
    statuses = [
        post(live, signer.sign(notification(bounce_for(row)))).status_code for _ in range(5)
    ]
    assert statuses == [403] * 5  # the certificate host said there is no such certificate
    assert len(certs.requests) == 1
    now[0] += NEGATIVE_TTL + 1  # the window is over: the URL is tried again
    assert post(live, signer.sign(notification(bounce_for(row)))).status_code == 403
    assert len(certs.requests) == 2
    assert snapshot(factory) == before


def test_an_unreachable_certificate_host_is_retried_soon_not_at_once(hook, factory, cert_server):
    """Our side failing (5xx, timeout) is a 503 so SNS retries; it is remembered only briefly."""
    from mailer.track.sns import TRANSIENT_TTL, CertCache

    live, signer, row = hook
    certs = cert_server(status=503)
    now = [1000.0]
    ext = live.app.extensions["mailer"]
    ext["sns_fetch_cert"] = certs.fetcher()
    ext["sns_cert_cache"] = CertCache(clock=lambda: now[0])
    assert [
        post(live, signer.sign(notification(bounce_for(row)))).status_code for _ in range(3)
    ] == [503] * 3
    assert len(certs.requests) == 1
    now[0] += TRANSIENT_TTL + 1
    certs.status, certs.body = 200, signer.pem
    assert post(live, signer.sign(notification(bounce_for(row)))).status_code == 200
    assert len(certs.requests) == 2


def test_a_flood_of_certificate_urls_starts_a_bounded_number_of_fetches(hook, factory, cert_server):
    import concurrent.futures

    from mailer.track.sns import CertCache

    live, signer, row = hook
    certs = cert_server(status=404, hold=True)
    ext = live.app.extensions["mailer"]
    ext["sns_fetch_cert"] = certs.fetcher()
    ext["sns_cert_cache"] = CertCache(max_fetches=2)

    def envelope(n: int) -> dict:
        url = f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{n:032x}.pem"
        return signer.sign(notification(bounce_for(row), cert_url=url))

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        held = [pool.submit(post, live, envelope(n)) for n in range(2)]
        certs.wait_for(2)  # both fetch slots are taken, their requests held by the certificate host
        refused = [post(live, envelope(n)) for n in range(2, 12)]
        assert [r.status_code for r in refused] == [503] * 10  # SNS retries these later
        assert all("certificate fetches" in r.text for r in refused)
        assert len(certs.requests) == 2
        certs.release.set()
        assert [f.result().status_code for f in held] == [403, 403]
    assert len(certs.requests) == 2
