"""The preference centre's changes (/manage; ARCHITECTURE.md, "Preferences"): name, address,
pause and resume, daily issues or the weekly digest.

Sessions come from the caller, who commits. Every change is a compare-and-set UPDATE followed by a
consent event only when a row changed, so a repeated or concurrent POST records nothing new. An
erased person changes nothing. The plain-links choice and unsubscribing stay in lifecycle.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.addresses import clean_display_name, email_key
from mailer.audience.lifecycle import Visitor, record_consent
from mailer.audience.suppressions import is_suppressed
from mailer.content.lists import ListDefinition
from mailer.store.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.tokens import AddressToken

PAUSE_WEEKS = (1, 2, 4)  # what the page offers; anything else is refused


@dataclass(frozen=True)
class Preferences:
    """What /manage shows of one subscriber on one list (status None: no subscription)."""

    email: str
    name: str
    plain_links: bool
    status: str | None
    cadence: str
    paused_until: dt.date | None


def local_today(list_def: ListDefinition, now: dt.datetime | None = None) -> dt.date:
    """Today in the list's time zone ([schedule] timezone, else UTC): the day a pause counts from,
    the same calendar as the issue dates the planner compares paused_until with."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(list_def.schedule.zone if list_def.schedule else dt.UTC).date()


def preferences_of(session: Session, subscriber_id: int, list_id: int | None) -> Preferences:
    person = session.execute(
        select(Subscriber.email, Subscriber.name, Subscriber.plain_links).where(
            Subscriber.id == subscriber_id
        )
    ).first()
    sub = None
    if list_id is not None:
        sub = session.execute(
            select(Subscription.status, Subscription.cadence, Subscription.paused_until).where(
                Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id
            )
        ).first()
    return Preferences(
        email=(person.email or "") if person else "",
        name=person.name if person else "",
        plain_links=bool(person.plain_links) if person else False,
        status=sub.status if sub else None,
        cadence=sub.cadence if sub else Cadence.DAILY,
        paused_until=sub.paused_until if sub else None,
    )


def change_name(
    session: Session, subscriber_id: int, list_id: int | None, name: str, visitor: Visitor
) -> bool:
    """The name of the greeting (cleaned like the subscribe form's); True when it changed now."""
    name = clean_display_name(name)
    changed = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == subscriber_id,
            Subscriber.erased_at.is_(None),
            Subscriber.name != name,
        )
        .values(name=name)
    ).rowcount
    if changed:
        record_consent(session, visitor.event(subscriber_id, list_id, ConsentAction.NAME, None))
    return bool(changed)


# --- pause and cadence: one subscription, confirmed ---------------------------------------------


def _confirmed(subscriber_id: int, list_id: int):
    return (
        Subscription.subscriber_id == subscriber_id,
        Subscription.list_id == list_id,
        Subscription.status == SubscriptionStatus.CONFIRMED,
    )


def pause(
    session: Session,
    subscriber_id: int,
    list_id: int,
    weeks: int,
    today: dt.date,
    visitor: Visitor,
) -> dt.date | None:
    """No mail of this list dated before today + `weeks` weeks (the planner's rule: a mail dated D
    goes iff D >= paused_until). The date when it changed now, else None."""
    if weeks not in PAUSE_WEEKS:
        raise ValueError(f"a pause is {', '.join(map(str, PAUSE_WEEKS))} weeks, not {weeks}")
    until = today + dt.timedelta(weeks=weeks)
    changed = session.execute(
        update(Subscription)
        .where(
            *_confirmed(subscriber_id, list_id),
            or_(Subscription.paused_until.is_(None), Subscription.paused_until != until),
        )
        .values(paused_until=until)
    ).rowcount
    if not changed:
        return None
    detail = f"until {until.isoformat()} ({weeks} week{'s' if weeks > 1 else ''})"
    record_consent(session, visitor.event(subscriber_id, list_id, ConsentAction.PAUSE, detail))
    return until


def resume(
    session: Session, subscriber_id: int, list_id: int, today: dt.date, visitor: Visitor
) -> bool:
    """End a pause that still runs (paused_until after today); True when it ended now."""
    changed = session.execute(
        update(Subscription)
        .where(*_confirmed(subscriber_id, list_id), Subscription.paused_until > today)
        .values(paused_until=None)
    ).rowcount
    if changed:
        record_consent(session, visitor.event(subscriber_id, list_id, ConsentAction.RESUME, None))
    return bool(changed)


def cadences(list_def: ListDefinition) -> tuple[Cadence, ...]:
    """What a reader of this list may choose: the weekly digest only where [digest] is enabled."""
    return (Cadence.DAILY, Cadence.WEEKLY) if list_def.digest.enabled else (Cadence.DAILY,)


def set_cadence(
    session: Session,
    subscriber_id: int,
    list_id: int,
    list_def: ListDefinition,
    cadence: Cadence,
    visitor: Visitor,
) -> bool:
    """Every issue or the weekly digest; True when it changed now. ValueError for a choice the
    list does not offer (a weekly reader of a list without a digest would get nothing)."""
    if cadence not in cadences(list_def):
        raise ValueError(f"{list_def.slug} offers {', '.join(cadences(list_def))}, not {cadence}")
    changed = session.execute(
        update(Subscription)
        .where(*_confirmed(subscriber_id, list_id), Subscription.cadence != cadence)
        .values(cadence=cadence)
    ).rowcount
    if changed:
        record_consent(
            session, visitor.event(subscriber_id, list_id, ConsentAction.CADENCE, cadence)
        )
    return bool(changed)


# --- address change: asked on /manage, applied from the link mailed to the new address ----------


class AddressOutcome(StrEnum):
    """What became of an address request or of its confirmation (not stored: pages choose by it)."""

    REQUESTED = "requested"  # recorded; mail the confirmation to the new address
    NOT_MAILED = "not-mailed"  # recorded, but the new address is suppressed: nothing is mailed
    SAME = "same"  # the request names the current address
    GONE = "gone"  # no such subscriber, or erased
    CHANGED = "changed"  # confirmed now: the new address is the subscriber's
    DONE_BEFORE = "done-before"  # the link was used already (a repeated POST)
    SUPERSEDED = "superseded"  # a newer request or change came after this link's request
    TAKEN = "taken"  # the new address is another subscriber's
    SUPPRESSED = "suppressed"  # the new address may not be mailed (bounced, complained, erased)


@dataclass(frozen=True)
class AddressRequest:
    outcome: AddressOutcome
    request_id: int | None = None  # the ADDRESS_REQUEST consent event: the link names it


def request_address_change(
    session: Session, subscriber_id: int, list_id: int | None, new_email: str, visitor: Visitor
) -> AddressRequest:
    """Record the wish to receive mail at `new_email` (normalised by the caller). Nothing changes
    until its owner confirms (apply_address_change): the old address keeps getting mail.

    The page answers REQUESTED and NOT_MAILED alike and never says whether the new address is
    someone else's: that would tell anyone holding a manage link who is subscribed. Its owner
    learns it from the confirmation link."""
    current = session.scalar(
        select(Subscriber.email_key).where(
            Subscriber.id == subscriber_id, Subscriber.erased_at.is_(None)
        )
    )
    if current is None:
        return AddressRequest(AddressOutcome.GONE)
    if current == email_key(new_email):
        return AddressRequest(AddressOutcome.SAME)
    request_id = record_consent(
        session,
        visitor.event(
            subscriber_id, list_id, ConsentAction.ADDRESS_REQUEST, f"new address: {new_email}"
        ),
    )
    if is_suppressed(session, new_email):
        return AddressRequest(AddressOutcome.NOT_MAILED, request_id)
    return AddressRequest(AddressOutcome.REQUESTED, request_id)


def _hold_person(session: Session, subscriber_id: int):
    """The person's (email, email_key), unless erased, with the rest of the transaction theirs
    alone: every read after it sees what a concurrent confirmation committed, so two presses of
    the button decide one after the other. PostgreSQL: the row locked (FOR UPDATE). SQLite: its
    one write lock, taken now by a write that changes nothing (reads before a write would run
    outside the transaction there)."""
    query = select(Subscriber.email, Subscriber.email_key).where(
        Subscriber.id == subscriber_id, Subscriber.erased_at.is_(None)
    )
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(query.with_for_update()).first()
    session.execute(update(Subscriber).where(false()).values(name=Subscriber.name))
    return session.execute(query).first()


_ADDRESS_EVENTS = (ConsentAction.ADDRESS_REQUEST, ConsentAction.ADDRESS_CHANGE)


def apply_address_change(
    session: Session, token: AddressToken, list_id: int | None, visitor: Visitor
) -> AddressOutcome:
    """The new address's owner pressed the button: it becomes the subscriber's address (every
    list, every later send; rows of a send planned before keep the address they were planned
    with). Only the newest request's link applies; compare-and-set on the old address, so a
    repeated or concurrent POST changes it once."""
    person = _hold_person(session, token.subscriber_id)
    if person is None:
        return AddressOutcome.GONE
    new_key = email_key(token.new_email)
    latest = session.scalar(
        select(func.max(ConsentEvent.id)).where(
            ConsentEvent.subscriber_id == token.subscriber_id,
            ConsentEvent.action.in_(_ADDRESS_EVENTS),
        )
    )
    if person.email_key == new_key:
        return AddressOutcome.DONE_BEFORE if latest != token.request_id else AddressOutcome.SAME
    if latest != token.request_id:
        return AddressOutcome.SUPERSEDED
    if is_suppressed(session, token.new_email):
        return AddressOutcome.SUPPRESSED
    other = select(Subscriber.id).where(
        Subscriber.email_key == new_key, Subscriber.id != token.subscriber_id
    )
    if session.scalar(other) is not None:
        return AddressOutcome.TAKEN
    try:
        with session.begin_nested():  # a savepoint: a concurrent sign-up of the address loses
            changed = session.execute(
                update(Subscriber)
                .where(
                    Subscriber.id == token.subscriber_id,
                    Subscriber.email_key == person.email_key,
                )
                .values(email=token.new_email, email_key=new_key)
            ).rowcount
    except IntegrityError:
        return AddressOutcome.TAKEN
    if not changed:
        return AddressOutcome.DONE_BEFORE
    detail = f"{person.email} -> {token.new_email}"
    record_consent(
        session,
        visitor.event(token.subscriber_id, list_id, ConsentAction.ADDRESS_CHANGE, detail),
    )
    return AddressOutcome.CHANGED
