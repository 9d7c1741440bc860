"""What happened to an issue's send: ledger states joined with SES events and unsubscribes."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import NotFoundError
from mailer.store.db import transaction
from mailer.store.events import event_recipients
from mailer.store.models import (
    ACCEPTED,
    ConsentAction,
    ConsentEvent,
    Delivery,
    DeliveryState,
    EventKind,
    Issue,
    MailingList,
    Send,
)


@dataclass(frozen=True)
class SendReport:
    send_id: int
    state: str
    pause_reason: str | None
    planned: int
    sent: int
    delivered: int
    bounced_hard: int
    bounced_soft: int
    complained: int
    unsubscribed: int
    failed: int
    unknown: int
    queued: int
    skipped: int

    def rate(self, count: int) -> float:
        return count / self.sent if self.sent else 0.0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["rates"] = {
            key: round(self.rate(getattr(self, key)), 6)
            for key in ("delivered", "bounced_hard", "bounced_soft", "complained", "unsubscribed")
        }
        return data

    def lines(self) -> list[str]:
        def pct(count: int) -> str:
            return f"{count:>7}  {100 * self.rate(count):6.2f} %"

        out = [
            f"send #{self.send_id}: {self.state}"
            + (f" ({self.pause_reason})" if self.pause_reason else ""),
            f"planned       {self.planned:>7}",
            f"sent          {self.sent:>7}",
            f"delivered     {pct(self.delivered)}",
            f"bounced hard  {pct(self.bounced_hard)}",
            f"bounced soft  {pct(self.bounced_soft)}",
            f"complained    {pct(self.complained)}",
            f"unsubscribed  {pct(self.unsubscribed)}",
            f"failed        {self.failed:>7}",
            f"unknown       {self.unknown:>7}",
            f"queued        {self.queued:>7}",
            f"skipped       {self.skipped:>7}",
        ]
        return out


def find_send(session: Session, list_slug: str, issue_date: dt.date) -> Send:
    """The send of a list's issue, by the list's slug: a read, so no list row is created for it."""
    send = session.scalar(
        select(Send)
        .join(Issue, Issue.id == Send.issue_id)
        .join(MailingList, MailingList.id == Issue.list_id)
        .where(MailingList.slug == list_slug, Issue.issue_date == issue_date)
    )
    if send is None:
        raise NotFoundError(
            f"no send of the {issue_date} issue yet; start it with `mailer send --issue "
            f"{issue_date}`"
        )
    return send


def report_issue(factory: sessionmaker[Session], list_slug: str, issue_date: dt.date) -> SendReport:
    """`mailer report`: the report of the send of (list, date)."""
    with transaction(factory) as session:
        return build_report(session, find_send(session, list_slug, issue_date))


def build_report(session: Session, send: Send) -> SendReport:
    states = dict(
        session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.send_id == send.id)
            .group_by(Delivery.state)
        ).all()
    )
    unsubscribed = (
        session.scalar(
            select(func.count(distinct(ConsentEvent.subscriber_id)))
            .join(Delivery, Delivery.subscriber_id == ConsentEvent.subscriber_id)
            .where(
                Delivery.send_id == send.id,
                Delivery.state.in_(ACCEPTED),
                ConsentEvent.action == ConsentAction.UNSUBSCRIBE,
                ConsentEvent.list_id == send.list_id,
                ConsentEvent.created_at >= Delivery.sent_at,
            )
        )
        or 0
    )
    state = DeliveryState
    return SendReport(
        send_id=send.id,
        state=send.state,
        pause_reason=send.pause_reason,
        planned=sum(states.values()),
        sent=sum(states.get(s, 0) for s in ACCEPTED),
        delivered=event_recipients(session, send.id, EventKind.DELIVERY),
        bounced_hard=event_recipients(session, send.id, EventKind.BOUNCE, "Permanent"),
        bounced_soft=event_recipients(session, send.id, EventKind.BOUNCE, "Transient"),
        complained=event_recipients(session, send.id, EventKind.COMPLAINT),
        unsubscribed=unsubscribed,
        failed=states.get(state.FAILED, 0),
        unknown=states.get(state.UNKNOWN, 0),
        queued=states.get(state.QUEUED, 0) + states.get(state.SENDING, 0),
        skipped=states.get(state.SKIPPED, 0),
    )
