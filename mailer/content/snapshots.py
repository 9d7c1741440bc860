"""Dated snapshots of what each trending source returned: one row per (source, day).

An issue renders from the snapshot, never from a live request, so a re-render is identical.
Rows are written once: a second fetch on the same day keeps the first unless asked to replace it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.errors import MailerError
from mailer.store.models import TrendingSnapshot, utcnow


@dataclass(frozen=True)
class Snapshot:
    source: str
    taken_on: dt.date
    fetched_at: dt.datetime | None
    entries: tuple[dict[str, Any], ...]


def _plain(row: TrendingSnapshot) -> Snapshot:
    try:
        entries = json.loads(row.payload)
    except ValueError as exc:
        raise MailerError(
            f"trending snapshot {row.source} of {row.taken_on} is not valid JSON ({exc}); "
            f"fetch it again with `mailer trending fetch --refresh`"
        ) from None
    if not isinstance(entries, list):
        raise MailerError(
            f"trending snapshot {row.source} of {row.taken_on} is not a JSON list; "
            f"fetch it again with `mailer trending fetch --refresh`"
        )
    return Snapshot(row.source, row.taken_on, row.fetched_at, tuple(entries))


def store_snapshot(
    session: Session,
    source: str,
    taken_on: dt.date,
    entries: list[dict[str, Any]],
    replace: bool = False,
) -> tuple[Snapshot, bool]:
    """Save a day's entries; returns (the snapshot now stored, whether this call wrote it)."""
    row = session.scalars(
        select(TrendingSnapshot).where(
            TrendingSnapshot.source == source, TrendingSnapshot.taken_on == taken_on
        )
    ).one_or_none()
    payload = json.dumps(entries, sort_keys=True, ensure_ascii=False)
    if row is not None and not replace:
        return _plain(row), False
    if row is None:
        row = TrendingSnapshot(source=source, taken_on=taken_on)
        session.add(row)
    row.payload, row.fetched_at = payload, utcnow()
    session.flush()
    return _plain(row), True


def snapshot_on(session: Session, source: str, day: dt.date) -> Snapshot | None:
    row = session.scalars(
        select(TrendingSnapshot).where(
            TrendingSnapshot.source == source, TrendingSnapshot.taken_on == day
        )
    ).one_or_none()
    return _plain(row) if row else None


def latest_snapshot(session: Session, source: str, on_or_before: dt.date) -> Snapshot | None:
    """The newest snapshot of a source taken on or before a day."""
    row = session.scalars(
        select(TrendingSnapshot)
        .where(TrendingSnapshot.source == source, TrendingSnapshot.taken_on <= on_or_before)
        .order_by(TrendingSnapshot.taken_on.desc())
        .limit(1)
    ).first()
    return _plain(row) if row else None


def week_before(session: Session, snapshot: Snapshot, min_days: int = 7) -> Snapshot | None:
    """The snapshot movers compare against: the newest one at least `min_days` older."""
    return latest_snapshot(
        session, snapshot.source, snapshot.taken_on - dt.timedelta(days=min_days)
    )
