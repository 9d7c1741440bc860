"""PostgreSQL: four `mailer send --worker` processes share one 5,000-recipient send (SKIP LOCKED
claims); no address is sent twice and every row ends `sent`."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailer.campaign import get_or_plan_send, load_issue_for, prepare_issue
from mailer.db import transaction
from mailer.models import Delivery

from .conftest import ISSUE, LIST, add_subscribers, ledger
from .helpers import mailer_env, start

RECIPIENTS, WORKERS = 5000, 4


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_four_workers_share_one_send_without_doubles(database_url, factory, settings, fake_ses):
    add_subscribers(factory, RECIPIENTS)
    with transaction(factory) as session:  # plan once; the workers join it
        get_or_plan_send(session, prepare_issue(session, settings, LIST, load_issue_for(settings, LIST, ISSUE)))
    fake_ses.keep_raw = False
    env = mailer_env(database_url, fake_ses.url)
    procs = [start(env, "send", "--issue", ISSUE, "--worker", "--rate", "1000", "--concurrency", "8")
             for _ in range(WORKERS)]
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
