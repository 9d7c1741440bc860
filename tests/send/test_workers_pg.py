"""Several `mailer send` processes on one send: four `--worker` processes share a 5,000-recipient
send
on PostgreSQL (SKIP LOCKED claims), and processes started at the same moment on a fresh issue, on
PostgreSQL and on SQLite, plan it once, send nobody twice and all exit 0."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.content.load import load_issue_for
from mailer.send.campaign import plan_issue
from mailer.store.models import Delivery, Issue, Send
from tests.conftest import DB_KINDS, REPO
from tests.send.conftest import ISSUE, LIST, add_subscribers, ledger
from tests.send.helpers import mailer_env, start

RECIPIENTS, WORKERS = 5000, 4
SEED_ISSUES = sorted(path.stem for path in (REPO / "issues" / LIST.slug).glob("????-??-??.md"))

# `mailer ARGS` held at a barrier: the process imports everything, says it is ready, then waits for
# the go file, so that the racing processes reach the planning code together.
RELEASED = """
import os, sys, time
from mailer.cli import cli
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
cli.main(args=sys.argv[3:], prog_name="mailer")
"""


def start_together(
    env: dict[str, str], count: int, folder: Path, *args: str
) -> list[subprocess.Popen]:
    folder.mkdir()
    go = folder / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RELEASED, str(folder / f"ready{n}"), str(go), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]
    deadline = time.monotonic() + 120
    while len(list(folder.glob("ready*"))) < count:
        assert time.monotonic() < deadline, "the racing processes did not start"
        assert all(proc.poll() is None for proc in procs), [proc.communicate() for proc in procs]
        time.sleep(0.01)
    go.touch()
    return procs


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_processes_started_together_on_a_fresh_issue_plan_it_once(
    database_url, factory, fake_ses, tmp_path
):
    """Five rounds, one fresh issue each, so that one lucky ordering cannot hide the race."""
    add_subscribers(factory, 30)  # the fake keeps each request's tags: which send a message was for
    env = mailer_env(database_url, fake_ses.url)
    # PostgreSQL: workers joining one send; SQLite: operators' plain sends that happen to overlap.
    join = ("--worker",) if database_url.startswith("postgresql") else ("--yes",)
    for issue in SEED_ISSUES:
        procs = start_together(
            env,
            WORKERS,
            tmp_path / issue,
            "send",
            "--issue",
            issue,
            "--yes",
            *join,
            "--rate",
            "200",
        )
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{issue}: {err}"
            assert "Traceback" not in err and "Error" not in err, err
            assert out.strip(), err
    with factory() as session:
        issues = session.scalar(select(func.count()).select_from(Issue))
        sends = dict(session.execute(select(Send.id, Send.planned_count)).all())
        per_send = dict(
            session.execute(select(Delivery.send_id, func.count()).group_by(Delivery.send_id)).all()
        )
    assert issues == len(SEED_ISSUES) and len(sends) == len(SEED_ISSUES)
    assert per_send == sends == {send_id: 30 for send_id in sends}  # planned once, by one process
    assert {row.state for row in ledger(factory).values()} == {"sent"}
    sent = Counter((r.address, r.tags.get("send_id")) for r in fake_ses.received if r.message_id)
    assert (
        len(sent) == 30 * len(SEED_ISSUES) and max(sent.values()) == 1
    )  # nobody twice in any round


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_four_workers_share_one_send_without_doubles(database_url, factory, settings, fake_ses):
    add_subscribers(factory, RECIPIENTS)
    plan_issue(
        factory, settings, LIST, load_issue_for(settings, LIST, ISSUE)
    )  # once; the workers join it
    fake_ses.keep_raw = False
    env = mailer_env(database_url, fake_ses.url)
    procs = [
        start(env, "send", "--issue", ISSUE, "--worker", "--rate", "1000", "--concurrency", "8")
        for _ in range(WORKERS)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
    acknowledged = fake_ses.acknowledged()
    assert len(acknowledged) == RECIPIENTS and max(acknowledged.values()) == 1
    rows = ledger(factory)
    assert {row.state for row in rows.values()} == {"sent"}
    with factory() as session:
        workers = session.scalar(select(func.count(func.distinct(Delivery.claimed_by))))
    assert workers >= 2  # the work was shared, not done by the first process alone
