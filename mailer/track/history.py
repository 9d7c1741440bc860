"""A send over time and a list's sends over issues, as the HTML report draws them (ARCHITECTURE.md,
"Clicks"): messages handed over and delivered per hour, and the last issues' sent, delivered rate
and click rate.

- handed over in an hour: ledger rows accepted by the transport whose `sent_at` falls in it;
- delivered in an hour: ledger rows whose first SES Delivery event (its time, else when it was
  received) falls in it;
- delivered rate: delivered / sent, as `mailer report` has it;
- click rate: estimated unique clickers (distinct (day, visitor) over all the send's links) / its
  reach (track/clicks.py: delivered, or sent when no Delivery event came at all); none for a send
  without click tracking.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.store.models import ACCEPTED, Delivery, Event, EventKind, Issue, Send
from mailer.track.clicks import delivered_counts, reach, sent_counts, unique_clickers

TREND_ISSUES = 30


@dataclass(frozen=True)
class HourCounts:
    hour: dt.datetime  # UTC, the start of the hour
    sent: int
    delivered: int


@dataclass(frozen=True)
class TrendPoint:
    issue_date: dt.date
    sent: int
    delivered: int
    delivered_rate: float | None  # None: nothing sent
    click_rate: float | None  # None: no click tracking, or nothing reached


def _hour_text(session: Session, column):
    """`column` (a UTC timestamp) as 'YYYY-MM-DD HH', grouped on in SQL on both databases."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    # SQLite keeps DateTime values as ISO text in UTC (the package writes only UTC times)
    return func.strftime("%Y-%m-%d %H", column)


def _parse_hour(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=dt.UTC)


def deliveries_per_hour(session: Session, send_id: int) -> list[HourCounts]:
    """Every hour from the first hand-over (or delivery) to the last, empty hours included."""
    sent_hour = _hour_text(session, Delivery.sent_at)
    sent = dict(
        session.execute(
            select(sent_hour, func.count())
            .where(
                Delivery.send_id == send_id,
                Delivery.state.in_(ACCEPTED),
                Delivery.sent_at.is_not(None),
            )
            .group_by(sent_hour)
        ).all()
    )
    first = (
        select(func.min(func.coalesce(Event.occurred_at, Event.received_at)).label("at"))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Delivery.send_id == send_id, Event.event_type == EventKind.DELIVERY)
        .group_by(Event.delivery_id)
        .subquery()
    )
    delivered_hour = _hour_text(session, first.c.at)
    delivered = dict(
        session.execute(select(delivered_hour, func.count()).group_by(delivered_hour)).all()
    )
    hours = sorted(_parse_hour(h) for h in set(sent) | set(delivered))
    if not hours:
        return []
    out = []
    hour = hours[0]
    while hour <= hours[-1]:
        key = hour.strftime("%Y-%m-%d %H")
        out.append(HourCounts(hour, sent.get(key, 0), delivered.get(key, 0)))
        hour += dt.timedelta(hours=1)
    return out


def recent_sends(session: Session, send: Send, count: int = TREND_ISSUES) -> list[tuple]:
    """(send id, issue date, click tracking) of the list's last `count` started sends up to this
    send's issue, oldest first."""
    this_date = session.scalar(select(Issue.issue_date).where(Issue.id == send.issue_id))
    rows = session.execute(
        select(Send.id, Issue.issue_date, Send.click_tracking)
        .join(Issue, Issue.id == Send.issue_id)
        .where(
            Send.list_id == send.list_id,
            Send.started_at.is_not(None),
            Issue.issue_date <= this_date,
        )
        .order_by(Issue.issue_date.desc())
        .limit(count)
    ).all()
    return list(reversed(rows))


def trend(session: Session, send: Send, count: int = TREND_ISSUES) -> list[TrendPoint]:
    """The last `count` issues of the send's list, this one last."""
    rows = recent_sends(session, send, count)
    ids = [row[0] for row in rows]
    sent, delivered = sent_counts(session, ids), delivered_counts(session, ids)
    clickers = unique_clickers(session, ids)
    out = []
    for send_id, issue_date, tracked in rows:
        s, d = sent.get(send_id, 0), delivered.get(send_id, 0)
        base = reach(s, d)
        out.append(
            TrendPoint(
                issue_date=issue_date,
                sent=s,
                delivered=d,
                delivered_rate=d / s if s else None,
                click_rate=clickers.get(send_id, 0) / base if tracked and base else None,
            )
        )
    return out
