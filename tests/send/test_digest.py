"""The weekly digest (ARCHITECTURE.md, "Preferences"): planned for the weekly readers not paused at
its date, sent through the ledger like an issue, refused with one line when it cannot be sent.
Real databases built by the migrations; mails read from the outbox with the email package; the
CLI in a subprocess. The cadence and pause columns are written directly (the /manage forms are
part D's)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import os
import shutil
import signal
import time
from email.policy import default as default_policy
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select, update

from mailer.content.lists import DigestSettings
from mailer.content.load import load_issue_for
from mailer.content.snapshots import store_snapshot
from mailer.send.campaign import run_send
from mailer.send.digest import run_digest
from mailer.store.db import transaction
from mailer.store.models import Cadence, Delivery, Digest, Send, Subscriber, Subscription
from mailer.tokens import read_token
from mailer.transports import FileTransport
from tests.conftest import DB_KINDS, REPO, SECRET
from tests.send.conftest import LIST, add_subscribers
from tests.send.helpers import fork, mailer_env, run

DIGEST_LIST = dataclasses.replace(LIST, digest=DigestSettings(enabled=True, day="sun"))
SUNDAY = dt.date(2026, 11, 22)
WEEK = ("2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21")  # the issues in the repo before it


def reader(i: int) -> str:
    return f"reader{i:06d}@example.com"


def _set(factory, emails, **values) -> None:
    with transaction(factory) as session:
        ids = select(Subscriber.id).where(Subscriber.email.in_(list(emails)))
        session.execute(
            update(Subscription).where(Subscription.subscriber_id.in_(ids)).values(**values)
        )


def send_week(factory, settings) -> None:
    for spec in WEEK:
        content = load_issue_for(settings, DIGEST_LIST, spec)
        run_send(factory, settings, DIGEST_LIST, content, FileTransport(settings.outbox_dir))


def outbox(settings, folder: str) -> list[email.message.EmailMessage]:
    path = settings.outbox_dir / "ai-morning-post" / folder
    return [
        email.message_from_bytes(p.read_bytes(), policy=default_policy)
        for p in sorted(path.glob("*.eml"))
    ]


def to(messages) -> set[str]:
    return {m["To"].addresses[0].addr_spec for m in messages}


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_weekly_readers_get_the_digest_and_no_issue_daily_readers_no_digest(factory, settings):
    add_subscribers(factory, 5)
    daily = {reader(0), reader(1)}
    weekly, paused_past, paused_to_sunday = {reader(2), reader(3)}, reader(4), reader(3)
    _set(factory, weekly | {paused_past}, cadence=Cadence.WEEKLY)
    send_week(factory, settings)
    _set(factory, [paused_past], paused_until=SUNDAY + dt.timedelta(days=1))
    _set(factory, [paused_to_sunday], paused_until=SUNDAY)  # the end date: it gets the digest
    with transaction(factory) as session:  # a snapshot of the week: its trending summary
        entries = [{"id": "acme/always-on", "task": "text-generation"}, {"id": "acme/once"}]
        store_snapshot(session, "huggingface-models", dt.date(2026, 11, 18), entries)
        store_snapshot(session, "huggingface-models", dt.date(2026, 11, 20), entries[:1])

    summary = run_digest(factory, settings, DIGEST_LIST, SUNDAY, FileTransport(settings.outbox_dir))

    assert summary.state == "done" and summary.counts == {"sent": 2}
    for spec in WEEK:
        assert to(outbox(settings, spec)) == daily, spec
    mails = outbox(settings, f"digest-{SUNDAY}")
    assert to(mails) == weekly
    mail = mails[0]
    assert mail["Subject"] == "The AI Morning Post: the week"
    https = mail["List-Unsubscribe"].split(",")[0].strip(" <>")
    assert read_token(SECRET, "unsubscribe", urlparse(https).path.rsplit("/", 1)[1])
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for spec in WEEK:
        assert f"https://news.example/archive/ai-morning-post/{spec}" in text
        assert f'href="https://news.example/archive/ai-morning-post/{spec}"' in html
    assert "The Micro-Specialization Wave" in text  # the 2026-11-20 issue's headline
    manage = next(line for line in text.splitlines() if "/manage/" in line).strip()
    assert read_token(SECRET, "manage", manage.rsplit("/", 1)[1]).list_slug == "ai-morning-post"
    assert "acme/always-on (Hugging Face model, in 4 of 4 issues)" in text
    assert "acme/once (Hugging Face model, in 2 of 4 issues)" in text
    assert "%%" not in text + html


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_a_second_run_sends_nothing_and_the_stored_digest_is_what_goes_out(factory, settings):
    add_subscribers(factory, 3)
    _set(factory, [reader(1), reader(2)], cadence=Cadence.WEEKLY)
    send_week(factory, settings)
    transport = FileTransport(settings.outbox_dir)
    first = run_digest(factory, settings, DIGEST_LIST, SUNDAY, transport)
    _set(factory, [reader(0)], cadence=Cadence.WEEKLY)  # chose the digest after it was planned
    again = run_digest(factory, settings, DIGEST_LIST, SUNDAY, transport)
    assert first.sent_now == 2 and again.sent_now == 0 and again.counts == {"sent": 2}
    assert "nothing to send" in again.line()
    assert len(outbox(settings, f"digest-{SUNDAY}")) == 2
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Digest)) == 1
        kinds = dict(session.execute(select(Send.kind, func.count()).group_by(Send.kind)).all())
    assert kinds == {"issue": 4, "digest": 1}


def test_a_digest_with_no_weekly_reader_plans_an_empty_ledger(factory, settings):
    add_subscribers(factory, 2)
    send_week(factory, settings)
    summary = run_digest(factory, settings, DIGEST_LIST, SUNDAY, FileTransport(settings.outbox_dir))
    assert summary.state == "done" and summary.counts == {}


# -- the CLI -------------------------------------------------------------------------------------
@pytest.fixture
def lists_dir(tmp_path):
    """lists/ with [digest] enabled on Sundays."""
    folder = tmp_path / "lists"
    shutil.copytree(REPO / "lists", folder)
    with open(folder / "ai-morning-post.toml", "a") as f:
        f.write('\n[digest]\nenabled = true\nday = "sun"\n')
    return folder


def cli_env(database_url, settings, lists_dir, **extra):
    return mailer_env(
        database_url,
        "http://127.0.0.1:9",
        MAILER_TRANSPORT="file",
        MAILER_OUTBOX=str(settings.outbox_dir),
        MAILER_LISTS_DIR=str(lists_dir),
        **extra,
    )


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_cli_refuses_in_one_line(database_url, factory, settings, lists_dir):
    add_subscribers(factory, 2)
    env = cli_env(database_url, settings, lists_dir)
    saturday = run(env, "digest", "send", "--date", "2026-11-21", "--yes")
    assert saturday.returncode == 1
    assert saturday.stderr.strip().splitlines() == [
        "Error: --date 2026-11-21 is a Saturday, but the digest of ai-morning-post goes on 'sun' "
        f"([digest] day in {lists_dir / 'ai-morning-post.toml'}): use --date 2026-11-22"
    ]
    empty = run(env, "digest", "send", "--date", "2026-11-22", "--yes")
    assert empty.returncode == 1
    assert empty.stderr.strip().splitlines() == [
        "Error: no issue of ai-morning-post was sent from 2026-11-15 to 2026-11-21: there is "
        "nothing to digest on 2026-11-22"
    ]
    off = run(
        cli_env(database_url, settings, REPO / "lists"),
        "digest",
        "send",
        "--date",
        "2026-11-22",
    )
    assert off.returncode == 1 and len(off.stderr.strip().splitlines()) == 1
    assert "[digest] is not enabled for ai-morning-post; set enabled = true" in off.stderr
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Send)) == 0


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_cli_dry_run_changes_nothing_then_the_send_goes(database_url, factory, settings, lists_dir):
    add_subscribers(factory, 3)
    _set(factory, [reader(2)], cadence=Cadence.WEEKLY)
    send_week(factory, settings)
    env = cli_env(database_url, settings, lists_dir)
    dry = run(env, "digest", "send", "--date", "2026-11-22", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would plan 1 weekly readers (queued 1)" in dry.stdout and "4 issues" in dry.stdout
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Digest)) == 0
    sent = run(env, "digest", "send", "--date", "2026-11-22", "--yes")
    assert sent.returncode == 0, sent.stderr
    assert "sent 1 now, 1 of 1 in total" in sent.stdout
    assert to(outbox(settings, "digest-2026-11-22")) == {reader(2)}


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_a_digest_killed_mid_send_resumes_without_doubles(
    database_url, factory, settings, lists_dir, fake_ses
):
    weekly = 400
    add_subscribers(factory, weekly)
    _set(factory, [reader(i) for i in range(weekly)], cadence=Cadence.WEEKLY)
    content = load_issue_for(settings, DIGEST_LIST, "2026-11-20")
    run_send(factory, settings, DIGEST_LIST, content, FileTransport(settings.outbox_dir))
    fake_ses.keep_raw, fake_ses.latency = False, 0.003
    env = mailer_env(database_url, fake_ses.url, MAILER_LISTS_DIR=str(lists_dir))
    args = ("digest", "send", "--date", "2026-11-22", "--yes")
    proc = fork(env, *args)
    while proc.is_alive() and sum(fake_ses.acknowledged().values()) < 60:
        time.sleep(0.002)
    assert proc.is_alive(), "the digest ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    with factory() as session:
        sent_before = session.scalar(select(func.count()).where(Delivery.state == "sent"))
    assert 0 < sent_before < weekly

    final = run(env, *args)
    assert final.returncode == 0, final.stderr
    acknowledged = fake_ses.acknowledged()
    assert max(acknowledged.values()) == 1
    with factory() as session:
        states = dict(
            session.execute(
                select(Delivery.state, func.count())
                .join(Send, Send.id == Delivery.send_id)
                .where(Send.kind == "digest")
                .group_by(Delivery.state)
            ).all()
        )
    assert set(states) <= {"sent", "unknown"} and sum(states.values()) == weekly
    # every sent row was acknowledged once; an unknown one was in flight at the kill
    assert states["sent"] <= len(acknowledged) <= weekly
