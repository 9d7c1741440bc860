"""The lease on an autopilot day (mailer/autopilot/lease.py), on SQLite and PostgreSQL: one holder
at a time, taken only from a holder that is gone."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading

import pytest
from sqlalchemy import update

from mailer.autopilot.lease import (
    LEASE,
    DayRow,
    Held,
    LeaseLost,
    claim_day,
    release_day,
    update_day,
)
from mailer.send.workers import worker_name
from mailer.store.db import transaction
from mailer.store.models import AutopilotDay, DayStage, utcnow
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
DAY = dt.date(2026, 11, 23)
HOST = socket.gethostname()[:60]


def live(nonce: str) -> str:
    """A holder name for a process on this host that runs (pytest's parent): not this process,
    whose earlier runs count as gone."""
    return f"{HOST}:{os.getppid()}:{nonce}"


def set_holder(factory, holder: str, heartbeat_at: dt.datetime) -> None:
    with transaction(factory) as session:
        session.execute(update(AutopilotDay).values(holder=holder, heartbeat_at=heartbeat_at))


def test_a_live_holder_keeps_the_day(factory):
    mine, other = live("mine"), live("other")
    claimed = claim_day(factory, "post", DAY, mine)
    assert isinstance(claimed, DayRow) and claimed.stage == DayStage.PREPARE
    assert claim_day(factory, "post", DAY, other) == Held(mine)
    with pytest.raises(LeaseLost):
        update_day(factory, claimed.id, other, stage=DayStage.CANARY)
    release_day(factory, claimed.id, mine)
    assert isinstance(claim_day(factory, "post", DAY, other), DayRow)


def test_a_holder_whose_process_is_gone_loses_the_day_at_once(factory):
    claim_day(factory, "post", DAY, "seed")
    set_holder(factory, f"{HOST}:999999999:abcdef", utcnow())  # no such pid on this host
    assert isinstance(claim_day(factory, "post", DAY, worker_name()), DayRow)


def test_a_holder_elsewhere_is_gone_only_after_a_silent_lease(factory):
    claim_day(factory, "post", DAY, "seed")
    set_holder(factory, "other-host:123:abcdef", utcnow() - LEASE + dt.timedelta(seconds=30))
    assert claim_day(factory, "post", DAY, worker_name()) == Held("other-host:123:abcdef")
    set_holder(factory, "other-host:123:abcdef", utcnow() - LEASE - dt.timedelta(seconds=1))
    assert isinstance(claim_day(factory, "post", DAY, worker_name()), DayRow)


def test_of_many_claiming_at_once_exactly_one_holds_the_day(factory):
    names = [live(f"racer{n}") for n in range(8)]
    results: list = []
    barrier = threading.Barrier(len(names))

    def claim(name: str) -> None:
        barrier.wait()
        results.append(claim_day(factory, "post", DAY, name))

    threads = [threading.Thread(target=claim, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held = [r for r in results if isinstance(r, DayRow)]
    assert len(held) == 1 and len(results) == len(names)
