"""Addresses a message cannot carry: a non-ASCII local part (`ü@example.com`) is valid syntax, but
the provider's raw MIME has no SMTPUTF8, so such an address is refused where it comes in (import,
form) and a ledger row that still holds one (data older than the rule) fails alone instead of
stopping the send."""

from __future__ import annotations

import email
from email.policy import default as default_policy

import pytest
from sqlalchemy import insert, select

from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.db import transaction
from mailer.store.models import Delivery, Subscriber, Subscription
from mailer.transports import FileTransport
from tests.cli.test_cli import mailer
from tests.conftest import DB_KINDS, REPO

LIST = load_list(REPO / "lists", "ai-morning-post")
REFUSAL = "non-ASCII characters before the @ cannot be delivered by our mail provider"


def test_import_refuses_a_non_ascii_local_part_by_line_and_keeps_the_rest(workdir):
    assert mailer(workdir, "db", "upgrade").returncode == 0
    (workdir / "people.csv").write_text(
        "email,name\nok@example.com,Ok\nü@example.com,Umlaut\n"
        "mei@bücher.example,IDN domain\nzoë.n@example.org,Zoë\n",
        encoding="utf-8",
    )
    result = mailer(workdir, "subscribers", "import", "people.csv")
    assert result.returncode == 0, result.stderr
    problems = result.stderr.strip().splitlines()
    assert [line for line in problems if "line 3:" in line] == [
        f"people.csv: line 3: invalid address 'ü@example.com': {REFUSAL}; use an address with only "
        "ASCII "
        "letters, digits and . _ + - before the @"
    ]
    assert any("line 5:" in line and REFUSAL in line for line in problems)
    assert "Traceback" not in result.stderr
    assert "2 added" in result.stdout and "2 skipped" in result.stdout
    shown = mailer(workdir, "subscribers", "show", "mei@bücher.example")
    assert (
        shown.returncode == 0 and "mei@xn--bcher-kva.example" in shown.stdout
    )  # IDN domains stay, as punycode


def _insert_legacy_row(factory, list_id: int, address: str) -> None:
    """An address stored before the rule existed (or by another tool): straight into the table."""
    with transaction(factory) as session:
        subscriber_id = session.execute(
            insert(Subscriber).values(email=address, name="Legacy").returning(Subscriber.id)
        ).scalar_one()
        session.execute(
            insert(Subscription).values(
                subscriber_id=subscriber_id, list_id=list_id, status="confirmed"
            )
        )


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_a_row_no_message_can_carry_fails_alone_and_the_send_finishes(
    factory, settings, sample_list
):
    _insert_legacy_row(factory, sample_list, "ü@example.com")
    content = load_issue_for(settings, LIST, "2026-11-20")
    summary = run_send(factory, settings, LIST, content, FileTransport(settings.outbox_dir))
    assert summary.state == "done" and summary.pause_reason is None
    assert summary.counts == {"sent": 21, "failed": 1}
    with factory() as session:
        row = session.execute(
            select(Delivery).where(Delivery.email == "ü@example.com")
        ).scalar_one()
    assert row.state == "failed" and REFUSAL in row.last_error and row.attempts == 1
    files = sorted((settings.outbox_dir / "ai-morning-post" / "2026-11-20").glob("*.eml"))
    assert len(files) == 21
    recipients = {
        email.message_from_bytes(p.read_bytes(), policy=default_policy)["To"].addresses[0].addr_spec
        for p in files
    }
    assert "ü@example.com" not in recipients and "mei.ling@xn--bcher-kva.example" in recipients
    again = run_send(factory, settings, LIST, content, FileTransport(settings.outbox_dir))
    assert (
        again.sent_now == 0 and again.state == "done"
    )  # failed is final: not retried, not blocking
