"""Queries as functions. Sessions come from the caller; nothing here commits except where documented."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import String, and_, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailer.store.models import (
    Delivery,
    Subscriber,
    Subscription,
    Suppression,
    utcnow,
)


def dialect_insert(session: Session, table):
    """INSERT with ON CONFLICT support for the session's dialect (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {name!r} is not supported; use SQLite or PostgreSQL")


def eligible_subscribers(list_id: int):
    """Confirmed on this list, not erased, not suppressed: the audience of a send."""
    return (
        select(Subscriber.id, Subscriber.email, Subscriber.name)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(
            Subscription.list_id == list_id,
            Subscription.status == "confirmed",
            Subscriber.email.is_not(None),
            Subscriber.erased_at.is_(None),
            # suppressions.email holds the address's key (lower-cased in full), as email_key does
            ~exists().where(Suppression.email == Subscriber.email_key),
        )
    )


def plan_deliveries(session: Session, send_id: int, list_id: int) -> int:
    """Freeze the audience: one queued ledger row per eligible subscriber, in one statement.

    UNIQUE(send_id, subscriber_id) plus ON CONFLICT DO NOTHING makes a repeated plan harmless.
    """
    audience = eligible_subscribers(list_id).add_columns(literal(send_id), literal("queued"), literal(0))
    stmt = (
        dialect_insert(session, Delivery)
        .from_select(["subscriber_id", "email", "name", "send_id", "state", "attempts"], audience)
        .on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"])
    )
    session.execute(stmt)
    # Counted, not taken from rowcount: psycopg reports -1 for INSERT ... SELECT ... ON CONFLICT.
    return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.send_id == send_id))


def _random_hex(session: Session):
    """SQL for 128 random bits as 32 hex digits, evaluated once per row."""
    if session.get_bind().dialect.name == "postgresql":
        # gen_random_uuid() (built in since PostgreSQL 13) carries 122 random bits: two of them, hashed.
        return func.md5(func.concat(func.gen_random_uuid(), func.gen_random_uuid()))
    return func.lower(func.hex(func.randomblob(16)))


def assign_message_ids(session: Session, send_id: int, domain: str) -> None:
    """Give every row of the send still to go out (queued or unknown) that has none a random
    Message-ID, `<32 hex digits@domain>`. A row already sent without one (before the column existed)
    keeps NULL: its message carried another id, which is not known.

    Random, not derived from the row's ids: a second database (or a restored copy) numbers its sends
    and deliveries the same way, and receivers drop a message whose Message-ID they have seen. Stored,
    so every attempt of a delivery (a --resend-unknown) carries the same one and a true duplicate can
    be dropped. One statement per run, before any row is claimed: nothing on the per-message path.
    Rows that already have one keep it; concurrent workers starting at once assign each row once
    (PostgreSQL re-checks `IS NULL` after the other's commit).
    """
    value = literal("<", String) + _random_hex(session) + literal(f"@{domain}>", String)
    session.execute(update(Delivery).where(Delivery.send_id == send_id, Delivery.state.in_(("queued", "unknown")),
                                           Delivery.message_id.is_(None))
                    .values(message_id=value))


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int
    message_id: str | None


def claim_batch(session: Session, send_id: int, limit: int, worker: str) -> list[ClaimedDelivery]:
    """Move up to `limit` due queued rows to 'sending' and return them. Caller commits.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent workers never claim the same row.
    SQLite: a compare-and-set UPDATE (state must still be 'queued'); SQLite has one writer at a time.
    """
    now = utcnow()
    due = select(Delivery.id).where(
        Delivery.send_id == send_id,
        Delivery.state == "queued",
        (Delivery.not_before.is_(None)) | (Delivery.not_before <= now),
    ).order_by(Delivery.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        return []
    rows = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == "queued")
        .values(state="sending", claimed_at=now, claimed_by=worker, updated_at=now,
                attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.subscriber_id, Delivery.email, Delivery.name, Delivery.attempts,
                   Delivery.message_id)
    ).all()
    return sorted((ClaimedDelivery(*row) for row in rows), key=lambda c: c.id)


def still_eligible(session: Session, list_id: int, subscriber_ids: list[int]) -> set[int]:
    """Which of these subscribers may still be mailed (not unsubscribed or suppressed since the plan)."""
    if not subscriber_ids:
        return set()
    query = eligible_subscribers(list_id).where(Subscriber.id.in_(subscriber_ids))
    return {row.id for row in session.execute(query)}


def finish_delivery(session: Session, delivery_id: int, state: str, *, message_id: str | None = None,
                    error: str | None = None, not_before: dt.datetime | None = None,
                    worker: str | None = None) -> bool:
    """Record the outcome of a claimed row. Only a row still 'sending' (and, given `worker`, still
    claimed by it) changes, so a late answer never overwrites a recovered row. True when it changed."""
    now = utcnow()
    values: dict = {"state": state, "updated_at": now, "last_error": error}
    if message_id is not None:
        values["provider_message_id"] = message_id
    if state == "sent":
        values["sent_at"] = now
    if state == "queued":
        values["not_before"] = not_before
    where = [Delivery.id == delivery_id, Delivery.state == "sending"]
    if worker is not None:
        where.append(Delivery.claimed_by == worker)
    return bool(session.execute(update(Delivery).where(and_(*where)).values(**values)).rowcount)


def release_claims(session: Session, delivery_ids: list[int], worker: str) -> None:
    """Claimed rows that were never handed to the transport go back to the queue, attempt uncounted."""
    if delivery_ids:
        session.execute(update(Delivery)
                        .where(Delivery.id.in_(delivery_ids), Delivery.state == "sending",
                               Delivery.claimed_by == worker)
                        .values(state="queued", attempts=Delivery.attempts - 1, updated_at=utcnow()))


def heartbeat(session: Session, send_id: int, worker: str) -> None:
    """Renew this worker's lease on the rows it is sending."""
    session.execute(update(Delivery)
                    .where(Delivery.send_id == send_id, Delivery.state == "sending", Delivery.claimed_by == worker)
                    .values(claimed_at=utcnow()))


@dataclass(frozen=True)
class Claim:
    id: int
    claimed_by: str | None


def abandoned_claims(session: Session, send_id: int, lease: dt.timedelta,
                     is_dead: Callable[[str], bool]) -> list[Claim]:
    """Rows 'sending' whose worker is gone: known dead (same host, process gone) or silent for a lease.
    A live worker renews its lease (heartbeat), so its rows are never taken from it."""
    cutoff = utcnow() - lease
    rows = session.execute(select(Delivery.id, Delivery.claimed_by, Delivery.claimed_at)
                           .where(Delivery.send_id == send_id, Delivery.state == "sending")).all()
    stale = []
    for row in rows:
        claimed_at = row.claimed_at
        if claimed_at is not None and claimed_at.tzinfo is None:  # SQLite: naive, stored as UTC
            claimed_at = claimed_at.replace(tzinfo=dt.timezone.utc)
        if claimed_at is None or claimed_at < cutoff or not row.claimed_by or is_dead(row.claimed_by):
            stale.append(Claim(row.id, row.claimed_by))
    return stale


def settle_abandoned(session: Session, claim: Claim, state: str) -> None:
    """Settle a row of a dead worker (compare-and-set: still 'sending', still claimed by that worker)."""
    error = "interrupted run; outcome unknown" if state == "unknown" else None
    where = [Delivery.id == claim.id, Delivery.state == "sending"]
    where.append(Delivery.claimed_by == claim.claimed_by if claim.claimed_by else Delivery.claimed_by.is_(None))
    session.execute(update(Delivery).where(*where).values(state=state, updated_at=utcnow(), last_error=error))


def requeue_unknown(session: Session, send_id: int) -> int:
    """The operator's explicit choice (--resend-unknown): unknown rows go out again."""
    return session.execute(update(Delivery).where(Delivery.send_id == send_id, Delivery.state == "unknown")
                           .values(state="queued", not_before=None, updated_at=utcnow(),
                                   last_error="requeued by --resend-unknown")).rowcount
