"""One autopilot at a time per list-day: the lease on an autopilot_days row (ARCHITECTURE.md, "The
autopilot's day").

A day is claimed by a compare-and-set on its holder (`UPDATE ... WHERE holder = <the holder we
read>`), which works the same on SQLite and PostgreSQL: of two autopilots that read the same
holder, one update matches and the other finds the row changed. A holder keeps the day by renewing
heartbeat_at; it is taken from them only when they are gone, by the ledger's rule
(send/workers.py: a process on this host that no longer runs, or a holder silent for LEASE), so a
restart after SIGKILL on the same machine carries on at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.send.workers import claim_is_abandoned
from mailer.store.db import transaction
from mailer.store.models import AutopilotDay, DayStage, utcnow

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)  # a holder silent this long (on another host) is gone
RENEW_EVERY = 30.0  # seconds between heartbeats while a day is held


class LeaseLost(Exception):
    """Another autopilot took the day (this one was silent for a lease): stop working it."""


@dataclass(frozen=True)
class DayRow:
    """An autopilot_days row as read when it was claimed."""

    id: int
    list_slug: str
    issue_date: dt.date
    stage: DayStage
    judge_at: dt.datetime | None
    summary_at: dt.datetime | None
    last_alert: str | None
    verdict: str | None


@dataclass(frozen=True)
class Held:
    """The day could not be claimed: `holder` has it and is alive."""

    holder: str


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes (stored as UTC)
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _row(day: AutopilotDay) -> DayRow:
    return DayRow(
        id=day.id,
        list_slug=day.list_slug,
        issue_date=day.issue_date,
        stage=DayStage(day.stage),
        judge_at=_aware(day.judge_at),
        summary_at=_aware(day.summary_at),
        last_alert=day.last_alert,
        verdict=day.verdict,
    )


def read_day(factory: sessionmaker[Session], slug: str, issue_date: dt.date) -> DayRow | None:
    with transaction(factory) as session:
        day = _find(session, slug, issue_date)
        return _row(day) if day is not None else None


def _find(session: Session, slug: str, issue_date: dt.date) -> AutopilotDay | None:
    return session.scalar(
        select(AutopilotDay).where(
            AutopilotDay.list_slug == slug, AutopilotDay.issue_date == issue_date
        )
    )


def _ensure(factory: sessionmaker[Session], slug: str, issue_date: dt.date) -> None:
    """The day's row, created in a transaction of its own: of two autopilots creating it at once,
    the second one's insert fails on the unique key and it uses the first one's row."""
    with transaction(factory) as session:
        if _find(session, slug, issue_date) is not None:
            return
    try:
        with transaction(factory) as session:
            session.add(
                AutopilotDay(
                    list_slug=slug,
                    issue_date=issue_date,
                    stage=DayStage.PREPARE,
                    updated_at=utcnow(),
                )
            )
    except IntegrityError:
        pass


def claim_day(
    factory: sessionmaker[Session], slug: str, issue_date: dt.date, worker: str
) -> DayRow | Held:
    """The day's row, now held by `worker`; or who holds it when they are alive."""
    _ensure(factory, slug, issue_date)
    with transaction(factory) as session:
        day = _find(session, slug, issue_date)
        assert day is not None  # _ensure made it, and rows are never deleted
        seen = day.holder
        if seen and seen != worker:
            if not claim_is_abandoned(seen, _aware(day.heartbeat_at), LEASE, utcnow()):
                return Held(seen)
            log.warning("autopilot %s %s: taking the day from %s (gone)", slug, issue_date, seen)
        holder_was = AutopilotDay.holder.is_(None) if seen is None else AutopilotDay.holder == seen
        taken = session.execute(
            update(AutopilotDay)
            .where(AutopilotDay.id == day.id, holder_was)
            .values(holder=worker, heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    if taken != 1:
        # another autopilot changed the holder between our read and our update
        with transaction(factory) as session:
            day = _find(session, slug, issue_date)
            return Held(day.holder or "another autopilot")
    with transaction(factory) as session:
        return _row(_find(session, slug, issue_date))


def update_day(factory: sessionmaker[Session], day_id: int, worker: str, **values) -> None:
    """Change the held day's row; LeaseLost when `worker` no longer holds it."""
    with transaction(factory) as session:
        changed = session.execute(
            update(AutopilotDay)
            .where(AutopilotDay.id == day_id, AutopilotDay.holder == worker)
            .values(**values, updated_at=utcnow(), heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    if changed != 1:
        raise LeaseLost(f"autopilot day {day_id} is no longer held by {worker}")


def release_day(factory: sessionmaker[Session], day_id: int, worker: str) -> None:
    with transaction(factory) as session:
        session.execute(
            update(AutopilotDay)
            .where(AutopilotDay.id == day_id, AutopilotDay.holder == worker)
            .values(holder=None, heartbeat_at=None)
            .execution_options(synchronize_session=False)
        )


@contextmanager
def heartbeat(
    factory: sessionmaker[Session], day_id: int, worker: str, lost: threading.Event
) -> Iterator[None]:
    """Renew the lease every RENEW_EVERY seconds while the block runs (a send can take longer than
    a lease); when it cannot, set `lost` (the send stops, finishing what is in flight)."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(RENEW_EVERY):
            try:
                update_day(factory, day_id, worker)
            except LeaseLost:
                log.error("autopilot: lost the lease on day %s; stopping its work", day_id)
                lost.set()
                return
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next beat
                log.exception("autopilot: could not renew the lease on day %s", day_id)

    thread = threading.Thread(target=beat, name="autopilot-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
