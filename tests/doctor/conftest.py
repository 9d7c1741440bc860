"""A whole installation for the doctor, on this machine: SES, SNS and SQS in moto (server mode),
the SES endpoint in front of it for what moto lacks (ses_overlay.py), the From domain's DNS
records on a local DNS server (dns_server.py), and the web app at https://news.example.test
(public_web.py). `installation.build()` makes the good setup, in which every check is ok; a test
then breaks one piece.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import urllib.request

import boto3
import pytest

from mailer.doctor.check import Check, Status
from mailer.doctor.runner import examine
from mailer.web import create_app
from tests.conftest import REPO
from tests.doctor.dns_server import LocalDns
from tests.doctor.public_web import HOST, ConnectProxy, TlsApp, make_certificate
from tests.doctor.ses_overlay import GOOD_ACCOUNT, SesOverlay

REGION = "us-east-1"
DOMAIN = "aimorningpost.example"  # lists/ai-morning-post.toml sends from morning@ it
MAIL_FROM = f"bounce.{DOMAIN}"
FEEDBACK_MX = f"feedback-smtp.{REGION}.amazonses.com"
SPF = "v=spf1 include:amazonses.com ~all"
DMARC = f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{DOMAIN}"
CONFIGURATION_SET = "mailer-events"
EVENT_TYPES = ["send", "reject", "bounce", "complaint", "delivery"]
STRONG_KEY = "k2V9xQ7pL4mZ8rT1wY6uH3sD5fG0jB-cN_eA"  # 36 characters, all different
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def overlay(moto_server):
    endpoint = SesOverlay(moto_server).start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def local_dns():
    with LocalDns() as dns:
        yield dns


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def proxy():
    tunnel = ConnectProxy()
    yield tunnel
    tunnel.stop()


@pytest.fixture
def aws_env(monkeypatch, moto_server, proxy, certificate):
    """Dummy credentials and every AWS service at moto; https through the local proxy."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    # moto's backends live in this process and outlive a test: each test starts from nothing
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()


class Installation:
    """The good setup, and the handles to break it."""

    def __init__(self, moto_url, overlay, dns, settings, factory, engine, proxy, certificate):
        kwargs = dict(endpoint_url=moto_url, region_name=REGION)
        self.ses = boto3.client("ses", **kwargs)
        self.sns = boto3.client("sns", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        self.overlay, self.dns, self.proxy, self.certificate = overlay, dns, proxy, certificate
        self.base_settings, self.factory, self.engine = settings, factory, engine
        self.web: TlsApp | None = None
        self.settings = settings

    # --- the good setup ----------------------------------------------------------------------

    def build(self) -> Installation:
        self.overlay.account = copy.deepcopy(GOOD_ACCOUNT)
        self.overlay.account_error = None
        self.overlay.requests.clear()
        self.overlay.rewrites = {}
        self.tokens = self.ses.verify_domain_dkim(Domain=DOMAIN)["DkimTokens"]
        self.ses.set_identity_mail_from_domain(Identity=DOMAIN, MailFromDomain=MAIL_FROM)
        self.topic = self.sns.create_topic(Name="ses-events")["TopicArn"]
        self.other_topic = self.sns.create_topic(Name="other-events")["TopicArn"]
        self.ses.create_configuration_set(ConfigurationSet={"Name": CONFIGURATION_SET})
        self.destination(CONFIGURATION_SET, "to-sns", self.topic, EVENT_TYPES)
        self.dlq_url = self.sqs.create_queue(QueueName="ses-events-dlq")["QueueUrl"]
        redrive = {"deadLetterTargetArn": self.arn(self.dlq_url), "maxReceiveCount": "5"}
        self.queue_url = self.sqs.create_queue(
            QueueName="ses-events", Attributes={"RedrivePolicy": json.dumps(redrive)}
        )["QueueUrl"]
        self.queue_arn = self.arn(self.queue_url)
        self.set_policy(self.policy(self.topic))
        # raw delivery: the poller verifies envelopes' signatures with certificates fetched from
        # sns.<region>.amazonaws.com, which the tests cannot reach (the round trip polls this)
        self.subscription = self.sns.subscribe(
            TopicArn=self.topic,
            Protocol="sqs",
            Endpoint=self.queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )["SubscriptionArn"]
        self.good_dns()
        self.settings = dataclasses.replace(
            self.base_settings,
            secret_key=STRONG_KEY,
            base_url=f"https://{HOST}",
            transport="ses",
            ses_endpoint_url=self.overlay.url,
            ses_configuration_set=CONFIGURATION_SET,
            sns_topic_arns=(self.topic,),
            sqs_queue_url=self.queue_url,
            dns_server=("127.0.0.1", self.dns.port),
            dns_timeout=1.0,
            lists_dir=REPO / "lists",
        )
        self.serve(self.settings)
        return self

    def good_dns(self) -> None:
        zone = self.dns.zone
        zone.records.clear()
        zone.silent.clear()
        for token in self.tokens:
            zone.set(f"{token}._domainkey.{DOMAIN}", "CNAME", f"{token}.dkim.amazonses.com")
        zone.set(MAIL_FROM, "TXT", SPF)
        zone.set(MAIL_FROM, "MX", f"10 {FEEDBACK_MX}")
        zone.set(f"_dmarc.{DOMAIN}", "TXT", DMARC)
        zone.set(DOMAIN, "TXT", "v=spf1 -all")  # the domain itself sends nothing directly

    def serve(self, settings) -> None:
        """The web app at https://news.example.test with these settings (replacing any)."""
        self.stop_web()
        self.web = TlsApp(create_app(settings), *self.certificate)
        self.proxy.route(HOST, self.web.port)

    def stop_web(self) -> None:
        if self.web is not None:
            self.web.stop()
            self.web = None
        self.proxy.unroute(HOST)

    # --- pieces ------------------------------------------------------------------------------

    def arn(self, queue_url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def destination(self, cs: str, name: str, topic: str, types: list[str]) -> None:
        self.ses.create_configuration_set_event_destination(
            ConfigurationSetName=cs,
            EventDestination={
                "Name": name,
                "Enabled": True,
                "MatchingEventTypes": types,
                "SNSDestination": {"TopicARN": topic},
            },
        )

    def policy(self, *topics: str, principal=None, condition=True) -> dict:
        statement = {
            "Sid": "ses-events-topic",
            "Effect": "Allow",
            "Principal": principal or {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": self.queue_arn,
        }
        if condition:
            statement["Condition"] = {"ArnEquals": {"aws:SourceArn": list(topics)}}
        owner = {  # what the SQS console adds to every queue: the owner's own principals
            "Sid": "__owner_statement",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "SQS:*",
            "Resource": self.queue_arn,
        }
        return {"Version": "2012-10-17", "Statement": [owner, statement]}

    def set_policy(self, policy: dict) -> None:
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)}
        )

    def change(self, **changes) -> None:
        self.settings = dataclasses.replace(self.settings, **changes)

    def env(self) -> dict[str, str]:
        """The settings as an operator's environment (for `mailer ...` through the CLI)."""
        s = self.settings
        return {
            "DATABASE_URL": s.database_url,
            "MAILER_CONFIG": str(s.outbox_dir.parent / "absent.toml"),
            "MAILER_SECRET_KEY": s.secret_key or "",
            "MAILER_BASE_URL": s.base_url,
            "MAILER_TRANSPORT": s.transport,
            "MAILER_SES_ENDPOINT_URL": s.ses_endpoint_url or "",
            "MAILER_SES_CONFIGURATION_SET": s.ses_configuration_set or "",
            "MAILER_SNS_TOPIC_ARNS": ",".join(s.sns_topic_arns),
            "MAILER_SQS_QUEUE_URL": s.sqs_queue_url or "",
            "MAILER_DNS_SERVER": f"127.0.0.1:{self.dns.port}",
            "MAILER_DNS_TIMEOUT": str(s.dns_timeout),
            "MAILER_LISTS_DIR": str(s.lists_dir),
            "MAILER_ISSUES_PATH": str(REPO / "issues"),
        }

    # --- the doctor --------------------------------------------------------------------------

    def examine(self, **options) -> dict[str, Check]:
        report = examine(self.settings, **options)
        found = {check.name: check for check in report.checks}
        assert len(found) == len(report.checks), "two checks share a name"
        return found


@pytest.fixture
def installation(
    aws_env, moto_server, overlay, local_dns, settings, factory, engine, proxy, certificate
):
    setup = Installation(
        moto_server, overlay, local_dns, settings, factory, engine, proxy, certificate
    )
    yield setup.build()
    setup.stop_web()


def statuses(found: dict[str, Check]) -> dict[str, Status]:
    return {name: check.status for name, check in found.items()}


def failed(found: dict[str, Check]) -> set[str]:
    return {name for name, check in found.items() if check.status == Status.FAIL}


def not_ok(found: dict[str, Check]) -> set[str]:
    return {name for name, check in found.items() if check.status != Status.OK}
