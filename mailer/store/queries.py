"""Queries several stages share, as functions (ARCHITECTURE.md: "Layers and rules"). Sessions come
from the caller; nothing here commits. A send's own statements are its ledger's (send/ledger.py)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session, table):
    """INSERT with ON CONFLICT support for the session's dialect (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(
        f"database dialect {name!r} is not supported; use SQLite or PostgreSQL"
    )
