"""The suppression list: addresses that are never mailed, on any list.

An address is kept as its salted hash (the salt is per installation, in app_meta) and, until the
person is erased, as its key (lower-cased in full) for the send's audience query to compare against.
Sessions come from the caller, who commits.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailer.addresses import address_hash, email_key
from mailer.store.models import AppMeta, Suppression, SuppressionReason
from mailer.store.queries import dialect_insert


def suppression_salt(session: Session) -> str:
    """Per-installation salt for address hashes, created on first use."""
    # On the connection, not through the ORM: read once per batch of events by the poller, where
    # the ORM's statement handling cost more than the query (nothing of it is ever pending).
    query = select(AppMeta.value).where(AppMeta.key == "suppression_salt")
    salt = session.connection().scalar(query)
    if salt is None:
        session.execute(
            dialect_insert(session, AppMeta)
            .values(key="suppression_salt", value=secrets.token_hex(16))
            .on_conflict_do_nothing(index_elements=["key"])
        )
        salt = session.connection().scalar(query)
    return salt


def suppressed_hashes(session: Session, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    query = select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes))
    return set(session.scalars(query))


def is_suppressed(session: Session, email: str) -> bool:
    digest = address_hash(email, suppression_salt(session))
    query = select(Suppression.id).where(Suppression.email_hash == digest)
    return session.scalar(query) is not None


def is_erased(session: Session, email: str) -> bool:
    """Whether this address (in any letter case) belongs to someone who was erased."""
    digest = address_hash(email, suppression_salt(session))
    query = select(Suppression.id).where(
        Suppression.email_hash == digest, Suppression.reason == SuppressionReason.ERASED
    )
    return session.scalar(query) is not None


def suppress(session: Session, email: str, reason: str, detail: str | None = None) -> bool:
    """Add an address to the suppression list; False when it was already there."""
    digest = address_hash(email, suppression_salt(session))
    row = dict(email_hash=digest, email=email_key(email), reason=reason, detail=detail)
    result = session.execute(
        dialect_insert(session, Suppression)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["email_hash"])
        .returning(Suppression.id)
    )
    # RETURNING, not rowcount: psycopg's rowcount is unreliable for ON CONFLICT DO NOTHING.
    return result.scalar() is not None


def suppress_many(
    session: Session, entries: list[tuple[str, str, str | None]], salt: str | None = None
) -> list[str]:
    """`suppress` for (email, reason, detail) entries in one multi-row INSERT; the addresses newly
    added, in order. An address listed twice is added as its first entry, as by one `suppress`
    call after another. `salt`: the caller's `suppression_salt`, when it has it already."""
    salt = salt or suppression_salt(session)
    first: dict[str, tuple[str, dict]] = {}  # hash -> (address, row) of its first entry
    for email, reason, detail in entries:
        digest = address_hash(email, salt)
        if digest not in first:
            row = dict(email_hash=digest, email=email_key(email), reason=reason, detail=detail)
            first[digest] = (email, row)
    if not first:
        return []
    stmt = (
        dialect_insert(session, Suppression)
        .on_conflict_do_nothing(index_elements=["email_hash"])
        .returning(Suppression.email_hash)
    )
    added = set(session.connection().scalars(stmt, [row for _, row in first.values()]))
    return [email for digest, (email, _) in first.items() if digest in added]


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
