"""The autopilot killed and doubled: SIGKILL at random points of a day and started again, two
autopilots at the same instant, SIGTERM in the middle of a send. Every recipient gets the issue
once. SQLite and PostgreSQL, through `mailer autopilot` subprocesses (tests/autopilot/
day_harness.py)."""

from __future__ import annotations

import random
import re
import shutil
import signal
import time

import pytest

from tests.autopilot.day_harness import CONFIRMED, SLUG, Operator, events_queue, scheduled_list
from tests.conftest import DB_KINDS, REPO

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
DAY = "2026-03-29"  # the clocks go forward: 06:30 BST is 05:30 UTC
SUBJECT = "Specialised models take the board"


def make_operator(tmp_path, database_url, factory, moto_url, canary: int = 5) -> Operator:
    shutil.copytree(REPO / "lists", tmp_path / "lists")
    shutil.copytree(REPO / "issues", tmp_path / "issues")
    (tmp_path / "lists" / f"{SLUG}.toml").write_text(scheduled_list(canary), encoding="utf-8")
    op = Operator(tmp_path, database_url, factory, moto_url, events_queue(moto_url))
    imported = op.mailer("subscribers", "import", f"lists/{SLUG}.sample.csv", "--list", SLUG)
    assert imported.returncode == 0, imported.stderr
    op.write_issue(DAY, SUBJECT)
    return op


@pytest.fixture
def operator(tmp_path, engine, database_url, factory, moto_url) -> Operator:
    return make_operator(tmp_path, database_url, factory, moto_url)


def killed_then_finished(op: Operator, at: str, rng: random.Random, kills: int = 3) -> None:
    """`kills` runs at `at` SIGKILLed after a random 0.3 to 2.5 s (startup, the lease, the middle
    of a send or after it), then one run left to finish."""
    for _ in range(kills):
        proc = op.start("autopilot", "--once", "--now", at, "--rate", "8")
        time.sleep(rng.uniform(0.3, 2.5))
        proc.kill()
        proc.communicate()
    time.sleep(2.5)  # SES events a killed poll had received are visible again (day_harness)
    op.autopilot(at)
    if op.stage(DAY) == "judge" and at >= "2026-03-29T05:50":
        # a killed poll left events invisible on the queue for its visibility timeout
        time.sleep(2.5)
        op.autopilot(at)


def test_sigkill_anywhere_and_restarted_every_recipient_once(operator):
    op, rng = operator, random.Random(20260329)
    killed_then_finished(op, "2026-03-29T04:31:00Z", rng)
    assert op.rows() == []
    killed_then_finished(op, "2026-03-29T05:30:00Z", rng)
    assert op.states() == {"sent": 5, "queued": CONFIRMED - 5}  # the canary, not one more
    op.publish([r for r in op.rows() if r.state == "sent"], "delivery")
    killed_then_finished(op, "2026-03-29T05:50:00Z", rng)
    # every recipient sent; an event a killed poll had received may come back only after its
    # visibility timeout, so it may be recorded by the summary's poll, not the judge's
    states = op.states()
    assert states.get("delivered", 0) + states["sent"] == CONFIRMED and states["delivered"] >= 1
    killed_then_finished(op, "2026-03-29T07:00:00Z", rng)
    assert op.stage(DAY) == "done"
    # A run killed at 07:00 may have received a delivery event and died before recording it, and
    # a later run posted the summary while that event was invisible on the queue: the summary is
    # a snapshot (a CI run saw delivered 4). The events poller, which runs beside the autopilot in
    # production (deploy/), records it once it is visible again.
    # Full suite runs (never this test alone, in 24 runs under load) have seen one event still
    # missing after one such poll; a few polls a visibility timeout apart, and what was stored and
    # queued printed if it is still missing.
    polls = []
    for _ in range(4):
        time.sleep(2.5)
        polled = op.mailer("events", "poll", "--once", "--wait-seconds", "1")
        assert polled.returncode == 0, polled.stderr
        polls.append(polled.stdout.strip())
        if op.states().get("delivered") == 5:
            break
    assert op.states() == {"delivered": 5, "sent": CONFIRMED - 5}, (polls, op.explain())

    recipients = op.outbox_recipients(DAY)
    assert len(recipients) == CONFIRMED == len(set(recipients))
    assert sorted(r.email.lower() for r in op.rows()) == recipients
    summaries = [
        m for m in op.alerts() if str(m["Subject"]).startswith("[The AI Morning Post] sent")
    ]
    assert summaries and re.search(r"sent 21, delivered [45]\b", str(summaries[-1]["Subject"]))


def test_two_autopilots_at_the_same_instant_one_works_the_other_says_so(operator):
    op = operator
    op.autopilot("2026-03-29T04:31:00Z")
    # one message a second: the canary of 5 takes 4 s, so the two runs overlap
    procs = [
        op.start("autopilot", "--once", "--now", "2026-03-29T05:30:00Z", "--rate", "1")
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    stdouts = [out for out, _ in outputs]
    assert sum("canary sent" in out for out in stdouts) == 1, stdouts
    assert sum("another autopilot" in out and "nothing done here" in out for out in stdouts) == 1
    assert op.states() == {"sent": 5, "queued": CONFIRMED - 5}
    assert len(op.outbox_recipients(DAY)) == 5


def test_sigterm_finishes_the_messages_in_flight_and_a_restart_sends_the_rest(
    tmp_path, engine, database_url, factory, moto_url
):
    op = make_operator(tmp_path, database_url, factory, moto_url, canary=0)
    # runs on from 05:29:57: prepares at once, sleeps until 05:30, sends four a second
    proc = op.start("autopilot", "--now", "2026-03-29T05:29:57Z", "--rate", "4")
    deadline = time.monotonic() + 60
    while len(op.outbox_recipients(DAY)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "stopped: the messages in flight were finished" in err and "Traceback" not in err
    states = op.states()
    assert "sending" not in states and 3 <= states["sent"] < CONFIRMED
    assert states["sent"] == len(op.outbox_recipients(DAY))  # written == recorded

    op.autopilot("2026-03-29T05:31:00Z")
    recipients = op.outbox_recipients(DAY)
    assert len(recipients) == CONFIRMED == len(set(recipients))
    assert op.states() == {"sent": CONFIRMED} and op.stage(DAY) == "summary"
