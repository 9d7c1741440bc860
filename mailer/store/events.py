"""The events table as several stages read and write it, below all of them (ARCHITECTURE.md,
"Layers and rules": arrows point down, so what two stages share lives below both): what a row keeps
about the person it is about (track stores events, audience erases a person from them) and how many
recipients of a send an event kind reached (track's report, send's guardrail)."""

from __future__ import annotations

import hashlib

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from mailer.addresses import address_hash
from mailer.store.models import Delivery, Event

# What events.raw holds once the person the event is about was erased (the SES JSON names them).
ERASED_RAW = '{"erased": true}'
DEDUP_KEY_MAX = 300  # events.dedup_key's length; a longer key is stored as its SHA-256


def stored_dedup_key(scope: str, event_type: str, recipient: str | None, salt: str) -> str:
    """What events.dedup_key holds: the event's identity (`scope`, kind:ident) and the recipient as
    its salted hash (as a suppression keeps it), so that the key names nobody and an erased person's
    events still deduplicate. (Migration 0004 rewrote older keys, which held the address, the same
    way.)"""
    key = f"{scope}:{address_hash(recipient, salt) if recipient else '-'}"
    if len(key) > DEDUP_KEY_MAX:
        key = f"{event_type[:32]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def event_recipients(
    session: Session, send_id: int, event_type: str, bounce_type: str | None = None
) -> int:
    """Ledger rows of a send with at least one event of this kind; for bounces, `bounce_type`
    "Permanent" counts hard bounces and any other value the soft ones."""
    query = (
        select(func.count(distinct(Event.delivery_id)))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Delivery.send_id == send_id, Event.event_type == event_type)
    )
    if bounce_type == "Permanent":
        query = query.where(Event.bounce_type == "Permanent")
    elif bounce_type:
        query = query.where(Event.bounce_type != "Permanent")
    return session.scalar(query) or 0
