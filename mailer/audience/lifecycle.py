"""A subscriber's life as library functions: subscribe, confirm, unsubscribe, erase, show, export.

Sessions come from the caller, who commits. Every change of status appends a consent event;
consent events are never updated, except that erasure strips the personal data out of them.
Status changes are compare-and-set UPDATEs, so concurrent or repeated requests change a row once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.addresses import address_hash, clean_display_name, email_key
from mailer.audience.erasure import redact_events, scrub_sqlite_file
from mailer.audience.suppressions import is_suppressed, suppress, suppression_salt
from mailer.audience.welcome import queue_welcome
from mailer.errors import NotFoundError
from mailer.store.models import (
    ConsentAction,
    ConsentEvent,
    Delivery,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.store.queries import dialect_insert
from mailer.transports.file import erase_recipient

# What the subscribe form says; recorded with every web subscription so that we can show what was
# agreed.
FORM_VERSION = "web-subscribe-v1"
CONSENT_TEXT = (
    "Send me the newsletter by email. I can unsubscribe at any time with the link in every "
    "issue; my address is used for nothing else."
)


@dataclass(frozen=True)
class Visitor:
    """Where a request came from, as recorded in consent events."""

    ip: str | None = None
    user_agent: str | None = None
    source: str = "web"

    def event(
        self, subscriber_id: int | None, list_id: int | None, action: str, detail: str | None
    ) -> dict:
        return {
            "subscriber_id": subscriber_id,
            "list_id": list_id,
            "action": action,
            "source": self.source,
            "ip": (self.ip or None) and self.ip[:64],
            "user_agent": (self.user_agent or None) and self.user_agent[:512],
            "detail": detail,
        }


@dataclass(frozen=True)
class Pending:
    """Someone who should get a confirmation mail."""

    subscriber_id: int
    email: str
    name: str
    consent_id: int


def list_id_of(session: Session, slug: str) -> int | None:
    return session.scalar(select(MailingList.id).where(MailingList.slug == slug))


def _record(session: Session, values: dict) -> int:
    return session.execute(
        dialect_insert(session, ConsentEvent).values(values).returning(ConsentEvent.id)
    ).scalar_one()


def record_consent(session: Session, values: dict) -> int:
    """Append one consent event (Visitor.event's values); its id. The other audience modules
    (preferences.py) record through it."""
    return _record(session, values)


def _subscriber_id(session: Session, email: str, name: str) -> int:
    """The person with this address in any letter case; added (spelt as given now) if there is
    none."""
    key = email_key(email)
    session.execute(
        dialect_insert(session, Subscriber)
        .values(email=email, email_key=key, name=name)
        .on_conflict_do_nothing(index_elements=["email_key"])
    )
    return session.scalar(select(Subscriber.id).where(Subscriber.email_key == key))


def subscribe(
    session: Session, list_id: int, email: str, name: str, visitor: Visitor
) -> Pending | None:
    """A request to join: pending (again) and a confirmation to send, or None when nothing is
    mailed.

    Confirmed subscribers get no mail (nothing to confirm) and suppressed addresses nothing at all;
    the caller shows the same page in every case.
    """
    if is_suppressed(session, email):
        return None
    name = clean_display_name(name)
    sub_id = _subscriber_id(session, email, name)
    session.execute(
        dialect_insert(session, Subscription)
        .values(subscriber_id=sub_id, list_id=list_id, status=SubscriptionStatus.PENDING)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "list_id"])
    )
    # Leaving is final until the person confirms again: unsubscribed -> pending, never -> confirmed.
    session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id == sub_id,
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.UNSUBSCRIBED,
        )
        .values(status=SubscriptionStatus.PENDING, unsubscribed_at=None, confirmed_at=None)
    )
    status = session.scalar(
        select(Subscription.status).where(
            Subscription.subscriber_id == sub_id, Subscription.list_id == list_id
        )
    )
    if status != SubscriptionStatus.PENDING:
        return None
    consent_id = _record(
        session,
        visitor.event(sub_id, list_id, ConsentAction.SUBSCRIBE, f"{FORM_VERSION}: {CONSENT_TEXT}"),
    )
    # The address as the person first gave it (the same mailbox as `email`, perhaps in other case).
    stored = session.execute(
        select(Subscriber.email, Subscriber.name).where(Subscriber.id == sub_id)
    ).one()
    return Pending(sub_id, stored.email or email, stored.name or "", consent_id)


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation did: `confirmed` now or before (False: the link no longer applies), and
    the welcome row queued by it (audience/welcome.py), for the caller to deliver after commit."""

    confirmed: bool
    welcome_id: int | None = None


def confirm(
    session: Session, subscriber_id: int, list_id: int, visitor: Visitor, welcome: bool = False
) -> Confirmation:
    """pending -> confirmed. `welcome` (the list's [welcome] enabled): a confirmation that changed
    the status now also queues the welcome mail, in the same transaction; one confirmed before
    queues nothing."""
    changed = session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.PENDING,
        )
        .values(status=SubscriptionStatus.CONFIRMED, confirmed_at=utcnow())
    ).rowcount
    if changed:
        _record(
            session,
            visitor.event(subscriber_id, list_id, ConsentAction.CONFIRM, "confirmation link"),
        )
        welcome_id = queue_welcome(session, subscriber_id, list_id) if welcome else None
        return Confirmation(True, welcome_id)
    status = session.scalar(
        select(Subscription.status).where(
            Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id
        )
    )
    return Confirmation(status == SubscriptionStatus.CONFIRMED)


def request_new_confirmation(
    session: Session, subscriber_id: int, list_id: int, visitor: Visitor
) -> Pending | None:
    """After an expired link: the person to mail again, if the subscription still waits and may be
    mailed."""
    row = session.execute(
        select(Subscriber.email, Subscriber.name)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(
            Subscriber.id == subscriber_id,
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.PENDING,
            Subscriber.email.is_not(None),
        )
    ).first()
    if row is None or is_suppressed(session, row.email):
        return None
    consent_id = _record(
        session,
        visitor.event(subscriber_id, list_id, ConsentAction.RESEND, "new confirmation link"),
    )
    return Pending(subscriber_id, row.email, row.name, consent_id)


def unsubscribe(
    session: Session,
    subscriber_id: int,
    list_ids: list[int],
    visitor: Visitor,
    detail: str | None = None,
) -> int:
    """Leave the given lists. Idempotent: only a change of status is recorded. Returns lists left
    now."""
    left = 0
    for list_id in list_ids:
        changed = session.execute(
            update(Subscription)
            .where(
                Subscription.subscriber_id == subscriber_id,
                Subscription.list_id == list_id,
                Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
            )
            .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
        ).rowcount
        if changed:
            _record(
                session, visitor.event(subscriber_id, list_id, ConsentAction.UNSUBSCRIBE, detail)
            )
            left += 1
    return left


def set_plain_links(
    session: Session, subscriber_id: int, plain: bool, list_id: int | None, visitor: Visitor
) -> bool:
    """The reader's choice in /manage: links as written in every mail we send them (`plain`), or
    counted redirects where a list counts clicks. Recorded as a consent event when it changes
    (compare-and-set, so a repeated post records nothing); an erased person changes nothing.
    True when it changed now. Sends pick it up when they claim the reader's row."""
    changed = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber_id,
            Subscriber.erased_at.is_(None),
            Subscriber.plain_links != plain,
        )
        .values(plain_links=plain)
    ).rowcount
    if changed:
        action, detail = (
            (ConsentAction.PLAIN_LINKS, "links as written; clicks not counted")
            if plain
            else (ConsentAction.COUNTED_LINKS, "counted links where a list counts clicks")
        )
        _record(session, visitor.event(subscriber_id, list_id, action, detail))
    return bool(changed)


def plain_links(session: Session, subscriber_id: int) -> bool:
    return bool(
        session.scalar(select(Subscriber.plain_links).where(Subscriber.id == subscriber_id))
    )


def subscribed_lists(session: Session, subscriber_id: int) -> list[tuple[int, str, str, str]]:
    """(list id, slug, name, status) of every subscription of one subscriber."""
    rows = session.execute(
        select(MailingList.id, MailingList.slug, MailingList.name, Subscription.status)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(MailingList.slug)
    )
    return [tuple(row) for row in rows]


# --- operator commands: show, erase, export ------------------------------------------------------


@dataclass(frozen=True)
class History:
    subscriber_id: int
    email: str
    name: str
    created_at: dt.datetime | None
    subscriptions: list[
        tuple[str, str, dt.datetime | None, dt.datetime | None]
    ]  # slug, status, confirmed, left
    events: list[tuple[dt.datetime | None, str, str, str, str | None, str | None, str | None]]
    suppression: str | None
    attributes: dict = field(default_factory=dict)  # what an import brought (plan, tags, ...)


def _subscriber(session: Session, email: str) -> Subscriber:
    row = session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))
    if row is None:
        raise NotFoundError(
            f"no subscriber {email!r}; check the address (`mailer subscribers export` lists them)"
        )
    return row


def history(session: Session, email: str) -> History:
    sub = _subscriber(session, email)
    slugs = dict(session.execute(select(MailingList.id, MailingList.slug)).all())
    subs = session.execute(
        select(
            Subscription.list_id,
            Subscription.status,
            Subscription.confirmed_at,
            Subscription.unsubscribed_at,
        ).where(Subscription.subscriber_id == sub.id)
    )
    events = session.execute(
        select(
            ConsentEvent.created_at,
            ConsentEvent.list_id,
            ConsentEvent.action,
            ConsentEvent.source,
            ConsentEvent.ip,
            ConsentEvent.user_agent,
            ConsentEvent.detail,
        )
        .where(ConsentEvent.subscriber_id == sub.id)
        .order_by(ConsentEvent.id)
    )
    digest = address_hash(email, suppression_salt(session))
    reason = session.scalar(select(Suppression.reason).where(Suppression.email_hash == digest))
    return History(
        subscriber_id=sub.id,
        email=sub.email or "",
        name=sub.name,
        created_at=sub.created_at,
        subscriptions=[
            (slugs.get(r.list_id, "?"), r.status, r.confirmed_at, r.unsubscribed_at) for r in subs
        ],
        events=[
            (
                e.created_at,
                slugs.get(e.list_id, "-"),
                e.action,
                e.source,
                e.ip,
                e.user_agent,
                e.detail,
            )
            for e in events
        ],
        suppression=reason,
        attributes=dict(sub.attributes or {}),
    )


def erase(session: Session, email: str) -> int:
    """Remove a person's data from the database; keep a salted hash so that no import or form can
    add the address again. Returns the subscriber id.

    The consent trail stays (what happened, when) without IP, user agent or details; ledger rows
    lose the address, the name and the provider's error text (it quotes the address); SES events
    about the person lose the recipient and their raw JSON (erasure.redact_events).
    """
    sub = _subscriber(session, email)
    sub_id, key = sub.id, sub.email_key or email_key(email)
    salt = suppression_salt(session)
    suppress(session, key, SuppressionReason.ERASED)
    session.execute(
        update(Suppression)
        .where(Suppression.email_hash == address_hash(key, salt))
        .values(email=None, detail=None, reason=SuppressionReason.ERASED)
    )
    session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.subscriber_id == sub_id)
        .values(ip=None, user_agent=None, detail=None)
    )
    ledger = session.execute(
        select(Delivery.id, Delivery.provider_message_id).where(Delivery.subscriber_id == sub_id)
    ).all()
    redact_events(
        session,
        key,
        [row.id for row in ledger],
        [row.provider_message_id for row in ledger if row.provider_message_id],
    )
    session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == sub_id)
        .values(email="", name="", last_error=None)
    )
    session.execute(
        update(Subscription)
        .where(
            Subscription.subscriber_id == sub_id,
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
        )
        .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=utcnow())
    )
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == sub_id)
        .values(email=None, email_key=None, name="", erased_at=utcnow())
    )
    _record(session, Visitor(source="cli").event(sub_id, None, ConsentAction.ERASE, None))
    return sub_id


@dataclass(frozen=True)
class Erasure:
    subscriber_id: int
    outbox_files: int  # messages to the person deleted from the file transport's outbox
    file_scrubbed: bool | None  # SQLite: the file rebuilt and its log emptied; None on PostgreSQL


def erase_person(factory: sessionmaker[Session], email: str, outbox: Path | None) -> Erasure:
    """`mailer subscribers erase`: the database (erase), the outbox's mails to the person, and on
    SQLite the bytes of the database file. The outbox goes first, inside the transaction: if a file
    cannot be deleted nothing is committed, and running the erase again finishes the job."""
    with factory.kw["bind"].connect() as conn:
        with conn.begin():
            session = factory(bind=conn)
            try:
                sub_id = erase(session, email)
                removed = erase_recipient(outbox, email) if outbox is not None else 0
                session.flush()
            finally:
                session.close()
        scrubbed = None
        if conn.dialect.name == "sqlite":
            scrubbed = scrub_sqlite_file(conn.execution_options(isolation_level="AUTOCOMMIT"))
    return Erasure(sub_id, removed, scrubbed)


EXPORT_COLUMNS = (
    "email",
    "name",
    "list",
    "status",
    "subscribed_at",
    "confirmed_at",
    "unsubscribed_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): prefix a quote."""
    text = (
        ""
        if value is None
        else (value.isoformat() if isinstance(value, dt.datetime) else str(value))
    )
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_rows(
    session: Session, list_slug: str | None = None, chunk: int = 5000
) -> Iterator[tuple[str, ...]]:
    query = (
        select(
            Subscriber.email,
            Subscriber.name,
            MailingList.slug,
            Subscription.status,
            Subscription.created_at,
            Subscription.confirmed_at,
            Subscription.unsubscribed_at,
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscriber.email.is_not(None))
        .order_by(MailingList.slug, Subscriber.id)
    )
    if list_slug is not None:
        if list_id_of(session, list_slug) is None:
            raise NotFoundError(
                f"no list '{list_slug}' in the database; import subscribers into it first"
            )
        query = query.where(MailingList.slug == list_slug)
    for row in session.execute(query.execution_options(yield_per=chunk)):
        yield tuple(csv_safe(value) for value in row)
