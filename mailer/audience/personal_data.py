"""A person's data as one JSON document (ARCHITECTURE.md, "Preferences"): what
/manage/<token>/export downloads and `mailer subscribers show EMAIL --json` prints, built here
once so that the two never differ.

Profile, subscriptions, the consent history, and every ledger row of theirs with the SES events
stored for it (types and times; the raw notifications stay out). Times are ISO 8601 in UTC;
SQLite hands back naive datetimes, which are UTC by the way they were written.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.addresses import address_hash, email_key
from mailer.audience.suppressions import suppression_salt
from mailer.errors import NotFoundError
from mailer.store.models import (
    ConsentEvent,
    Delivery,
    Digest,
    Event,
    Issue,
    MailingList,
    Send,
    Subscriber,
    Subscription,
    Suppression,
)

FORMAT = "mailer-personal-data-v1"  # the document's "format": bump when its shape changes


def _time(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat(timespec="seconds")
    return value.isoformat()


def _profile(session: Session, person: Subscriber) -> dict[str, Any]:
    suppression = None
    if person.email:
        digest = address_hash(person.email, suppression_salt(session))
        suppression = session.scalar(
            select(Suppression.reason).where(Suppression.email_hash == digest)
        )
    return {
        "id": person.id,
        "email": person.email,
        "name": person.name,
        "created_at": _time(person.created_at),
        "erased_at": _time(person.erased_at),
        "attributes": dict(person.attributes or {}),
        "plain_links": bool(person.plain_links),
        "suppressed": suppression,
    }


def _subscriptions(session: Session, subscriber_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Subscription, MailingList.slug, MailingList.name)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(MailingList.slug)
    )
    return [
        {
            "list": slug,
            "list_name": name,
            "status": sub.status,
            "cadence": sub.cadence,
            "paused_until": _time(sub.paused_until),
            "created_at": _time(sub.created_at),
            "confirmed_at": _time(sub.confirmed_at),
            "unsubscribed_at": _time(sub.unsubscribed_at),
        }
        for sub, slug, name in rows
    ]


def _consent(session: Session, subscriber_id: int, slugs: dict[int, str]) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id)
        .order_by(ConsentEvent.id)
    )
    return [
        {
            "at": _time(event.created_at),
            "list": slugs.get(event.list_id) if event.list_id is not None else None,
            "action": event.action,
            "source": event.source,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "detail": event.detail,
        }
        for event in rows
    ]


def _deliveries(
    session: Session, subscriber_id: int, slugs: dict[int, str]
) -> list[dict[str, Any]]:
    # Outer joins: a digest's or a welcome send has no issue (and a welcome none of either).
    rows = session.execute(
        select(Delivery, Send.kind, Send.list_id, Issue.issue_date, Digest.digest_date)
        .join(Send, Send.id == Delivery.send_id)
        .outerjoin(Issue, Issue.id == Send.issue_id)
        .outerjoin(Digest, Digest.id == Send.digest_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.id)
    ).all()
    events: dict[int, list[dict[str, Any]]] = {}
    if rows:
        found = session.execute(
            select(Event.delivery_id, Event.event_type, Event.occurred_at)
            .where(Event.delivery_id.in_([row.Delivery.id for row in rows]))
            .order_by(Event.occurred_at, Event.id)
        )
        for delivery_id, kind, when in found:
            events.setdefault(delivery_id, []).append({"type": kind, "at": _time(when)})
    return [
        {
            "kind": row.kind,
            "list": slugs.get(row.list_id),
            "date": _time(row.issue_date or row.digest_date),
            "to": row.Delivery.email or None,
            "state": row.Delivery.state,
            "sent_at": _time(row.Delivery.sent_at),
            "attempts": row.Delivery.attempts,
            "events": events.get(row.Delivery.id, []),
        }
        for row in rows
    ]


def _document(session: Session, person: Subscriber) -> dict[str, Any]:
    slugs = dict(session.execute(select(MailingList.id, MailingList.slug)).all())
    return {
        "format": FORMAT,
        "profile": _profile(session, person),
        "subscriptions": _subscriptions(session, person.id),
        "consent": _consent(session, person.id, slugs),
        "deliveries": _deliveries(session, person.id, slugs),
    }


def personal_data(session: Session, subscriber_id: int) -> dict[str, Any] | None:
    """The whole document of one subscriber, or None when there is no such row."""
    person = session.get(Subscriber, subscriber_id)
    return None if person is None else _document(session, person)


def personal_data_of(session: Session, email: str) -> dict[str, Any]:
    """The document of the subscriber with this address (any letter case); NotFoundError if none."""
    person = session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))
    if person is None:
        raise NotFoundError(
            f"no subscriber {email!r}; check the address (`mailer subscribers export` lists them)"
        )
    return _document(session, person)


def as_json(data: dict[str, Any]) -> str:
    """The one serialisation both the page and the command use (keys in a fixed order)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
