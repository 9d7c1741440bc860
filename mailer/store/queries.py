"""Queries several stages share, as functions (ARCHITECTURE.md: "Layers and rules"). Sessions come
from the caller; nothing here commits. A send's own statements are its ledger's (send/ledger.py)."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, distinct, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailer.addresses import address_hash, email_key
from mailer.content.lists import ListDefinition
from mailer.store.models import AppMeta, Delivery, Event, MailingList, Suppression


def dialect_insert(session: Session, table):
    """INSERT with ON CONFLICT support for the session's dialect (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {name!r} is not supported; use SQLite or PostgreSQL")


def event_recipients(session: Session, send_id: int, event_type: str,
                     bounce_type: str | None = None) -> int:
    """Recipients of the send with an event of this type (bounce_type "Permanent": hard bounces
    only; any other: soft ones), counted through the event-type index: the guardrail's and the
    report's."""
    query = (select(func.count(distinct(Event.delivery_id)))
             .join(Delivery, Delivery.id == Event.delivery_id)
             .where(Delivery.send_id == send_id, Event.event_type == event_type))
    if bounce_type == "Permanent":
        query = query.where(Event.bounce_type == "Permanent")
    elif bounce_type:
        query = query.where(Event.bounce_type != "Permanent")
    return session.scalar(query) or 0


def ensure_list(session: Session, list_def: ListDefinition) -> int:
    """The database id of a list defined in lists/, created (or renamed) to match the file."""
    row = session.scalar(select(MailingList).where(MailingList.slug == list_def.slug))
    if row is None:
        session.execute(dialect_insert(session, MailingList)
                        .values(slug=list_def.slug, name=list_def.name)
                        .on_conflict_do_nothing(index_elements=["slug"]))
        row = session.scalar(select(MailingList).where(MailingList.slug == list_def.slug))
    elif row.name != list_def.name:
        row.name = list_def.name
    return row.id


def suppression_salt(session: Session) -> str:
    """Per-installation salt for address hashes, created on first use."""
    salt = session.scalar(select(AppMeta.value).where(AppMeta.key == "suppression_salt"))
    if salt is None:
        session.execute(dialect_insert(session, AppMeta)
                        .values(key="suppression_salt", value=secrets.token_hex(16))
                        .on_conflict_do_nothing(index_elements=["key"]))
        salt = session.scalar(select(AppMeta.value).where(AppMeta.key == "suppression_salt"))
    return salt


def suppressed_hashes(session: Session, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    return set(session.scalars(select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes))))


def is_erased(session: Session, email: str) -> bool:
    """Whether this address (in any letter case) belongs to someone who was erased."""
    digest = address_hash(email, suppression_salt(session))
    return session.scalar(select(Suppression.id).where(Suppression.email_hash == digest,
                                                       Suppression.reason == "erased")) is not None


def suppress(session: Session, email: str, reason: str, detail: str | None = None) -> bool:
    """Add an address to the suppression list; False when it was already there."""
    digest = address_hash(email, suppression_salt(session))
    result = session.execute(dialect_insert(session, Suppression)
                             .values(email_hash=digest, email=email_key(email), reason=reason, detail=detail)
                             .on_conflict_do_nothing(index_elements=["email_hash"])
                             .returning(Suppression.id))
    # RETURNING, not rowcount: psycopg's rowcount is unreliable for ON CONFLICT DO NOTHING.
    return result.scalar() is not None


def unsuppress(session: Session, email: str) -> bool:
    """Remove an address from the suppression list; False when it was not there."""
    digest = address_hash(email, suppression_salt(session))
    result = session.execute(delete(Suppression).where(Suppression.email_hash == digest))
    return bool(result.rowcount)


def list_suppressions(session: Session, reason: str | None = None) -> list[Suppression]:
    query = select(Suppression).order_by(Suppression.created_at, Suppression.id)
    if reason:
        query = query.where(Suppression.reason == reason)
    return list(session.scalars(query))
