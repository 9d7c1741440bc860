"""Settle `unknown` deliveries from SES events already stored, and mirror suppressions to SES.

A delivery becomes `unknown` when its run died (or timed out) after handing the message to SES
but before recording the answer. Our messages carry a `delivery_id` tag, so a Send, Delivery,
Bounce or Complaint event for that tag proves SES accepted it, whatever our ledger missed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.db import transaction
from mailer.store.models import (
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.track.report import find_send

log = logging.getLogger(__name__)

# The furthest state an event proves, strongest first.
_PROVES = (
    (EventKind.COMPLAINT, DeliveryState.COMPLAINED),
    (EventKind.BOUNCE, DeliveryState.BOUNCED),
    (EventKind.DELIVERY, DeliveryState.DELIVERED),
    (EventKind.SEND, DeliveryState.SENT),
)
_FAILS = (EventKind.REJECT, EventKind.RENDERING_FAILURE)


@dataclass(frozen=True)
class ReconcileResult:
    settled: int
    failed: int
    still_unknown: int

    def summary(self) -> str:
        return (
            f"{self.settled} unknown deliveries settled as sent, {self.failed} as failed; "
            f"{self.still_unknown} still unknown"
        )

    def advice(self, issue_date) -> str | None:
        """What to do about rows no event settled (None when there are none)."""
        if not self.still_unknown:
            return None
        return (
            f"no SES event proves those were accepted yet; wait for events, or send them again "
            f"with `mailer send --issue {issue_date} --resend-unknown` (they may arrive twice)"
        )


def _state_from(kinds: set[str]) -> str | None:
    for kind, state in _PROVES:
        if kind in kinds:
            return state
    return DeliveryState.FAILED if kinds & set(_FAILS) else None


def reconcile_issue(
    factory: sessionmaker[Session], list_slug: str, issue_date: dt.date
) -> ReconcileResult:
    """`mailer reconcile`: settle the unknown rows of (list, date)'s send in one transaction."""
    with transaction(factory) as session:
        return reconcile_send(session, find_send(session, list_slug, issue_date).id)


def reconcile_send(session: Session, send_id: int) -> ReconcileResult:
    """Move each unknown row of a send to what its stored events prove. Caller commits."""
    unknown = session.scalars(
        select(Delivery.id).where(
            Delivery.send_id == send_id, Delivery.state == DeliveryState.UNKNOWN
        )
    ).all()
    settled = failed = 0
    for delivery_id in unknown:
        events = session.execute(
            select(Event.event_type, Event.ses_message_id).where(Event.delivery_id == delivery_id)
        ).all()
        state = _state_from({e.event_type for e in events})
        if state is None:
            continue
        message_id = next((e.ses_message_id for e in events if e.ses_message_id), None)
        values = {"state": state, "updated_at": utcnow(), "provider_message_id": message_id}
        if state != DeliveryState.FAILED:
            values["sent_at"] = utcnow()
            values["last_error"] = None
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.UNKNOWN)
            .values(**values)
        )
        failed += state == DeliveryState.FAILED
        settled += state != DeliveryState.FAILED
    return ReconcileResult(
        settled=settled, failed=failed, still_unknown=len(unknown) - settled - failed
    )


# SES account-level suppression list reasons (sesv2 PutSuppressedDestination).
_SES_REASONS = {SuppressionReason.HARD_BOUNCE: "BOUNCE", SuppressionReason.COMPLAINT: "COMPLAINT"}


def mirror_to_ses(session: Session, sesv2_client, addresses: list[str]) -> int:
    """Copy new hard-bounce and complaint suppressions to the SES account suppression list."""
    if not addresses:
        return 0
    rows = session.execute(
        select(Suppression.email, Suppression.reason).where(
            Suppression.email.in_([a.lower() for a in addresses])
        )
    ).all()
    mirrored = 0
    for email, reason in rows:
        if reason in _SES_REASONS:
            sesv2_client.put_suppressed_destination(EmailAddress=email, Reason=_SES_REASONS[reason])
            mirrored += 1
    return mirrored
