"""Erase means erased: after `mailer subscribers erase`, no table, no byte of the database file and
no
outbox file holds the person's address or name, in any case or encoding. The person was imported,
sent
an issue (file transport), signed up to a second list over HTTP, then delivered, soft-bounced,
unsubscribed by mail and complained, all fed through POST /webhooks/ses as signed SNS envelopes."""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import json
import quopri
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.store.models import Base, Delivery, Event
from tests.cli.test_cli import mailer
from tests.conftest import DB_KINDS, REPO
from tests.track.sns_signing import TOPIC_ARN, Signer, notification

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)

ADDRESS = "Alan.Muller@example.com"  # as first given
NAME = "Ålan Müller-Ørsted"


def forms() -> list[str]:
    """Every spelling of the address and the name that a table, a file or a MIME part may hold."""
    out = [ADDRESS.lower(), NAME, json.dumps(NAME)[1:-1]]
    out += email.header.Header(NAME, "utf-8").encode().split("?")[3:4]  # the RFC 2047 base64 word
    out.append(base64.b64encode(NAME.encode()).decode())
    for part in re.split(r"[ -]", NAME):
        out += [part, json.dumps(part)[1:-1], quopri.encodestring(part.encode()).decode()]
    for spelling in (
        ADDRESS,
        ADDRESS.lower(),
    ):  # base64 of the address at each alignment, edges cut off
        for shift in range(3):
            encoded = base64.b64encode(b"x" * shift + spelling.encode()).decode()
            out.append(encoded[4 if shift else 0 : -4])
    return out


def leaks(haystack: str) -> list[str]:
    lowered = haystack.lower()
    return [form for form in forms() if form.lower() in lowered]


def ses(kind: str, message_id: str, delivery_id: int, **extra) -> str:
    """An SES event-publishing notification as SES writes it: the address and the name all over."""
    to = f"{NAME} <{ADDRESS}>"
    mail = {
        "timestamp": "2026-11-21T07:00:00.000Z",
        "source": "morning@aimorningpost.example",
        "messageId": message_id,
        "destination": [ADDRESS],
        "headers": [
            {"name": "To", "value": email.header.Header(NAME, "utf-8").encode() + f" <{ADDRESS}>"}
        ],
        "commonHeaders": {"to": [to], "subject": "The AI Morning Post"},
        "tags": {"delivery_id": [str(delivery_id)], "send_id": ["1"]},
    }
    return json.dumps({"eventType": kind, "mail": mail, **extra})


def received(raw: bytes) -> str:
    return json.dumps(
        {
            "notificationType": "Received",
            "mail": {
                "messageId": uuid.uuid4().hex,
                "source": ADDRESS.upper(),
                "destination": ["unsubscribe@aimorningpost.example"],
                "commonHeaders": {"from": [f"{NAME} <{ADDRESS.upper()}>"]},
            },
            "receipt": {"action": {"type": "SNS", "topicArn": TOPIC_ARN, "encoding": "BASE64"}},
            "content": base64.b64encode(raw).decode(),
        }
    )


@pytest.fixture
def cli(settings, lists_dir, database_url):
    env = {
        "DATABASE_URL": database_url,
        "MAILER_OUTBOX": str(settings.outbox_dir),
        "MAILER_LISTS_DIR": str(lists_dir),
        "MAILER_ISSUES_PATH": str(REPO / "issues"),
    }

    def run(*args: str):
        result = mailer(Path(settings.outbox_dir).parent, *args, env=env)
        assert result.returncode == 0, result.stderr
        return result

    return run


def test_an_erased_person_is_nowhere(serve, cli, factory, settings, tmp_path):
    signer = Signer()
    live = serve(settings_changes={"sns_topic_arns": (TOPIC_ARN,)})
    live.app.extensions["mailer"]["sns_fetch_cert"] = lambda url: signer.pem

    def hook(message: str, envelope: dict | None = None) -> dict:
        envelope = envelope or signer.sign(notification(message))
        response = live.post(
            "/webhooks/ses",
            data=json.dumps(envelope),
            headers={
                "Content-Type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": "Notification",
            },
        )
        assert response.status_code == 200, response.text
        return envelope

    (tmp_path / "people.csv").write_text(f"email,name\n{ADDRESS},{NAME}\n", encoding="utf-8")
    cli("subscribers", "import", str(tmp_path / "people.csv"), "--list", "ai-morning-post")
    cli("send", "--issue", "2026-11-21", "--list", "ai-morning-post", "--yes")
    signup = live.post(
        "/subscribe",
        data={
            "email": ADDRESS.upper(),
            "name": NAME,
            "list": "weekend-digest",
            **live.form_fields("weekend-digest"),
        },
    )
    assert signup.status_code == 200
    outbox = live.outbox_files()
    assert len(outbox) == 2 and all(
        leaks(p.read_bytes().decode("ascii", "replace")) for p in outbox
    )

    with factory() as s:
        row = s.execute(select(Delivery.id, Delivery.provider_message_id)).one()
    issue = next(
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in outbox
        if "confirmations" not in p.parts
    )
    token = re.search(r"subject=unsubscribe%20([^>]+)>", issue["List-Unsubscribe"]).group(1)
    request = (
        f"From: =?utf-8?b?{base64.b64encode(NAME.encode()).decode()}?= <{ADDRESS.upper()}>\r\n"
        f"To: unsubscribe@aimorningpost.example\r\nSubject: unsubscribe {token}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\n\r\nunsubscribe me, {NAME}\r\n"
    ).encode()

    diagnostic = f"smtp; 452 4.2.2 <{ADDRESS}>: mailbox of {NAME} is full"
    soft = ses(
        "Bounce",
        row.provider_message_id,
        row.id,
        bounce={
            "bounceType": "Transient",
            "bounceSubType": "MailboxFull",
            "feedbackId": "fb-soft-1",
            "timestamp": "2026-11-21T07:01:00.000Z",
            "bouncedRecipients": [
                {"emailAddress": f"{NAME} <{ADDRESS}>", "diagnosticCode": diagnostic}
            ],
        },
    )
    complaint = ses(
        "Complaint",
        row.provider_message_id,
        row.id,
        complaint={
            "feedbackId": "fb-complaint-1",
            "complaintFeedbackType": "abuse",
            "timestamp": "2026-11-21T09:00:00.000Z",
            "complainedRecipients": [{"emailAddress": ADDRESS.lower()}],
        },
    )
    hook(
        ses(
            "Delivery",
            row.provider_message_id,
            row.id,
            delivery={
                "timestamp": "2026-11-21T07:00:02.000Z",
                "recipients": [ADDRESS],
                "smtpResponse": f"250 2.0.0 OK {ADDRESS}",
            },
        )
    )
    soft_envelope = hook(soft)
    hook(received(request))
    complaint_envelope = hook(complaint)
    with factory() as s:
        assert s.scalar(select(Delivery.state)) == "complained"
        assert len(s.scalars(select(Event.id)).all()) == 3

    erased = cli("subscribers", "erase", ADDRESS.lower(), "--yes")
    assert "2 mail(s) deleted from the outbox" in erased.stdout

    # SNS redelivers two of them, and a late soft bounce for the same message arrives
    hook(soft, soft_envelope)
    hook(complaint, complaint_envelope)
    hook(soft.replace("fb-soft-1", "fb-soft-2"))
    with factory() as s:
        assert len(s.scalars(select(Event.id)).all()) == 4  # the redeliveries were recognised

    engine = factory.kw["bind"]
    with engine.connect() as conn:
        dump = "\n".join(
            repr(tuple(r))
            for table in Base.metadata.sorted_tables
            for r in conn.execute(table.select())
        )
    assert "ai-morning-post" in dump and leaks(dump) == []
    engine.dispose()
    for path in Path(settings.outbox_dir).rglob("*"):
        if path.is_file():
            assert leaks(path.read_bytes().decode("utf-8", "replace")) == [], path
    if not settings.database_url.startswith("sqlite"):
        return
    db_file = Path(settings.database_url.split("///", 1)[1])
    with sqlite3.connect(db_file) as db:
        assert leaks("\n".join(db.iterdump())) == []
    for path in [db_file, *db_file.parent.glob(db_file.name + "-*")]:
        assert leaks(path.read_bytes().decode("utf-8", "replace")) == [], path
