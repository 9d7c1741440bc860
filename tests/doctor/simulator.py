"""The SES mailbox simulator's answers, which moto cannot give: moto takes the round trip's
SendEmail calls but publishes no configuration-set events (its feedback is only for identity
notification topics, and with messageIds of its own). This thread watches the ledger; when a row
to a simulator address has its SES message id, it publishes to the events topic what SES would
for that address, in the configuration-set format with the message's tags: Send, then Delivery
(success@), a Permanent Bounce (bounce@), or a Delivery and a Complaint (complaint@). SNS (moto)
delivers them to the queue the round trip polls."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

from sqlalchemy import select

from mailer.store.models import Delivery

SIMULATOR = "@simulator.amazonses.com"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def events_for(row: Delivery) -> list[dict]:
    mail = {
        "timestamp": _now(),
        "source": "morning@aimorningpost.example",
        "sendingAccountId": "123456789012",
        "messageId": row.provider_message_id,
        "destination": [row.email],
        "tags": {
            "ses:configuration-set": ["mailer-events"],
            "send_id": [str(row.send_id)],
            "delivery_id": [str(row.id)],
        },
    }
    kind = row.email.split("+", 1)[0]
    delivery = {
        "eventType": "Delivery",
        "mail": mail,
        "delivery": {
            "timestamp": _now(),
            "recipients": [row.email],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
    }
    out = [{"eventType": "Send", "mail": mail, "send": {}}]
    if kind in ("success", "complaint"):
        out.append(delivery)
    if kind == "bounce":
        out.append(
            {
                "eventType": "Bounce",
                "mail": mail,
                "bounce": {
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": [
                        {"emailAddress": row.email, "action": "failed", "status": "5.1.1"}
                    ],
                    "timestamp": _now(),
                    "feedbackId": f"simulated-{uuid.uuid4()}",
                },
            }
        )
    if kind == "complaint":
        out.append(
            {
                "eventType": "Complaint",
                "mail": mail,
                "complaint": {
                    "complainedRecipients": [{"emailAddress": row.email}],
                    "timestamp": _now(),
                    "feedbackId": f"simulated-{uuid.uuid4()}",
                    "complaintFeedbackType": "abuse",
                },
            }
        )
    return out


class MailboxSimulator:
    def __init__(self, factory, sns, topic: str):
        self.factory, self.sns, self.topic = factory, sns, topic
        self.answered: dict[str, str] = {}  # address -> the SES message id answered for
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MailboxSimulator:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with self.factory() as session:
                rows = session.scalars(
                    select(Delivery).where(
                        Delivery.email.like(f"%{SIMULATOR}"),
                        Delivery.provider_message_id.is_not(None),
                    )
                ).all()
                pending = [r for r in rows if r.email not in self.answered]
                for row in pending:
                    for event in events_for(row):
                        self.sns.publish(TopicArn=self.topic, Message=json.dumps(event))
                    self.answered[row.email] = row.provider_message_id
