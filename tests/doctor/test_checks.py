"""The checks one by one where the whole installation is more than they need: the secret key and
the base URL, the SMTP transport against a local SMTP server, the file transport, events through
the webhook instead of a queue, DNS answers too long for UDP, a From domain below the verified
one, and settings that name no list."""

from __future__ import annotations

import dataclasses

import pytest

from mailer.config import Settings
from mailer.doctor import settings as settings_checks
from mailer.doctor.check import Status
from mailer.doctor.resolver import Resolver
from tests.conftest import REPO
from tests.doctor.conftest import DOMAIN, MAIL_FROM
from tests.doctor.dns_server import LocalDns
from tests.send.smtpserver import FaultySmtp, self_signed, start


@pytest.mark.parametrize(
    ("key", "status", "detail"),
    [
        (None, Status.FAIL, "MAILER_SECRET_KEY is not set: the web app refuses to start"),
        ("short-key", Status.FAIL, "has 9 characters, fewer than 16"),
        ("a" * 40, Status.WARN, "40 characters, 1 different ones"),
        ("0123456789abcdefghij", Status.WARN, "is weak: 20 characters"),
        ("k2V9xQ7pL4mZ8rT1wY6uH3sD5fG0jB-cN_eA", Status.OK, "set, 36 characters"),
    ],
)
def test_secret_key(key, status, detail):
    check = settings_checks.secret_key(Settings(secret_key=key))
    assert check.status == status and detail in check.detail
    if status != Status.OK:
        assert "secrets.token_urlsafe(32)" in check.fix


@pytest.mark.parametrize(
    ("url", "status", "detail"),
    [
        ("http://news.example.com", Status.FAIL, "is not https"),
        ("https://localhost:8443", Status.FAIL, "points to a local address"),
        ("https://127.0.0.1", Status.FAIL, "points to a local address"),
        ("https://10.1.2.3", Status.FAIL, "points to a local address"),
        ("https://[::1]:8000", Status.FAIL, "points to a local address"),
        ("https://news.example.com", Status.OK, "MAILER_BASE_URL https://news.example.com"),
    ],
)
def test_base_url(url, status, detail):
    check = settings_checks.base_url(Settings(base_url=url))
    assert check.status == status and detail in check.detail
    if status != Status.OK:
        assert check.fix.startswith("set MAILER_BASE_URL in /etc/mailer/mailer.env")


# --- SMTP -------------------------------------------------------------------------------------


@pytest.fixture
def smtp(tmp_path, monkeypatch):
    """A local SMTP server with STARTTLS (its certificate trusted here) and AUTH."""
    cert = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    handler = FaultySmtp()
    controller = start(handler, tls_cert=cert, auth=True)
    yield handler, controller.port
    controller.stop()


def _transport(settings: Settings):
    from mailer.doctor.runner import open_probe

    probe, _ = open_probe(settings, None)
    return settings_checks.transport(probe)


def test_smtp_that_answers_and_takes_the_login(settings, smtp):
    handler, port = smtp
    check = _transport(
        dataclasses.replace(
            settings,
            transport=f"smtp://127.0.0.1:{port}?starttls=1",
            smtp_user="sender",
            smtp_password="s3cret",
        )
    )
    assert check.status == Status.OK, check
    assert check.detail == f"127.0.0.1:{port} answers (EHLO, AUTH)"
    assert handler.logins == [("sender", True)]  # over TLS, and nothing sent
    assert handler.commands["MAIL"] == 0


def test_smtp_that_refuses_the_login(settings, smtp):
    _, port = smtp
    check = _transport(
        dataclasses.replace(
            settings,
            transport=f"smtp://127.0.0.1:{port}?starttls=1",
            smtp_user="sender",
            smtp_password="wrong",
        )
    )
    assert check.status == Status.FAIL
    assert check.detail == f"127.0.0.1:{port} refused MAILER_SMTP_USER's login: 535"
    assert "MAILER_SMTP_PASSWORD" in check.fix


def test_smtp_that_is_not_there(settings):
    from tests.send.smtpserver import free_port

    port = free_port()
    check = _transport(dataclasses.replace(settings, transport=f"smtp://127.0.0.1:{port}"))
    assert check.status == Status.FAIL
    assert f"127.0.0.1:{port} does not answer as an SMTP server" in check.detail
    assert "Connection refused" in check.detail


def test_the_file_transport_warns_and_leaves_out_the_ses_checks(installation):
    installation.change(transport="file")
    found = installation.examine()
    assert found["settings.transport"].status == Status.WARN
    assert found["ses"].detail.startswith("not checked: MAILER_TRANSPORT is file, not SES")
    assert not [name for name in found if name.startswith(("ses.", "events."))]
    assert [name for name in found if name.startswith("domain.")] == [f"domain.dmarc:{DOMAIN}"]
    assert found[f"domain.dmarc:{DOMAIN}"].status == Status.OK


# --- events through the webhook ---------------------------------------------------------------


def test_events_through_the_webhook_need_the_topic_to_post_there(installation, monkeypatch):
    installation.change(sqs_queue_url=None)
    found = installation.examine()
    subscription = found["events.subscription"]
    webhook = "https://news.example.test/webhooks/ses"
    assert subscription.status == Status.FAIL
    assert subscription.fix == (
        f"aws sns subscribe --topic-arn {installation.topic} --protocol https "
        f"--notification-endpoint {webhook} --region us-east-1"
    )
    assert found["events.queue_policy"].detail.startswith("no queue")
    arn = installation.sns.subscribe(
        TopicArn=installation.topic, Protocol="https", Endpoint=webhook
    )["SubscriptionArn"]
    subscribed = installation.examine()["events.subscription"]
    assert subscribed.status == Status.OK
    assert subscribed.detail == f"{installation.topic} delivers to {webhook}"
    # moto confirms every subscription at once; the SES endpoint in front of it (which forwards
    # SNS too) makes this one pending, as SNS shows it until the endpoint confirms
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", installation.overlay.url)
    installation.overlay.rewrite(
        "ListSubscriptionsByTopic",
        f"<SubscriptionArn>{arn}<",
        "<SubscriptionArn>PendingConfirmation<",
    )
    pending = installation.examine()["events.subscription"]
    assert pending.status == Status.FAIL
    assert (
        pending.detail
        == f"the subscription of {webhook} to {installation.topic} is not confirmed yet"
    )
    assert pending.fix.startswith("with web.healthz ok, run aws sns subscribe --topic-arn")


# --- DNS --------------------------------------------------------------------------------------


def test_a_txt_answer_too_long_for_udp_comes_over_tcp():
    """dnspython asks over UDP, sees the answer truncated, asks again over TCP."""
    long_dmarc = "v=DMARC1; p=reject; rua=" + ",".join(
        f"mailto:reports-{n}@collector-{n}.example.net" for n in range(30)
    )
    assert len(long_dmarc) > 1200
    with LocalDns() as dns:
        dns.zone.set(f"_dmarc.{DOMAIN}", "TXT", long_dmarc)
        found = Resolver(("127.0.0.1", dns.port), timeout=2).txt(f"_dmarc.{DOMAIN}")
    assert found.error is None and found.values == (long_dmarc,)


def test_a_from_domain_below_the_verified_domain(installation, tmp_path):
    """From news.aimorningpost.example, verified as aimorningpost.example: SES signs d= the
    parent; DMARC is read from the parent (the organisational domain) with its sp=."""
    lists = tmp_path / "lists"
    lists.mkdir()
    text = (REPO / "lists" / "ai-morning-post.toml").read_text(encoding="utf-8")
    (lists / "ai-morning-post.toml").write_text(
        text.replace(f"morning@{DOMAIN}", f"morning@news.{DOMAIN}"), encoding="utf-8"
    )
    installation.change(lists_dir=lists)
    installation.dns.zone.set(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=reject; sp=quarantine")
    installation.serve(installation.settings)
    found = installation.examine()
    sub = f"news.{DOMAIN}"
    assert found[f"domain.identity:{sub}"].detail == (
        f"{DOMAIN} (the parent of {sub}) is verified in SES us-east-1"
    )
    assert found[f"domain.dkim:{sub}"].status == Status.OK
    assert found[f"domain.spf:{sub}"].detail.startswith(f"{MAIL_FROM}:")
    dmarc = found[f"domain.dmarc:{sub}"]
    assert dmarc.status == Status.OK
    assert dmarc.detail == (f"p=quarantine at _dmarc.{DOMAIN}, adkim=r aspf=r, aligned: DKIM, SPF")
    # strict DKIM alignment: d=aimorningpost.example is not news.aimorningpost.example
    installation.dns.zone.set(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=reject; adkim=s")
    strict = installation.examine()[f"domain.dmarc:{sub}"]
    assert strict.status == Status.OK and strict.detail.endswith("aligned: SPF")


def test_a_list_that_does_not_exist(installation):
    found = installation.examine(list_slug="no-such-list")
    lists = found["settings.lists"]
    assert lists.status == Status.FAIL
    assert lists.detail.startswith("no list 'no-such-list'")
    assert found["web.one_click"].detail == (
        "not checked: no list to make a link for (see settings.lists)"
    )


@pytest.mark.parametrize(
    ("transport", "ses"),
    [
        ("ses", True),
        ("smtp://email-smtp.eu-west-1.amazonaws.com:587?starttls=1", True),  # SES's SMTP interface
        ("smtps://email-smtp.us-east-1.amazonaws.com:465", True),
        ("smtp://mail.example.com:587", False),
        ("file", False),
    ],
)
def test_which_transports_get_the_ses_checks(transport, ses):
    from mailer.doctor.probe import uses_ses

    assert uses_ses(Settings(transport=transport)) is ses


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
    ],
)
def test_the_dns_server_setting(raw, parsed):
    from mailer.config import load_settings

    settings = load_settings(environ={"MAILER_DNS_SERVER": raw, "MAILER_CONFIG": "/absent.toml"})
    assert settings.dns_server == parsed
