"""Sending through the file transport: the ledger, the messages, and resuming."""

from __future__ import annotations

import email
from email.policy import default as default_policy
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select, update

from mailer.audience.importing.importer import import_rows, read_csv
from mailer.audience.suppressions import suppress
from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.db import transaction
from mailer.store.models import Delivery, Send, Subscription
from mailer.tokens import read_token
from mailer.transports import FileTransport
from tests.conftest import DB_KINDS, REPO, SECRET

LIST = load_list(REPO / "lists", "ai-morning-post")
pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


def send(factory, settings, spec="2026-11-20"):
    content = load_issue_for(settings, LIST, spec)
    return run_send(factory, settings, LIST, content, FileTransport(settings.outbox_dir))


def parsed_messages(settings, date="2026-11-20"):
    folder = settings.outbox_dir / "ai-morning-post" / date
    return [
        email.message_from_bytes(p.read_bytes(), policy=default_policy)
        for p in sorted(folder.glob("*.eml"))
    ]


def test_send_writes_one_parseable_message_per_confirmed_subscriber(factory, settings, sample_list):
    summary = send(factory, settings)
    assert summary.state == "done" and summary.sent_now == 21 and summary.counts == {"sent": 21}
    messages = parsed_messages(settings)
    assert len(messages) == 21
    unsubscribe_urls = set()
    for msg in messages:
        for header in (
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "List-Id",
        ):
            assert msg[header], header
        assert len(msg.get_all("To")) == 1 and len(msg["To"].addresses) == 1
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = [part.strip(" <>") for part in msg["List-Unsubscribe"].split(",")]
        assert https.startswith("https://news.example/unsubscribe/") and mailto.startswith(
            "mailto:"
        )
        token = urlparse(https).path.rsplit("/", 1)[1]
        assert read_token(SECRET, "unsubscribe", token).list_slug == "ai-morning-post"
        unsubscribe_urls.add(https)
        text = msg.get_body(("plain",)).get_content()
        page = msg.get_body(("html",)).get_content()
        assert "The Micro-Specialization Wave" in text and "The Micro-Specialization Wave" in page
        assert https in text and https in page
    assert len(unsubscribe_urls) == 21
    for raw in (settings.outbox_dir / "ai-morning-post" / "2026-11-20").glob("*.eml"):
        lines = raw.read_bytes().split(b"\r\n")
        assert len(lines) > 50 and all(len(line) <= 998 for line in lines)
    recipients = {m["To"].addresses[0].addr_spec for m in messages}
    assert "ken.thompson@example.com" not in recipients  # unsubscribed
    assert "linus@example.net" not in recipients  # pending
    assert "mei.ling@xn--bcher-kva.example" in recipients


def test_every_ledger_row_records_the_outcome(factory, settings, sample_list):
    send(factory, settings)
    with factory() as session:
        rows = session.execute(
            select(
                Delivery.state, Delivery.provider_message_id, Delivery.attempts, Delivery.sent_at
            )
        ).all()
        assert session.scalar(select(Send.state)) == "done"
    assert len(rows) == 21
    assert all(
        r.state == "sent" and r.provider_message_id and r.attempts == 1 and r.sent_at for r in rows
    )


def test_second_run_sends_nothing_twice(factory, settings, sample_list):
    send(factory, settings)
    before = {
        p.name: p.stat().st_mtime_ns
        for p in (settings.outbox_dir / "ai-morning-post" / "2026-11-20").iterdir()
    }
    again = send(factory, settings)
    after = {
        p.name: p.stat().st_mtime_ns
        for p in (settings.outbox_dir / "ai-morning-post" / "2026-11-20").iterdir()
    }
    assert again.sent_now == 0 and before == after
    assert "nothing to send" in again.line() and "no message sent twice" in again.line()


def test_recipients_who_leave_after_planning_are_skipped(factory, settings, sample_list):
    from mailer.send.campaign import plan_issue

    content = load_issue_for(settings, LIST, "2026-11-20")
    _, planned = plan_issue(factory, settings, LIST, content)
    assert planned.planned_count == 21
    with transaction(factory) as session:
        ada = session.scalar(
            select(Delivery.subscriber_id).where(Delivery.email == "ada.lovelace@example.com")
        )
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == ada)
            .values(status="unsubscribed")
        )
        suppress(session, "alan.turing@example.org", "complaint")
    summary = send(factory, settings)
    assert summary.counts == {"sent": 19, "skipped": 2}
    recipients = {m["To"].addresses[0].addr_spec for m in parsed_messages(settings)}
    assert not {"ada.lovelace@example.com", "alan.turing@example.org"} & recipients


def test_rows_interrupted_mid_send_are_settled_from_the_outbox(factory, settings, sample_list):
    send(factory, settings)
    with transaction(factory) as session:
        ids = session.scalars(select(Delivery.id).order_by(Delivery.id).limit(2)).all()
        # as if the process died after claiming: one file was written, one was not
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(state="sending"))
    (settings.outbox_dir / "ai-morning-post" / "2026-11-20" / f"{ids[1]:08d}.eml").unlink()
    summary = send(factory, settings)
    assert summary.sent_now == 1 and summary.counts == {"sent": 21}
    with factory() as session:
        assert session.scalar(select(func.count()).where(Delivery.state == "sent")) == 21


def test_hostile_display_names_cannot_add_headers(factory, settings, sample_list, tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text(
        'email,name\nevil@example.com,"Eve\r\nBcc: victim@example.com, <x>"\n', encoding="utf-8"
    )
    rows, problems = read_csv(path)
    import_rows(factory, sample_list, rows, problems, source="hostile")
    send(factory, settings)
    evil = [
        m for m in parsed_messages(settings) if m["To"].addresses[0].addr_spec == "evil@example.com"
    ]
    assert len(evil) == 1
    assert evil[0]["Bcc"] is None and len(evil[0]["To"].addresses) == 1
