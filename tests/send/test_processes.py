"""`--processes N`: forked sender processes share one send through the ledger's claims; killing the
parent takes them along, and a rerun settles their rows."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from mailer.store.models import Delivery
from tests.conftest import DB_KINDS
from tests.send.conftest import ISSUE, add_subscribers, ledger, send, ses_transport
from tests.send.helpers import mailer_env, run, start


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_two_processes_send_everyone_once(factory, settings, fake_ses):
    add_subscribers(factory, 400)
    fake_ses.keep_raw = False
    summary = send(
        factory, settings, ses_transport(fake_ses.url), rate=2000.0, concurrency=8, processes=2
    )
    assert summary.state == "done" and summary.counts == {"sent": 400} and summary.sent_now == 400
    acknowledged = fake_ses.acknowledged()
    assert len(acknowledged) == 400 and max(acknowledged.values()) == 1
    message_ids = fake_ses.message_ids()
    assert all(
        message_ids[row.provider_message_id] == row.email for row in ledger(factory).values()
    )
    with factory() as session:
        assert session.scalar(select(func.count(func.distinct(Delivery.claimed_by)))) == 2


def test_killed_parent_takes_its_senders_along_and_a_rerun_settles(database_url, factory, fake_ses):
    add_subscribers(factory, 1500)
    fake_ses.keep_raw = False
    fake_ses.latency = 0.002
    env = mailer_env(database_url, fake_ses.url)
    proc = start(
        env,
        "send",
        "--issue",
        ISSUE,
        "--yes",
        "--rate",
        "2000",
        "--concurrency",
        "16",
        "--processes",
        "2",
    )
    while proc.poll() is None and sum(fake_ses.acknowledged().values()) < 200:
        time.sleep(0.005)
    assert proc.poll() is None, "the send ended before it could be killed"
    proc.kill()  # SIGKILL: no cleanup in the parent
    proc.communicate()
    final = run(env, "send", "--issue", ISSUE, "--yes", "--rate", "2000", "--concurrency", "16")
    assert final.returncode == 0, final.stderr
    acknowledged = fake_ses.acknowledged()
    assert max(acknowledged.values()) == 1
    rows = ledger(factory)
    assert len(rows) == 1500 and {row.state for row in rows.values()} <= {"sent", "unknown"}
    message_ids = fake_ses.message_ids()
    assert all(
        message_ids[row.provider_message_id] == row.email
        for row in rows.values()
        if row.state == "sent"
    )
