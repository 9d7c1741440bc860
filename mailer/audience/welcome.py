"""A confirmed subscriber's welcome mail, queued in the ledger (ARCHITECTURE.md, "Preferences").

A list has one welcome send (sends.kind = 'welcome', made by the first confirmation: the partial
unique index uq_sends_welcome_list), and a subscriber one row in it (UNIQUE(send, subscriber)):
both inserts are ON CONFLICT DO NOTHING, so concurrent confirmations, a repeated one, or leaving and
confirming again never queue a second welcome. The row is added in the confirmation's transaction;
the web app's sender thread delivers it after the commit (send/welcome.py), and `mailer welcome
send` or the autopilot deliver any row left queued. Imports never queue one.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mailer.store.models import (
    Delivery,
    DeliveryState,
    Send,
    SendKind,
    SendState,
    Subscriber,
)
from mailer.store.queries import dialect_insert

WELCOME_ONLY = text("kind = 'welcome'")  # the predicate of uq_sends_welcome_list


def welcome_send_id(session: Session, list_id: int) -> int:
    """The list's welcome send, made now if it has none."""
    session.execute(
        dialect_insert(session, Send)
        .values(list_id=list_id, kind=SendKind.WELCOME, state=SendState.SENDING)
        .on_conflict_do_nothing(index_elements=["list_id"], index_where=WELCOME_ONLY)
    )
    return session.scalar(
        select(Send.id).where(Send.list_id == list_id, Send.kind == SendKind.WELCOME)
    )


def queue_welcome(session: Session, subscriber_id: int, list_id: int) -> int | None:
    """The subscriber's welcome row (queued), or None when they have one already (or no address).
    Caller commits."""
    person = session.execute(
        select(Subscriber.email, Subscriber.name).where(
            Subscriber.id == subscriber_id, Subscriber.email.is_not(None)
        )
    ).first()
    if person is None:
        return None
    send_id = welcome_send_id(session, list_id)
    return session.scalar(
        dialect_insert(session, Delivery)
        .values(
            send_id=send_id,
            subscriber_id=subscriber_id,
            email=person.email,
            name=person.name,
            state=DeliveryState.QUEUED,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"])
        .returning(Delivery.id)
    )
