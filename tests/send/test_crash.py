"""Crash test: a 2,000-recipient send killed with SIGKILL at 20 random moments and resumed each
time.
Across all runs no address is acknowledged twice, every row ends `sent` or `unknown`, and the
unknown
rows are no more than were in flight at the kills."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from sqlalchemy import func, select

from mailer.store.models import Delivery
from tests.send.conftest import ISSUE, add_subscribers, ledger
from tests.send.helpers import fork, mailer_env, run

RECIPIENTS, KILLS = 2000, 20


def in_flight(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).where(Delivery.state == "sending"))


def kill_mid_send(proc, fake_ses, rng) -> bool:
    """SIGKILL once the endpoint acknowledged a random number of further messages; False if it ended
    first."""
    target = len(fake_ses.acknowledged()) + rng.randint(1, 120)
    while proc.is_alive() and sum(fake_ses.acknowledged().values()) < target:
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.01))
    if not proc.is_alive():
        proc.join()
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    return True


@pytest.mark.slow
def test_sigkill_at_random_moments_never_doubles_and_accounts_for_everyone(
    database_url, factory, fake_ses
):
    add_subscribers(factory, RECIPIENTS)
    fake_ses.keep_raw = False
    fake_ses.latency = 0.002
    env = mailer_env(database_url, fake_ses.url)
    rng = random.Random(20261120)
    killed, inflight_at_kills = 0, 0
    for _ in range(KILLS):
        proc = fork(env, "send", "--issue", ISSUE, "--yes", "--rate", "2000", "--concurrency", "16")
        if kill_mid_send(proc, fake_ses, rng):
            killed += 1
            inflight_at_kills += in_flight(factory)
        else:
            assert proc.exitcode == 0
    final = run(env, "send", "--issue", ISSUE, "--yes")
    assert final.returncode == 0, final.stderr
    assert killed >= KILLS // 2  # most kills landed mid-send

    acknowledged = fake_ses.acknowledged()
    assert max(acknowledged.values()) == 1, [a for a, n in acknowledged.items() if n > 1][:5]
    rows = ledger(factory)
    assert len(rows) == RECIPIENTS
    states = {row.state for row in rows.values()}
    assert states <= {"sent", "unknown"}, states
    unknown = [row for row in rows.values() if row.state == "unknown"]
    assert len(unknown) <= inflight_at_kills
    message_ids = fake_ses.message_ids()
    for row in rows.values():
        if row.state == "sent":
            assert message_ids[row.provider_message_id] == row.email
