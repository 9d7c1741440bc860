"""Break one piece of the good setup: exactly its check fails (or warns), with its fix; every
other check stays ok, except those that depend on the broken one, which say "not checked".

SES, SNS and SQS are moto; where moto cannot produce a state (the sandbox, sending disabled,
quotas, DKIM off, a pending identity) the SES endpoint in front of it does (ses_overlay.py). DNS
is a local server (dns_server.py); the web app is served at https://news.example.test.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from mailer.doctor.check import Status
from tests.conftest import import_sample
from tests.doctor.conftest import DOMAIN, MAIL_FROM, REGION, Installation
from tests.doctor.public_web import make_certificate
from tests.web.conftest import SECOND_LIST


def d(what: str) -> str:
    return f"domain.{what}:{DOMAIN}"


@dataclass(frozen=True)
class Case:
    id: str
    breaks: Callable[[Installation], None]
    name: str  # the check that must report it
    status: Status = Status.FAIL
    fix: Callable[[Installation], str] | str = ""  # in its fix
    detail: str = ""  # in its detail
    not_checked: frozenset[str] = field(default_factory=frozenset)  # dependents: warn
    also_failing: frozenset[str] = field(default_factory=frozenset)  # a case breaking two pieces

    def __str__(self) -> str:
        return self.id


DOMAIN_DEPENDENTS = frozenset({d("dkim"), d("mail_from"), d("spf")})
NO_DESTINATION = frozenset({"events.destination", "events.topic_allowed"})


def dkim_off(i: Installation) -> None:
    i.overlay.rewrite(
        "GetIdentityDkimAttributes",
        "<DkimEnabled>true</DkimEnabled>",
        "<DkimEnabled>false</DkimEnabled>",
    )


def status_of(action: str, tag: str, new: str):
    def breaks(i: Installation) -> None:
        i.overlay.rewrite(action, f"<{tag}>Success</{tag}>", f"<{tag}>{new}</{tag}>")

    return breaks


def account(**changes):
    def breaks(i: Installation) -> None:
        for key, value in changes.items():
            if key in ("Max24HourSend", "MaxSendRate", "SentLast24Hours"):
                i.overlay.account["SendQuota"][key] = value
            else:
                i.overlay.account[key] = value

    return breaks


def dns(name: str, rtype: str, *values: str):
    return lambda i: i.dns.zone.set(name, rtype, *values)


def first_token_missing(i: Installation) -> None:
    i.dns.zone.set(f"{i.tokens[1]}._domainkey.{DOMAIN}", "CNAME")


def first_token_elsewhere(i: Installation) -> None:
    i.dns.zone.set(f"{i.tokens[0]}._domainkey.{DOMAIN}", "CNAME", "selector.dkim.example.net")


def configuration_set(name: str, *types: str, enabled: bool = True):
    def breaks(i: Installation) -> None:
        i.ses.create_configuration_set(ConfigurationSet={"Name": name})
        if types:
            i.ses.create_configuration_set_event_destination(
                ConfigurationSetName=name,
                EventDestination={
                    "Name": f"{name}-sns",
                    "Enabled": enabled,
                    "MatchingEventTypes": list(types),
                    "SNSDestination": {"TopicARN": i.topic},
                },
            )
        i.change(ses_configuration_set=name)

    return breaks


def subscribed_elsewhere(i: Installation) -> None:
    i.sns.unsubscribe(SubscriptionArn=i.subscription)
    other = i.sqs.create_queue(QueueName="somewhere-else")["QueueUrl"]
    i.sns.subscribe(TopicArn=i.topic, Protocol="sqs", Endpoint=i.arn(other))


def redrive_off(i: Installation) -> None:
    i.sqs.set_queue_attributes(QueueUrl=i.queue_url, Attributes={"RedrivePolicy": ""})


def queue_without(attribute: str):
    """A second queue, subscribed, with a policy and a dead-letter queue except `attribute`."""

    def breaks(i: Installation) -> None:
        attributes = i.sqs.get_queue_attributes(
            QueueUrl=i.queue_url, AttributeNames=["Policy", "RedrivePolicy"]
        )["Attributes"]
        attributes.pop(attribute)
        url = i.sqs.create_queue(QueueName="ses-events-2")["QueueUrl"]
        arn = i.arn(url)
        if "Policy" in attributes:
            attributes["Policy"] = attributes["Policy"].replace(i.queue_arn, arn)
        i.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        i.sns.subscribe(
            TopicArn=i.topic,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        i.change(sqs_queue_url=url)

    return breaks


def web_with(**changes):
    return lambda i: i.serve(dataclasses.replace(i.settings, **changes))


def other_list_only(i: Installation) -> None:
    """The web app has a lists folder of its own, without the list the mails are for."""
    folder = i.settings.outbox_dir.parent / "web-lists"
    folder.mkdir()
    (folder / "weekend-digest.toml").write_text(SECOND_LIST)
    i.serve(dataclasses.replace(i.settings, lists_dir=folder))


CASES = [
    # --- SES account (GetAccount through the overlay: moto has none) -------------------------
    Case(
        "sandbox",
        account(ProductionAccessEnabled=False),
        "ses.production_access",
        fix="Request production access, or: aws sesv2 put-account-details "
        "--production-access-enabled --mail-type MARKETING "
        "--website-url https://news.example.test",
        detail="sandbox",
    ),
    Case(
        "sending disabled",
        account(SendingEnabled=False),
        "ses.sending_enabled",
        fix=f"aws sesv2 put-account-sending-attributes --sending-enabled --region {REGION}",
    ),
    Case(
        "account shut down",
        account(EnforcementStatus="SHUTDOWN"),
        "ses.sending_enabled",
        fix="Reputation metrics",
    ),
    Case(
        "account on probation",
        account(EnforcementStatus="PROBATION"),
        "ses.sending_enabled",
        Status.WARN,
    ),
    Case(
        "24-hour quota below the list",
        lambda i: (account(Max24HourSend=10.0)(i), import_sample(i.factory)),
        "ses.quota",
        fix="Sending quota (us-east-1): request at least 21 messages per day",
        detail="the lists have 21 recipient(s)",
    ),
    Case(
        "send rate above MaxSendRate",
        account(MaxSendRate=1.0),
        "ses.quota",
        Status.WARN,
        fix="set MAILER_SEND_RATE=1 in /etc/mailer/mailer.env",
    ),
    Case(
        "GetAccount denied",
        lambda i: setattr(i.overlay, "account_error", (403, "AccessDeniedException")),
        "settings.transport",
        fix="allow ses:GetAccount in the IAM policy",
        not_checked=frozenset(
            {"ses.region", "ses.production_access", "ses.sending_enabled", "ses.quota"}
        ),
    ),
    # --- the From domain: SES ------------------------------------------------------------------
    Case(
        "identity unverified",
        lambda i: i.ses.delete_identity(Identity=DOMAIN),
        d("identity"),
        fix=f"aws sesv2 create-email-identity --email-identity {DOMAIN} --region {REGION}",
        not_checked=DOMAIN_DEPENDENTS,
    ),
    Case(
        "identity pending",
        status_of("GetIdentityVerificationAttributes", "VerificationStatus", "Pending"),
        d("identity"),
        fix=lambda i: (
            f"add DNS records: {i.tokens[0]}._domainkey.{DOMAIN} CNAME "
            f"{i.tokens[0]}.dkim.amazonses.com; "
        ),
        detail="(Pending)",
        not_checked=DOMAIN_DEPENDENTS,
    ),
    Case(
        "DKIM off",
        dkim_off,
        d("dkim"),
        fix=f"aws sesv2 put-email-identity-dkim-attributes --email-identity {DOMAIN} "
        f"--signing-enabled --region {REGION}",
    ),
    Case(
        "no custom MAIL FROM",
        lambda i: i.ses.set_identity_mail_from_domain(Identity=DOMAIN),
        d("mail_from"),
        Status.WARN,
        fix=f"aws sesv2 put-email-identity-mail-from-attributes --email-identity {DOMAIN} "
        f"--mail-from-domain bounce.{DOMAIN} --behavior-on-mx-failure USE_DEFAULT_VALUE",
        not_checked=frozenset({d("spf")}),
    ),
    Case(
        "MAIL FROM failed in SES",
        status_of("GetIdentityMailFromDomainAttributes", "MailFromDomainStatus", "Failed"),
        d("mail_from"),
        fix=f"add DNS records: {MAIL_FROM} MX 10 feedback-smtp.{REGION}.amazonses.com; "
        f'{MAIL_FROM} TXT "v=spf1 include:amazonses.com ~all"',
    ),
    # --- the From domain: DNS ------------------------------------------------------------------
    Case(
        "a DKIM record missing",
        first_token_missing,
        d("dkim"),
        fix=lambda i: (
            f"add DNS record: {i.tokens[1]}._domainkey.{DOMAIN} CNAME "
            f"{i.tokens[1]}.dkim.amazonses.com"
        ),
        detail="only 2 of 3",
    ),
    Case(
        "a DKIM record pointing elsewhere",
        first_token_elsewhere,
        d("dkim"),
        fix=lambda i: f"{i.tokens[0]}._domainkey.{DOMAIN} CNAME {i.tokens[0]}.dkim.amazonses.com",
    ),
    Case(
        "no SPF record",
        dns(MAIL_FROM, "TXT"),
        d("spf"),
        fix=f'add DNS record: {MAIL_FROM} TXT "v=spf1 include:amazonses.com ~all"',
        detail=f"no SPF record at {MAIL_FROM}",
    ),
    Case(
        "SPF without amazonses.com",
        dns(MAIL_FROM, "TXT", "v=spf1 mx ~all"),
        d("spf"),
        fix=f'add DNS record: {MAIL_FROM} TXT "v=spf1 include:amazonses.com ~all"',
        detail="does not include amazonses.com",
    ),
    Case(
        "two SPF records",
        dns(MAIL_FROM, "TXT", "v=spf1 include:amazonses.com ~all", "v=spf1 mx -all"),
        d("spf"),
        fix="remove the other SPF records",
    ),
    Case(
        "SPF that lets everyone send",
        dns(MAIL_FROM, "TXT", "v=spf1 include:amazonses.com +all"),
        d("spf"),
        detail="does not end in ~all or -all",
    ),
    Case(
        "no MX for the MAIL FROM domain",
        dns(MAIL_FROM, "MX"),
        d("spf"),
        fix=f"add DNS record: {MAIL_FROM} MX 10 feedback-smtp.{REGION}.amazonses.com",
    ),
    Case(
        "no DMARC record",
        dns(f"_dmarc.{DOMAIN}", "TXT"),
        d("dmarc"),
        fix=f'add DNS record: _dmarc.{DOMAIN} TXT "v=DMARC1; p=none; '
        f'rua=mailto:dmarc-reports@{DOMAIN}"',
    ),
    Case(
        "DMARC p=none",
        dns(f"_dmarc.{DOMAIN}", "TXT", f"v=DMARC1; p=none; rua=mailto:dmarc@{DOMAIN}"),
        d("dmarc"),
        Status.WARN,
        fix=f'_dmarc.{DOMAIN} TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{DOMAIN}"',
    ),
    Case(
        "DMARC without a policy",
        dns(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; rua=mailto:x@example.com"),
        d("dmarc"),
        detail="no valid policy",
    ),
    Case(
        "DMARC strict SPF, DKIM off: nothing aligns",
        lambda i: (dkim_off(i), dns(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=reject; aspf=s")(i)),
        d("dmarc"),
        fix=f'_dmarc.{DOMAIN} TXT "v=DMARC1; p=reject"',
        detail="neither DKIM nor SPF aligns",
        also_failing=frozenset({d("dkim")}),
    ),
    Case(
        "the resolver does not answer",
        lambda i: i.dns.zone.silent.add(f"_dmarc.{DOMAIN}"),
        d("dmarc"),
        Status.WARN,
        fix="set MAILER_DNS_SERVER (or --dns-server) to a resolver that answers",
        detail="cannot tell: no answer within 1 s",
    ),
    # --- the events path -----------------------------------------------------------------------
    Case(
        "configuration set not set",
        lambda i: i.change(ses_configuration_set=None),
        "events.configuration_set",
        fix="aws sesv2 create-configuration-set --configuration-set-name mailer-events",
        not_checked=NO_DESTINATION,
    ),
    Case(
        "configuration set missing",
        lambda i: i.change(ses_configuration_set="gone"),
        "events.configuration_set",
        fix=f"aws sesv2 create-configuration-set --configuration-set-name gone --region {REGION}",
        not_checked=NO_DESTINATION,
    ),
    Case(
        "configuration set without a destination",
        configuration_set("bare"),
        "events.destination",
        fix=lambda i: (
            "aws sesv2 create-configuration-set-event-destination "
            "--configuration-set-name bare --event-destination-name mailer-events "
            "--event-destination "
            '\'{"Enabled":true,"MatchingEventTypes":["SEND","REJECT","BOUNCE","COMPLAINT","DELIVERY"],'
            f'"SnsDestination":{{"TopicArn":"{i.topic}"}}}}\' --region {REGION}'
        ),
        not_checked=frozenset({"events.topic_allowed"}),
    ),
    Case(
        "event types missing",
        configuration_set("partial", "send", "bounce", "complaint", "open"),
        "events.destination",
        fix=lambda i: (
            "aws sesv2 update-configuration-set-event-destination "
            "--configuration-set-name partial --event-destination-name partial-sns "
            '--event-destination \'{"Enabled":true,"MatchingEventTypes":["SEND","REJECT","BOUNCE",'
            f'"COMPLAINT","DELIVERY","OPEN"],"SnsDestination":{{"TopicArn":"{i.topic}"}}}}\''
        ),
        detail="does not publish REJECT, DELIVERY",
    ),
    Case(
        "destination disabled",
        configuration_set(
            "off", "send", "reject", "bounce", "complaint", "delivery", enabled=False
        ),
        "events.destination",
        fix="update-configuration-set-event-destination",
        detail="is disabled",
    ),
    Case(
        "topic not in MAILER_SNS_TOPIC_ARNS",
        lambda i: i.change(sns_topic_arns=(i.other_topic,)),
        "events.topic_allowed",
        fix=lambda i: (
            f"set MAILER_SNS_TOPIC_ARNS={i.other_topic},{i.topic} in /etc/mailer/mailer.env"
        ),
    ),
    Case(
        "topic not subscribed to the queue",
        lambda i: i.sns.unsubscribe(SubscriptionArn=i.subscription),
        "events.subscription",
        fix=lambda i: (
            f"aws sns subscribe --topic-arn {i.topic} --protocol sqs "
            f"--notification-endpoint {i.queue_arn} --region {REGION}"
        ),
    ),
    Case(
        "topic subscribed to another queue",
        subscribed_elsewhere,
        "events.subscription",
        detail="does not deliver to",
    ),
    Case(
        "queue policy admits another topic",
        lambda i: i.set_policy(i.policy(i.other_topic)),
        "events.queue_policy",
        fix=lambda i: f'\\"aws:SourceArn\\":[\\"{i.topic}\\"]',
        detail="lets arn:aws:sns:us-east-1:123456789012:other-events send to the queue; it does "
        "not let arn:aws:sns:us-east-1:123456789012:ses-events send",
    ),
    Case(
        "queue policy admits everyone",
        lambda i: i.set_policy(i.policy(principal="*", condition=False)),
        "events.queue_policy",
        fix=lambda i: f"aws sqs set-queue-attributes --queue-url {i.queue_url} --attributes",
        detail="ses-events-topic lets everyone send to the queue",
    ),
    Case(
        "queue policy admits every SNS topic",
        lambda i: i.set_policy(i.policy(condition=False)),
        "events.queue_policy",
        detail="lets every SNS topic of every account send",
    ),
    Case(
        "queue without a policy",
        queue_without("Policy"),
        "events.queue_policy",
        detail="has no access policy",
    ),
    Case(
        "no dead-letter queue",
        queue_without("RedrivePolicy"),
        "events.dead_letter_queue",
        fix=lambda i: (
            f"aws sqs create-queue --queue-name ses-events-2-dlq --region {REGION} && "
            "aws sqs set-queue-attributes --queue-url "
            f'{i.settings.sqs_queue_url} --attributes \'{{"RedrivePolicy":'
        ),
    ),
    Case(
        "the dead-letter queue is gone",
        lambda i: i.sqs.delete_queue(QueueUrl=i.dlq_url),
        "events.dead_letter_queue",
        fix=f"aws sqs create-queue --queue-name ses-events-dlq --region {REGION}",
        detail="does not exist",
    ),
    # --- the web app ---------------------------------------------------------------------------
    Case(
        "web app down",
        lambda i: i.stop_web(),
        "web.healthz",
        fix="systemctl start mailer-web",
        not_checked=frozenset({"web.one_click"}),
    ),
    Case(
        "web app signs with another key",
        web_with(secret_key="another-key-of-the-web-app-0123456789"),
        "web.one_click",
        fix="the same MAILER_SECRET_KEY",
        detail="answers 400",
    ),
    Case(
        "web app without the list",
        other_list_only,
        "web.one_click",
        fix="ai-morning-post.toml",
        detail="answers 404",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_one_broken_piece_fails_exactly_its_check(installation, case):
    case.breaks(installation)
    found = installation.examine()
    reported = found[case.name]
    assert reported.status == case.status, reported
    fix = case.fix(installation) if callable(case.fix) else case.fix
    assert fix in reported.fix, reported.fix
    assert case.detail in reported.detail, reported.detail
    others = {name: check for name, check in found.items() if name != case.name}
    for name in case.not_checked:
        assert others.pop(name).detail.startswith("not checked: "), found[name]
    for name in case.also_failing:
        assert others.pop(name).status == Status.FAIL, found[name]
    assert {name: check.status for name, check in others.items() if check.status != Status.OK} == {}


def test_an_untrusted_certificate_fails_web_healthz(installation, monkeypatch, tmp_path):
    other, _ = make_certificate(tmp_path)  # the same name, another key: not the one served
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    found = installation.examine()
    assert found["web.healthz"].status == Status.FAIL
    assert "certificate is not trusted" in found["web.healthz"].detail
    assert "CERTIFICATE_VERIFY_FAILED" in found["web.healthz"].detail
    assert found["web.one_click"].detail.startswith("not checked:")


def test_a_redirect_in_front_of_the_app_fails_web_healthz(installation):
    def redirecting(environ, start_response):
        start_response("301 Moved Permanently", [("Location", "https://www.news.example.test/")])
        return [b""]

    installation.stop_web()
    from tests.doctor.public_web import HOST, TlsApp

    installation.web = TlsApp(redirecting, *installation.certificate)
    installation.proxy.route(HOST, installation.web.port)
    check = installation.examine()["web.healthz"]
    assert check.status == Status.FAIL
    assert "answers 301 with a redirect to https://www.news.example.test/" in check.detail


def test_the_queue_policy_fix_keeps_other_accepted_topics(installation):
    """An inbound-mail topic in MAILER_SNS_TOPIC_ARNS that the policy admits stays in the fix."""
    inbound = installation.sns.create_topic(Name="inbound-mail")["TopicArn"]
    installation.change(sns_topic_arns=(installation.topic, inbound))
    installation.set_policy(installation.policy(inbound, installation.other_topic))
    check = installation.examine()["events.queue_policy"]
    assert check.status == Status.FAIL
    policy = json.loads(json.loads(check.fix.split("--attributes '")[1].split("'")[0])["Policy"])
    condition = policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert condition == sorted([installation.topic, inbound])


@pytest.mark.parametrize(
    ("unset", "fix"),
    [
        (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
            "give the machine an IAM role (instance profile), or set AWS_PROFILE",
        ),
        (("AWS_DEFAULT_REGION",), "set AWS_DEFAULT_REGION (boto3 reads it, not AWS_REGION)"),
    ],
    ids=["no credentials", "no region"],
)
def test_without_aws_one_check_fails_and_the_other_aws_checks_wait(
    installation, monkeypatch, unset, fix
):
    for name in unset:
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_REGION", raising=False)
    found = installation.examine()
    assert {n for n, c in found.items() if c.status == Status.FAIL} == {"settings.transport"}
    assert fix in found["settings.transport"].fix
    waiting = {n for n, c in found.items() if c.detail.startswith("not checked: ")}
    assert waiting == {n for n in found if n.startswith(("ses.", "events."))} | {
        d(what) for what in ("identity", "dkim", "mail_from", "spf")
    }
    assert found[d("dmarc")].status == Status.OK  # DNS alone
