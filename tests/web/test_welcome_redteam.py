"""Red-team welcome mails over real HTTP: an address suppressed or erased between its subscription
and its confirmation gets no welcome; an issue hidden from the archive is not the one shown; an
SMTP server answering 550 or 451 to the welcome leaves the ledger saying so, and `mailer welcome
send` (a subprocess) sends a 451 row once and a 550 row never."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from mailer.store.models import Delivery, DeliveryState, Send, SendKind, Subscriber
from tests.conftest import DB_KINDS, SECRET
from tests.send.smtpserver import FaultySmtp, start
from tests.web.conftest import confirm_path
from tests.web.test_lifecycle_http import subscribe
from tests.web.test_welcome_http import WELCOME, sent_issue, welcome_mails

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
LIST = "ai-morning-post"


@pytest.fixture
def welcoming(lists_dir):
    with open(lists_dir / f"{LIST}.toml", "a") as fh:
        fh.write(WELCOME)


def cli(database_url: str, lists_dir, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        MAILER_SECRET_KEY=SECRET,
        MAILER_BASE_URL="http://127.0.0.1:9",
        MAILER_LISTS_DIR=str(lists_dir),
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def welcome_rows(factory) -> list[tuple]:
    with factory() as s:
        return s.execute(
            select(Delivery.email, Delivery.state, Delivery.last_error)
            .join(Send, Send.id == Delivery.send_id)
            .where(Send.kind == SendKind.WELCOME)
            .order_by(Delivery.id)
        ).all()


def test_no_welcome_for_an_address_suppressed_before_it_confirmed(
    welcoming, live, factory, database_url, lists_dir
):
    assert subscribe(live, "ada@example.com").status_code == 200
    path = confirm_path(live.outbox()[-1])
    added = cli(database_url, lists_dir, "suppressions", "add", "ADA@example.com")
    assert added.returncode == 0, added.stderr
    live.post(path)
    assert welcome_mails(live) == []
    assert all(state != DeliveryState.SENT for _e, state, _err in welcome_rows(factory))


def test_no_welcome_for_a_person_erased_before_they_confirmed(
    welcoming, live, factory, database_url, lists_dir
):
    assert subscribe(live, "bo@example.com").status_code == 200
    path = confirm_path(live.outbox()[-1])
    erased = cli(database_url, lists_dir, "subscribers", "erase", "bo@example.com", "--yes")
    assert erased.returncode == 0, erased.stderr
    answer = live.post(path)
    assert answer.status_code < 500
    assert welcome_mails(live) == []
    assert welcome_rows(factory) == []
    with factory() as s:
        assert s.scalar(select(Subscriber.email).where(Subscriber.email.is_not(None))) is None


@pytest.fixture
def smtp():
    servers = []

    def serve(handler: FaultySmtp) -> int:
        servers.append(start(handler))
        return servers[-1].port

    yield serve
    for controller in servers:
        controller.stop()


def welcome_accepted(server: FaultySmtp, address: str) -> list[bytes]:
    """The welcome mails the server accepted for the address (not the confirmation)."""
    found = []
    for to, _id, content in server.accepted:
        message = email.message_from_bytes(content, policy=email.policy.default)
        if to == address and message["Subject"] == "Welcome aboard":
            found.append(content)
    return found


def confirmation_link(server: FaultySmtp, address: str) -> str:
    [content] = [c for to, _id, c in server.accepted if to == address]
    message = email.message_from_bytes(content, policy=email.policy.default)
    return confirm_path(message)


@pytest.mark.parametrize("reply", ["550 5.1.1 no such user", "451 4.3.0 try again later"])
def test_a_refused_welcome_is_in_the_ledger_and_sent_at_most_once(
    welcoming, serve, smtp, factory, database_url, lists_dir, reply
):
    server = FaultySmtp()
    port = smtp(server)
    transport = f"smtp://127.0.0.1:{port}?timeout=5"
    live = serve(settings_changes={"transport": transport})
    address = "cy@example.com"
    assert subscribe(live, address).status_code == 200
    live.outbox_files()  # drains the sender thread: the confirmation went out
    path = confirmation_link(server, address)
    server.data[address] = [reply]  # the next mail to the address (the welcome) is refused once
    assert live.post(path).status_code == 200
    live.outbox_files()
    [(_email, state, error)] = welcome_rows(factory)
    assert welcome_accepted(server, address) == []
    permanent = reply.startswith("5")
    if permanent:
        assert state == DeliveryState.FAILED and "550" in (error or "")
    else:
        assert state == DeliveryState.QUEUED
    again = cli(
        database_url, lists_dir, "welcome", "send", "--list", LIST, MAILER_TRANSPORT=transport
    )
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    [(_email, state, _error)] = welcome_rows(factory)
    assert len(welcome_accepted(server, address)) == (0 if permanent else 1)
    assert state == (DeliveryState.FAILED if permanent else DeliveryState.SENT)
    twice = cli(
        database_url, lists_dir, "welcome", "send", "--list", LIST, MAILER_TRANSPORT=transport
    )
    assert twice.returncode == 0, twice.stderr
    assert len(welcome_accepted(server, address)) == (0 if permanent else 1)


def test_the_welcome_never_shows_an_issue_hidden_from_the_archive(
    welcoming, live, factory, database_url, lists_dir
):
    """`mailer archive hide` takes an issue out (a retraction): its link answers 404, so the
    welcome shows the latest issue still in the archive."""
    assert subscribe(live, "di@example.com").status_code == 200
    path = confirm_path(live.outbox()[-1])
    sent_issue(factory, "A story we retracted")
    hidden = cli(database_url, lists_dir, "archive", "hide", "--list", LIST, "--date", "2026-11-20")
    assert hidden.returncode == 0, hidden.stderr
    assert live.get(f"/archive/{LIST}/2026-11-20").status_code == 404
    assert live.post(path).status_code == 200
    [mail] = welcome_mails(live)
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert "A story we retracted" not in html + text
    assert "2026-11-20" not in html + text
    assert "An older one" in html and f"/archive/{LIST}/2026-11-19" in text
