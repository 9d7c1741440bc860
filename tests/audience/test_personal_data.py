"""A person's data document (audience/personal_data.py) and `mailer subscribers show EMAIL --json`
(a subprocess, the operator's view): profile with attributes, subscriptions with cadence and
pause, the consent history, every delivery with its SES events; the command prints the same
document as the library builds, and the text `show` prints the attributes. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from mailer.audience import lifecycle, personal_data, preferences
from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.db import transaction
from mailer.store.models import Delivery, Event, Subscriber
from mailer.transports import FileTransport
from tests.cli.test_cli import mailer
from tests.conftest import DB_KINDS, import_sample

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
ADA = "ada.lovelace@example.com"
SLUG = "ai-morning-post"
WEB = lifecycle.Visitor(ip="192.0.2.7", user_agent="Firefox", source="web")
ATTRIBUTES = {"plan": "paid", "tags": ["ml", "weekly"], "source": "substack"}


@pytest.fixture
def ada(factory, settings) -> int:
    """Ada of the sample list: attributes, a pause, one issue sent and delivered to her."""
    list_id = import_sample(factory)
    list_def = load_list(settings.lists_dir, SLUG)
    content = load_issue_for(settings, list_def, "2026-11-20")
    assert run_send(factory, settings, list_def, content, FileTransport(settings.outbox_dir)).counts
    with transaction(factory) as session:
        ada = session.scalar(select(Subscriber.id).where(Subscriber.email == ADA))
        session.execute(
            update(Subscriber).where(Subscriber.id == ada).values(attributes=ATTRIBUTES)
        )
        preferences.pause(session, ada, list_id, 1, dt.date(2026, 11, 21), WEB)
        delivery = session.scalar(select(Delivery.id).where(Delivery.subscriber_id == ada))
        session.add(
            Event(
                dedup_key="delivery:test-ada",
                event_type="delivery",
                recipient=ADA,
                delivery_id=delivery,
                occurred_at=dt.datetime(2026, 11, 20, 6, 31, 5, tzinfo=dt.UTC),
                raw="{}",
            )
        )
    return ada


def test_the_document_holds_everything_about_the_person(factory, ada):
    with factory() as session:
        data = personal_data.personal_data(session, ada)
        assert personal_data.personal_data(session, 10**9) is None
    assert data["format"] == personal_data.FORMAT
    profile = data["profile"]
    assert profile["email"] == ADA and profile["name"] == "Ada Lovelace"
    assert profile["attributes"] == ATTRIBUTES and profile["plain_links"] is False
    assert profile["suppressed"] is None and profile["erased_at"] is None
    assert profile["created_at"].endswith("+00:00")
    [sub] = data["subscriptions"]
    assert sub["list"] == SLUG and sub["status"] == "confirmed" and sub["cadence"] == "daily"
    assert sub["paused_until"] == "2026-11-28"
    assert [(e["action"], e["source"]) for e in data["consent"]] == [
        ("import", "import:csv"),
        ("pause", "web"),
    ]
    assert data["consent"][1]["ip"] == "192.0.2.7" and data["consent"][1]["list"] == SLUG
    [delivery] = data["deliveries"]
    assert delivery["kind"] == "issue" and delivery["list"] == SLUG
    assert delivery["date"] == "2026-11-20" and delivery["to"] == ADA
    assert delivery["state"] == "sent" and delivery["attempts"] == 1 and delivery["sent_at"]
    assert delivery["events"] == [{"type": "delivery", "at": "2026-11-20T06:31:05+00:00"}]
    json.loads(personal_data.as_json(data))  # plain JSON all through


def test_an_erased_person_is_an_empty_shell(factory, ada):
    with transaction(factory) as session:
        lifecycle.erase(session, ADA)
    with factory() as session:
        data = personal_data.personal_data(session, ada)
    assert data["profile"]["email"] is None and data["profile"]["name"] == ""
    assert data["deliveries"][0]["to"] is None
    assert all(e["ip"] is None and e["detail"] is None for e in data["consent"])


def test_show_json_prints_the_same_document(factory, ada, database_url, workdir):
    env = {"DATABASE_URL": database_url}
    shown = mailer(workdir, "subscribers", "show", ADA.upper(), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    with factory() as session:
        expected = personal_data.personal_data(session, ada)
    assert json.loads(shown.stdout) == expected
    assert shown.stdout == personal_data.as_json(expected)
    text = mailer(workdir, "subscribers", "show", ADA, env=env)
    assert text.returncode == 0, text.stderr
    assert 'attributes: {"plan": "paid", "source": "substack", "tags": ["ml", "weekly"]}' in (
        text.stdout
    )
    missing = mailer(workdir, "subscribers", "show", "nobody@example.com", "--json", env=env)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no subscriber 'nobody@example.com'" in missing.stderr
