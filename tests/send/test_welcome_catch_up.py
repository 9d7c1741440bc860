"""Welcome rows the web app left queued (it crashed, the transport was down) go out with `mailer
welcome send` (a subprocess, as an operator runs it) and with the autopilot's wake; each once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mailer.audience import lifecycle
from mailer.audience.lists import ensure_list
from mailer.autopilot.day import Autopilot
from mailer.autopilot.run import run_once
from mailer.content.lists import load_list
from mailer.store.db import transaction
from mailer.store.models import Delivery, DeliveryState, Send, SendKind, utcnow
from tests.cli.test_cli import mailer
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
LIST = "ai-morning-post"
WELCOME = '\n[welcome]\nenabled = true\nsubject = "Welcome aboard"\n'


def confirmed(factory, lists: Path, address: str) -> int | None:
    """Subscribed and confirmed as the web app does it, its welcome row queued and never sent (the
    sender thread died with its process); the row's id."""
    with transaction(factory) as session:
        list_id = ensure_list(session, load_list(lists, LIST))
        pending = lifecycle.subscribe(session, list_id, address, "", lifecycle.Visitor())
        done = lifecycle.confirm(session, pending.subscriber_id, list_id, lifecycle.Visitor(), True)
    return done.welcome_id


def states(factory) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(
                select(Delivery.state)
                .join(Send, Send.id == Delivery.send_id)
                .where(Send.kind == SendKind.WELCOME)
                .order_by(Delivery.id)
            )
        )


def welcome_files(outbox: Path) -> list[Path]:
    return sorted((outbox / LIST / "welcome").glob("*.eml"))


@pytest.fixture
def lists(workdir) -> Path:
    with open(workdir / "lists" / f"{LIST}.toml", "a") as fh:
        fh.write(WELCOME)
    return workdir / "lists"


def test_welcome_send_delivers_what_was_left_once(workdir, lists, factory, database_url):
    ids = [confirmed(factory, lists, f"q{i}@example.com") for i in range(3)]
    assert all(ids)
    with transaction(factory) as session:
        # One left 'sending' by a sender thread on another host (judged by its lease only) ...
        session.execute(
            update(Delivery)
            .where(Delivery.id == ids[1])
            .values(state=DeliveryState.SENDING, claimed_by="nowhere:1:aa", claimed_at=utcnow())
        )
        # ... and one whose reader left before anything went out.
        sub = session.scalar(select(Delivery.subscriber_id).where(Delivery.id == ids[2]))
        list_id = lifecycle.list_id_of(session, LIST)
        lifecycle.unsubscribe(session, sub, [list_id], lifecycle.Visitor())
    env = {"DATABASE_URL": database_url}
    first = mailer(workdir, "welcome", "send", "--list", LIST, "--rate", "50", env=env)
    assert first.returncode == 0, first.stderr
    # the dead worker's row on another host stays 'sending' until its lease runs out: never twice
    assert "sent 1 now" in first.stdout and "1 skipped" in first.stdout, first.stdout
    assert states(factory) == ["sent", "sending", "skipped"]
    with transaction(factory) as session:  # its lease ran out
        old = utcnow() - dt.timedelta(hours=1)
        session.execute(update(Delivery).where(Delivery.id == ids[1]).values(claimed_at=old))
    second = mailer(workdir, "welcome", "send", "--list", LIST, env=env)
    assert second.returncode == 0 and "sent 1 now" in second.stdout, second.stdout
    files = welcome_files(workdir / "var" / "outbox")
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]
    assert sorted(m["To"].addresses[0].addr_spec for m in mails) == [
        "q0@example.com",
        "q1@example.com",
    ]
    assert all(m["Subject"] == "Welcome aboard" and m["List-Unsubscribe"] for m in mails)
    third = mailer(workdir, "welcome", "send", "--list", LIST, env=env)
    assert "sent 0 now, 2 in total" in third.stdout, third.stdout
    assert len(welcome_files(workdir / "var" / "outbox")) == 2


def test_welcome_send_refuses_a_list_without_welcome(workdir, database_url):
    assert mailer(workdir, "db", "upgrade", env={"DATABASE_URL": database_url}).returncode == 0
    result = mailer(workdir, "welcome", "send", "--list", LIST, env={"DATABASE_URL": database_url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "[welcome] is not enabled" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_the_autopilot_sends_left_welcomes_at_its_wake(lists, settings, factory, tmp_path):
    assert confirmed(factory, lists, "auto@example.com")
    pilot = Autopilot(
        settings=dataclasses.replace(settings, lists_dir=lists),
        factory=factory,
        worker="pilot",
        clock=lambda: dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC),
    )
    lines = run_once(pilot)
    assert any("welcome mails: sent 1 now" in line for line in lines), lines
    assert states(factory) == ["sent"]
    assert not any("welcome" in line for line in run_once(pilot))  # nothing waits: no line
    assert len(welcome_files(settings.outbox_dir)) == 1
