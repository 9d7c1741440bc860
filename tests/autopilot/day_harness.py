"""What the simulated-day tests share: an operator's folder with a scheduled list (a canary of 5,
no trending sources: nothing here may reach Hugging Face or GitHub), moto in server mode as SNS ->
SQS for the SES events, and `mailer autopilot` run as a subprocess at injected instants."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
from sqlalchemy import select

from mailer.store.models import AutopilotDay, Delivery, Event, Send
from tests.conftest import SECRET

FIXTURE = Path(__file__).resolve().parent / "lists" / "ai-morning-post.toml"
REGION = "us-east-1"
SLUG = "ai-morning-post"
CONFIRMED = 21  # confirmed people in lists/ai-morning-post.sample.csv


def scheduled_list(canary: int = 5, extra_alert: str | None = None) -> str:
    """The fixture list without its [sources] tables, with a canary of `canary` and the editors'
    mailbox as the only alert target (a webhook target is tested in test_alerts.py)."""
    text = FIXTURE.read_text(encoding="utf-8")
    start = text.index("# Trending sections")
    text = text[:start] + text[text.index("\n[schedule]") + 1 :]
    text = text.replace("canary = 200", f"canary = {canary}")
    alerts = ['"mailto:editors@aimorningpost.example"'] + (
        [f'"{extra_alert}"'] if extra_alert else []
    )
    text = text.replace(
        'alert = ["mailto:editors@aimorningpost.example", "https://hooks.example/services/T0/B0"]',
        f"alert = [{', '.join(alerts)}]",
    )
    return text


def issue_text(day: str, subject: str) -> str:
    """The shipped 2026-11-22 issue, dated `day`, with `subject`."""
    source = Path(__file__).resolve().parents[2] / "issues" / SLUG / "2026-11-22.md"
    text = source.read_text(encoding="utf-8").replace("date: 2026-11-22", f"date: {day}", 1)
    head, rest = text.split("\nsubject: ", 1)
    return f"{head}\nsubject: {subject}\n" + rest.split("\n", 1)[1]


@dataclass
class Queue:
    sns: object
    sqs: object
    topic: str
    url: str


def events_queue(moto_url: str) -> Queue:
    """An SES events topic delivering raw to a fresh queue (raw: the poller verifies SNS envelopes
    against certificates it would fetch from AWS; tests/track/test_poll.py covers envelopes)."""
    kwargs = {
        "endpoint_url": moto_url,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    sns, sqs = boto3.client("sns", **kwargs), boto3.client("sqs", **kwargs)
    tag = uuid.uuid4().hex[:8]
    # A 2 s visibility timeout (SQS's default is 30 s): a message a killed poller received comes
    # back while the test runs.
    url = sqs.create_queue(QueueName=f"ses-{tag}", Attributes={"VisibilityTimeout": "2"})[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=f"ses-events-{tag}")["TopicArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return Queue(sns, sqs, topic, url)


def ses_event(row: Delivery, kind: str) -> str:
    mail = {
        "timestamp": "2026-03-29T05:31:00.000Z",
        "source": "morning@aimorningpost.example",
        "messageId": row.provider_message_id,
        "destination": [row.email],
        "tags": {"send_id": [str(row.send_id)], "delivery_id": [str(row.id)]},
    }
    if kind == "bounce":
        body = {
            "bounceType": "Permanent",
            "bounceSubType": "NoEmail",
            "feedbackId": f"fb-{row.id}",
            "bouncedRecipients": [{"emailAddress": row.email, "status": "5.1.1"}],
        }
        return json.dumps({"eventType": "Bounce", "mail": mail, "bounce": body})
    body = {"recipients": [row.email], "smtpResponse": "250 ok"}
    return json.dumps({"eventType": "Delivery", "mail": mail, "delivery": body})


class Operator:
    """The folder, the environment and the database of one simulated day."""

    def __init__(self, workdir: Path, database_url: str, factory, moto_url: str, queue: Queue):
        self.workdir, self.factory, self.queue = workdir, factory, queue
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MAILER_") and not k.startswith("AWS_") and k != "DATABASE_URL"
        }
        self.env.update(
            {
                "DATABASE_URL": database_url,
                "MAILER_SECRET_KEY": SECRET,
                "MAILER_BASE_URL": "https://news.example",
                "MAILER_SQS_QUEUE_URL": queue.url,
                "MAILER_SNS_TOPIC_ARNS": queue.topic,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": moto_url,
            }
        )

    def mailer(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mailer", *args],
            cwd=self.workdir,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "mailer", *args],
            cwd=self.workdir,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def autopilot(self, at: str, **env: str) -> subprocess.CompletedProcess:
        result = self.mailer("autopilot", "--once", "--now", at, **env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def write_issue(self, day: str, subject: str) -> None:
        folder = self.workdir / "issues" / SLUG
        (folder / f"{day}.md").write_text(issue_text(day, subject), encoding="utf-8")

    # -- what happened -------------------------------------------------------------------------
    def rows(self) -> list[Delivery]:
        with self.factory() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows():
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def send_state(self) -> tuple[str, str | None]:
        with self.factory() as session:
            send = session.scalars(select(Send)).one()
            return send.state, send.pause_reason

    def stage(self, day: str) -> str | None:
        with self.factory() as session:
            row = session.scalar(select(AutopilotDay).where(AutopilotDay.issue_date == _date(day)))
            return row.stage if row else None

    def outbox_recipients(self, day: str) -> list[str]:
        """The To address of every message written for the issue of `day`, one per file."""
        folder = self.workdir / "var" / "outbox" / SLUG / day
        return sorted(_to(path) for path in folder.glob("*.eml")) if folder.exists() else []

    def alerts(self) -> list[email.message.EmailMessage]:
        folder = self.workdir / "var" / "outbox" / "alerts"
        paths = sorted(folder.glob("*.eml")) if folder.exists() else []
        return [_parse(path) for path in paths]

    def explain(self) -> str:
        """What a failed assertion about states needs: each ledger row, each stored event and what
        the queue still holds."""
        with self.factory() as session:
            events = session.execute(
                select(Event.event_type, Event.delivery_id, Event.ses_message_id).order_by(Event.id)
            ).all()
        queue = self.queue.sqs.get_queue_attributes(
            QueueUrl=self.queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        rows = [(r.id, r.state, r.provider_message_id) for r in self.rows()]
        return f"rows {rows}; events {[tuple(e) for e in events]}; queue {queue}"

    def publish(self, rows: list[Delivery], kind: str) -> None:
        for row in rows:
            self.queue.sns.publish(TopicArn=self.queue.topic, Message=ses_event(row, kind))


def _date(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


def _parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def _to(path: Path) -> str:
    return str(_parse(path)["To"].addresses[0].addr_spec).lower()
