"""`mailer report` and `mailer suppressions` through the CLI, on a send with recorded SES events."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from mailer.cli import cli
from mailer.store.db import transaction
from mailer.store.models import ConsentEvent, Delivery, Event, Subscription, utcnow
from tests.conftest import DB_KINDS, REPO, SECRET

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


@pytest.fixture
def run(engine, database_url, tmp_path):
    env = {
        "DATABASE_URL": database_url,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_OUTBOX": str(tmp_path / "out"),
        "MAILER_ISSUES_PATH": str(REPO / "issues"),
        "MAILER_LISTS_DIR": str(REPO / "lists"),
        "MAILER_BASE_URL": "https://news.example",
    }

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_report_counts_events_per_recipient(run, factory):
    assert (
        run("subscribers", "import", str(REPO / "lists/ai-morning-post.sample.csv")).exit_code == 0
    )
    assert run("send", "--issue", "2026-11-18", "--yes").exit_code == 0
    with transaction(factory) as session:
        rows = session.execute(
            select(Delivery.id, Delivery.subscriber_id).order_by(Delivery.id)
        ).all()
        events = [("delivery", None, rows[i]) for i in range(0, 10)]
        events += [
            ("bounce", "Permanent", rows[10]),
            ("bounce", "Transient", rows[11]),
            ("bounce", "Transient", rows[11]),
            ("complaint", None, rows[12]),
        ]
        for n, (kind, btype, row) in enumerate(events):
            session.add(
                Event(
                    dedup_key=f"k{n}",
                    event_type=kind,
                    bounce_type=btype,
                    delivery_id=row.id,
                    raw="{}",
                )
            )
        session.execute(update(Delivery).where(Delivery.id == rows[10].id).values(state="bounced"))
        session.execute(update(Delivery).where(Delivery.id == rows[13].id).values(state="failed"))
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == rows[14].subscriber_id)
            .values(status="unsubscribed")
        )
        session.add(
            ConsentEvent(
                subscriber_id=rows[14].subscriber_id,
                list_id=1,
                action="unsubscribe",
                source="one-click",
                created_at=utcnow(),
            )
        )
    result = run("report", "--issue", "2026-11-18", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["planned"], data["sent"], data["failed"]) == (21, 20, 1)
    assert (data["delivered"], data["bounced_hard"], data["bounced_soft"], data["complained"]) == (
        10,
        1,
        1,
        1,
    )
    assert data["unsubscribed"] == 1
    assert data["rates"]["bounced_hard"] == pytest.approx(1 / 20)
    text = run("report", "--issue", "2026-11-18").output
    assert "bounced hard        1    5.00 %" in text


def test_an_unsubscribe_in_the_same_second_as_the_send_counts(run, factory):
    # SQLite's CURRENT_TIMESTAMP has whole seconds: a server-side default made an unsubscribe at
    # 12:00:00.9 look older than a delivery sent at 12:00:00.4, and the report missed it.
    assert (
        run("subscribers", "import", str(REPO / "lists/ai-morning-post.sample.csv")).exit_code == 0
    )
    assert run("send", "--issue", "2026-11-18", "--yes").exit_code == 0
    with transaction(factory) as session:
        row = session.execute(
            select(Delivery.id, Delivery.subscriber_id).order_by(Delivery.id)
        ).first()
        session.execute(update(Delivery).where(Delivery.id == row.id).values(sent_at=utcnow()))
        session.add(
            ConsentEvent(
                subscriber_id=row.subscriber_id, list_id=1, action="unsubscribe", source="link"
            )
        )
    data = json.loads(run("report", "--issue", "2026-11-18", "--json").output)
    assert data["unsubscribed"] == 1


def test_report_before_any_send_says_how_to_start(run):
    result = run("report", "--issue", "2026-11-19")
    assert result.exit_code == 1
    assert "no send of the 2026-11-19 issue yet" in result.output


def test_suppressions_add_list_remove(run):
    assert (
        "suppressed"
        in run("suppressions", "add", "Someone@Example.COM", "--detail", "asked by phone").output
    )
    assert "was already suppressed" in run("suppressions", "add", "someone@example.com").output
    listed = run("suppressions", "list", "--json").output.strip().splitlines()
    assert [json.loads(line)["email"] for line in listed] == ["someone@example.com"]
    assert run("suppressions", "remove", "Someone@example.com").exit_code == 0
    missing = run("suppressions", "remove", "Someone@example.com")
    assert missing.exit_code == 1 and "is not on the suppression list" in missing.output
    bad = run("suppressions", "add", "not-an-address")
    assert bad.exit_code == 1 and "EMAIL 'not-an-address' is not a valid address" in bad.output
