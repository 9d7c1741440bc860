"""The path of SES events to the poller: the configuration set exists and publishes Send, Reject,
Bounce, Complaint and Delivery to an SNS topic, that topic is in MAILER_SNS_TOPIC_ARNS and delivers
to MAILER_SQS_QUEUE_URL, the queue's policy lets exactly our topics send to it, and a dead-letter
queue takes what the poller cannot use (README, "Bounces, complaints and reports").

The configuration set is read with the v1 DescribeConfigurationSet (its event destinations, the
same ones sesv2 manages); fixes are sesv2 CLI commands. Without a queue (the SNS webhook), the
topic must deliver to MAILER_BASE_URL/webhooks/ses instead.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass

from mailer.doctor.check import Check, fail, not_checked, ok
from mailer.doctor.probe import (
    SETTINGS_FILE,
    AwsError,
    AwsProblem,
    Probe,
    aws_problem,
    error_code,
)
from mailer.track.sns import SignatureError, topic_region

# v1 MatchingEventTypes -> the sesv2 names the fixes use
V2_TYPES = {
    "send": "SEND",
    "reject": "REJECT",
    "bounce": "BOUNCE",
    "complaint": "COMPLAINT",
    "delivery": "DELIVERY",
    "open": "OPEN",
    "click": "CLICK",
    "renderingFailure": "RENDERING_FAILURE",
    "deliveryDelay": "DELIVERY_DELAY",
    "subscription": "SUBSCRIPTION",
}
REQUIRED = ("send", "reject", "bounce", "complaint", "delivery")
DESTINATION = "mailer-events"  # the destination name the fixes create
MAX_RECEIVES = 5  # the dead-letter queue's maxReceiveCount the fix suggests
SNS_PRINCIPAL = "sns.amazonaws.com"
NAMES = (
    "events.configuration_set",
    "events.destination",
    "events.topic_allowed",
    "events.subscription",
    "events.queue_policy",
    "events.dead_letter_queue",
)


def cli(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str
    region: str
    account: str
    attributes: dict


def checks(probe: Probe) -> list[Check]:
    if probe.aws_down:
        because = f"AWS cannot be reached (see {probe.account_check})"
        return [not_checked(n, because) for n in NAMES]
    return EventChecks(probe).run()


class EventChecks:
    def __init__(self, probe: Probe):
        self.probe = probe
        self.region = probe.region
        self.allowed = tuple(probe.settings.sns_topic_arns)
        self.topic: str | None = None  # the configuration set's topic, once known

    def run(self) -> list[Check]:
        out = self.configuration_set()
        out.append(self.topic_allowed())
        # the topics the queue must hear: the configuration set's, else every allowed one
        topics = [self.topic] if self.topic else list(self.allowed)
        out += self.delivery(topics)
        return out

    # --- SES ---------------------------------------------------------------------------------

    def configuration_set(self) -> list[Check]:
        name, cs = "events.configuration_set", self.probe.settings.ses_configuration_set
        create = cli(
            "aws",
            "sesv2",
            "create-configuration-set",
            "--configuration-set-name",
            "mailer-events",
            "--region",
            self.region,
        )
        because = "no configuration set (see events.configuration_set)"
        if not cs:
            return [
                fail(
                    name,
                    "MAILER_SES_CONFIGURATION_SET is not set: SES publishes no events for our "
                    "mail, so bounces and complaints are never seen",
                    f"{create}, then set MAILER_SES_CONFIGURATION_SET=mailer-events in "
                    f"{SETTINGS_FILE}",
                ),
                not_checked("events.destination", because),
            ]
        try:
            answer = self.probe.ses("ses").describe_configuration_set(
                ConfigurationSetName=cs, ConfigurationSetAttributeNames=["eventDestinations"]
            )
        except AwsError as exc:
            if error_code(exc) in ("ConfigurationSetDoesNotExist", "NotFoundException"):
                create = create.replace("mailer-events", shlex.quote(cs))
                return [
                    fail(name, f"SES has no configuration set {cs} in {self.region}", create),
                    not_checked("events.destination", because),
                ]
            problem = aws_problem(exc, "ses:DescribeConfigurationSet")
            return [
                fail(name, problem.detail, problem.fix),
                not_checked("events.destination", because),
            ]
        found = ok(name, f"configuration set {cs} in {self.region}")
        return [found, self.destination(cs, answer.get("EventDestinations") or [])]

    def destination(self, cs: str, destinations: list) -> Check:
        name = "events.destination"
        sns = [d for d in destinations if d and d.get("SNSDestination", {}).get("TopicARN")]
        if not sns:
            topic = self.allowed[0] if self.allowed else "arn:aws:sns:REGION:ACCOUNT:ses-events"
            return fail(
                name,
                f"configuration set {cs} publishes to no SNS topic",
                self.destination_command("create", cs, DESTINATION, topic, ()),
            )
        best = max(sns, key=self._fitness)
        self.topic = best["SNSDestination"]["TopicARN"]
        types = tuple(best.get("MatchingEventTypes") or ())
        missing = [t for t in REQUIRED if t not in types]
        label = f"destination {best.get('Name')} of {cs}"
        if not best.get("Enabled") or missing:
            why = (
                "is disabled"
                if not best.get("Enabled")
                else "does not publish " + ", ".join(V2_TYPES[t] for t in missing)
            )
            return fail(
                name,
                f"{label} {why}: those events never reach {self.topic}",
                self.destination_command("update", cs, best.get("Name", ""), self.topic, types),
            )
        published = ", ".join(V2_TYPES.get(t, t) for t in types)
        return ok(name, f"{label} publishes {published} to {self.topic}")

    def _fitness(self, destination: dict) -> tuple:
        types = destination.get("MatchingEventTypes") or ()
        topic = destination["SNSDestination"]["TopicARN"]
        return (
            bool(destination.get("Enabled")),
            topic in self.allowed,
            sum(t in types for t in REQUIRED),
        )

    def destination_command(
        self, verb: str, cs: str, destination: str, topic: str, types: tuple
    ) -> str:
        wanted = [V2_TYPES[t] for t in REQUIRED] + [
            V2_TYPES.get(t, t) for t in types if t not in REQUIRED
        ]
        spec = {
            "Enabled": True,
            "MatchingEventTypes": wanted,
            "SnsDestination": {"TopicArn": topic},
        }
        return cli(
            "aws",
            "sesv2",
            f"{verb}-configuration-set-event-destination",
            "--configuration-set-name",
            cs,
            "--event-destination-name",
            destination,
            "--event-destination",
            json.dumps(spec, separators=(",", ":")),
            "--region",
            self.region,
        )

    # --- SNS ---------------------------------------------------------------------------------

    def topic_allowed(self) -> Check:
        name = "events.topic_allowed"
        if self.topic is None:
            return not_checked(
                name, "the configuration set's topic is not known (see events.destination)"
            )
        if self.topic in self.allowed:
            return ok(name, f"{self.topic} is in MAILER_SNS_TOPIC_ARNS")
        listed = ",".join([*self.allowed, self.topic])
        return fail(
            name,
            f"{self.topic} is not in MAILER_SNS_TOPIC_ARNS: the poller and the webhook refuse "
            "its messages",
            f"set MAILER_SNS_TOPIC_ARNS={listed} in {SETTINGS_FILE}, then restart mailer-web and "
            "mailer-events",
        )

    def delivery(self, topics: list[str]) -> list[Check]:
        """The subscription of each topic to the queue (or the webhook), the queue's policy and
        its dead-letter queue."""
        names = NAMES[3:]
        if not topics:
            return [
                fail(
                    names[0],
                    "MAILER_SNS_TOPIC_ARNS is empty: no topic is known to deliver from",
                    f"set MAILER_SNS_TOPIC_ARNS in {SETTINGS_FILE} to the topic of the "
                    "configuration set's event destination",
                ),
                *(not_checked(n, "no topic (see events.subscription)") for n in names[1:]),
            ]
        if not self.probe.settings.sqs_queue_url:
            webhook = f"{self.probe.settings.base_url}/webhooks/ses"
            return [
                self.subscriptions(topics, "https", webhook),
                ok(names[1], "no queue: events come to the webhook, signed by SNS"),
                ok(names[2], "no queue: SNS retries the webhook itself"),
            ]
        queue = self.queue()
        if isinstance(queue, AwsProblem):
            return [
                fail(names[0], queue.detail, queue.fix),
                *(not_checked(n, "the queue could not be read (see above)") for n in names[1:]),
            ]
        return [
            self.subscriptions(topics, "sqs", queue.arn),
            self.queue_policy(queue, topics),
            self.dead_letter_queue(queue),
        ]

    def subscriptions(self, topics: list[str], protocol: str, endpoint: str) -> Check:
        name = "events.subscription"
        for topic in topics:
            problem = self.subscription_problem(topic, protocol, endpoint)
            if problem is not None:
                return fail(name, *problem)
        return ok(name, f"{', '.join(topics)} delivers to {endpoint}")

    def subscription_problem(self, topic: str, protocol: str, endpoint: str) -> tuple | None:
        try:
            region = topic_region(topic)[1]
        except SignatureError as exc:
            return str(exc), f"set MAILER_SNS_TOPIC_ARNS in {SETTINGS_FILE} to real topic ARNs"
        subscribe = cli(
            "aws",
            "sns",
            "subscribe",
            "--topic-arn",
            topic,
            "--protocol",
            protocol,
            "--notification-endpoint",
            endpoint,
            "--region",
            region,
        )
        try:
            subscriptions = [
                s
                for page in self.probe.sns(region)
                .get_paginator("list_subscriptions_by_topic")
                .paginate(TopicArn=topic)
                for s in page["Subscriptions"]
            ]
        except AwsError as exc:
            if error_code(exc) == "NotFound":
                create = cli(
                    "aws",
                    "sns",
                    "create-topic",
                    "--name",
                    topic.rsplit(":", 1)[1],
                    "--region",
                    region,
                )
                return f"SNS topic {topic} does not exist", f"{create}, then {subscribe}"
            problem = aws_problem(exc, "sns:ListSubscriptionsByTopic")
            return problem.detail, problem.fix
        mine = [
            s for s in subscriptions if s.get("Protocol") == protocol and s["Endpoint"] == endpoint
        ]
        if not mine:
            return (
                f"{topic} does not deliver to {endpoint}: its events never reach us",
                subscribe,
            )
        if all(s.get("SubscriptionArn") == "PendingConfirmation" for s in mine):
            if protocol == "sqs":
                fix = "run `mailer events poll --once`: it confirms the subscription (SNS API)"
            else:  # the web app confirms what SNS posts it; a new subscribe posts it again
                fix = f"with web.healthz ok, run {subscribe} again: the web app confirms it"
            return f"the subscription of {endpoint} to {topic} is not confirmed yet", fix
        return None

    # --- SQS ---------------------------------------------------------------------------------

    def queue(self) -> Queue | AwsProblem:
        url = self.probe.settings.sqs_queue_url or ""
        try:
            attributes = self.probe.sqs().get_queue_attributes(
                QueueUrl=url, AttributeNames=["All"]
            )["Attributes"]
        except AwsError as exc:
            if "NonExistentQueue" in error_code(exc):
                queue_name = url.rstrip("/").rsplit("/", 1)[-1]
                return AwsProblem(
                    f"the queue {url} (MAILER_SQS_QUEUE_URL) does not exist",
                    cli(
                        "aws",
                        "sqs",
                        "create-queue",
                        "--queue-name",
                        queue_name,
                        "--region",
                        self.region,
                    )
                    + f", then set MAILER_SQS_QUEUE_URL in {SETTINGS_FILE} to the URL it prints",
                )
            return aws_problem(exc, "sqs:GetQueueAttributes")
        arn = attributes["QueueArn"]
        _, _, _, region, account, _ = arn.split(":", 5)
        return Queue(url, arn, region, account, attributes)

    def queue_policy(self, queue: Queue, topics: list[str]) -> Check:
        name = "events.queue_policy"
        accepted = set(topics) | set(self.allowed)
        raw = queue.attributes.get("Policy")
        if not raw:
            return fail(
                name,
                f"the queue {queue.arn} has no access policy: SNS cannot deliver to it",
                self.policy_command(queue, topics),
            )
        try:
            statements = _statements(json.loads(raw))
        except (ValueError, TypeError, AttributeError):
            return fail(
                name,
                f"the access policy of {queue.arn} is not a JSON policy",
                self.policy_command(queue, topics),
            )
        senders, problems = set(), []
        for number, statement in enumerate(statements, 1):
            if not _allows_send(statement):
                continue
            label = statement.get("Sid") or f"statement {number}"
            verdict = _senders(statement, queue.account)
            if isinstance(verdict, str):
                problems.append(f"{label} {verdict}")
                continue
            for source in verdict:
                if source not in accepted:
                    problems.append(f"{label} lets {source} send to the queue")
            senders |= verdict
        unheard = [topic for topic in topics if topic not in senders]
        if unheard:
            problems.append(f"it does not let {', '.join(unheard)} send: SNS cannot deliver")
        if problems:
            # the fix keeps the accepted topics the policy admits already (an inbound-mail topic)
            keep = sorted(set(topics) | (senders & accepted))
            return fail(
                name,
                f"the access policy of {queue.arn}: " + "; ".join(problems),
                self.policy_command(queue, keep),
            )
        return ok(name, f"only {', '.join(sorted(senders))} may send to {queue.arn}")

    def policy_command(self, queue: Queue, topics: list[str]) -> str:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ses-events-topic",
                    "Effect": "Allow",
                    "Principal": {"Service": SNS_PRINCIPAL},
                    "Action": "sqs:SendMessage",
                    "Resource": queue.arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topics}},
                }
            ],
        }
        attributes = {"Policy": json.dumps(policy, separators=(",", ":"))}
        return cli(
            "aws",
            "sqs",
            "set-queue-attributes",
            "--queue-url",
            queue.url,
            "--attributes",
            json.dumps(attributes, separators=(",", ":")),
            "--region",
            queue.region,
        )

    def dead_letter_queue(self, queue: Queue) -> Check:
        name = "events.dead_letter_queue"
        dlq_name = queue.arn.rsplit(":", 1)[1] + "-dlq"
        dlq_arn = f"arn:aws:sqs:{queue.region}:{queue.account}:{dlq_name}"
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)})
        set_it = cli(
            "aws",
            "sqs",
            "set-queue-attributes",
            "--queue-url",
            queue.url,
            "--attributes",
            json.dumps({"RedrivePolicy": redrive}, separators=(",", ":")),
            "--region",
            queue.region,
        )
        create = cli(
            "aws", "sqs", "create-queue", "--queue-name", dlq_name, "--region", queue.region
        )
        try:
            policy = json.loads(queue.attributes.get("RedrivePolicy") or "{}")
            target = policy.get("deadLetterTargetArn", "")
        except (ValueError, AttributeError):
            target = ""
        if not target:
            return fail(
                name,
                f"the queue {queue.arn} has no dead-letter queue: a message the poller cannot "
                "use comes back forever",
                f"{create} && {set_it}",
            )
        exists = self.queue_exists(target)
        if isinstance(exists, AwsProblem):
            return fail(name, exists.detail, exists.fix)
        if not exists:
            target_name = target.rsplit(":", 1)[1]
            recreate = cli(
                "aws",
                "sqs",
                "create-queue",
                "--queue-name",
                target_name,
                "--region",
                target.split(":")[3],
            )
            return fail(name, f"the dead-letter queue {target} does not exist", recreate)
        receives = policy.get("maxReceiveCount", "?")
        return ok(name, f"after {receives} receives a message moves to {target}")

    def queue_exists(self, arn: str) -> bool | AwsProblem:
        _, _, _, region, account, queue_name = arn.split(":", 5)
        try:
            self.probe.sqs(region).get_queue_url(
                QueueName=queue_name, QueueOwnerAWSAccountId=account
            )
        except AwsError as exc:
            if "NonExistentQueue" in error_code(exc):
                return False
            return aws_problem(exc, "sqs:GetQueueUrl")
        return True


# --- reading a queue policy ------------------------------------------------------------------


def _statements(policy: dict) -> list[dict]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _allows_send(statement: dict) -> bool:
    """An Allow statement whose actions cover sqs:SendMessage (IAM matches them case-blind)."""
    if statement.get("Effect") != "Allow":
        return False
    actions = [a.lower() for a in _listed(statement.get("Action"))]
    return any(fnmatch.fnmatchcase("sqs:sendmessage", a) for a in actions)


def _senders(statement: dict, owner: str) -> set[str] | str:
    """The topics an Allow-SendMessage statement admits, or what is wrong with it: admitting
    everyone, every SNS topic, another account. The owner account's own principals (the SQS
    console's default statement) are left to IAM and admit no topic."""
    principal = statement.get("Principal")
    services, accounts = set(), set()
    if principal == "*":
        accounts.add("*")
    elif isinstance(principal, dict):
        services = {s.lower() for s in _listed(principal.get("Service"))}
        accounts = set(_listed(principal.get("AWS")))
    sources = _source_arns(statement.get("Condition") or {})
    if sources is None:
        if "*" in accounts:
            return "lets everyone send to the queue"
        if SNS_PRINCIPAL in services:
            return "lets every SNS topic of every account send (no aws:SourceArn condition)"
        foreign = {a for a in accounts if owner not in a}
        if foreign:
            return f"lets the account(s) {', '.join(sorted(foreign))} send"
        return set()
    wild = [s for s in sources if "*" in s or "?" in s]
    if wild:
        return f"lets every topic matching {', '.join(wild)} send"
    return set(sources)


def _source_arns(condition: dict) -> list[str] | None:
    """The aws:SourceArn values of a statement's conditions, None when it has none."""
    found = None
    for operator, tests in condition.items():
        if not operator.lower().startswith(("arn", "string", "forany")):
            continue
        for key, value in (tests or {}).items():
            if key.lower() == "aws:sourcearn":
                found = (found or []) + _listed(value)
    return found
