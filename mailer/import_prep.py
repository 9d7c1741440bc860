"""The part of an import batch that needs no database: sorting, suppression hashes, packed line/status codes.

It runs where the CSV is parsed (a worker process for big files), so that the process holding the
database connection spends its time in the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from .addresses import address_hash
from .models import AppMeta

# Status <-> the two low bits of a packed code (line << 2 | status); SQL decodes them with CASE.
STATUS_CODES = {"confirmed": 0, "pending": 1, "unsubscribed": 2}


@dataclass
class PreparedBatch:
    """(line, email, name, status) rows with distinct addresses, sorted by address: inserted in this order,
    the unique index on subscribers.email is filled left to right instead of at random places."""

    rows: list[tuple]
    hashes: list[str] | None  # the salted hash of each address; None when the salt was not known
    codes: str  # JSON array of line << 2 | status code, one per row (SQLite reads flat numbers fastest)

    def __len__(self) -> int:
        return len(self.rows)


def known_salt(session: Session) -> str | None:
    """The suppression salt if it exists (without creating it: no salt means no suppressions yet)."""
    return session.scalar(select(AppMeta.value).where(AppMeta.key == "suppression_salt"))


def pack_codes(rows: Sequence[tuple]) -> str:
    codes = STATUS_CODES
    return json.dumps([line << 2 | codes[status] for line, _, _, status in rows])


def prepare(batch: Sequence[tuple], salt: str | None) -> PreparedBatch:
    rows = sorted(batch, key=lambda row: row[1])
    hashes = None if salt is None else [address_hash(row[1], salt) for row in rows]
    return PreparedBatch(rows, hashes, pack_codes(rows))
