"""One import batch in a handful of set-based statements (the speed of `mailer subscribers import`).

Each statement receives the whole batch as one JSON array parameter, unpacked by the database
(SQLite `json_each`, PostgreSQL `jsonb_array_elements`): no per-row round trips, no statement with
thousands of bound parameters, and the same SQL shape on both databases.
"""

from __future__ import annotations

import json
from typing import Sequence

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.orm import Session

from .addresses import address_hash
from .models import utcnow
from .store import suppression_salt


def _rows(dialect: str) -> tuple[str, callable]:
    """(FROM clause over the :rows JSON array, f(i) -> SQL text of element i of a row as text)."""
    if dialect == "postgresql":
        return "jsonb_array_elements(CAST(:rows AS jsonb)) AS j(value)", lambda i: f"(j.value ->> {i})"
    return "json_each(:rows) AS j", lambda i: f"json_extract(j.value, '$[{i}]')"


def _values(dialect: str) -> str:
    """A subquery over the :rows JSON array of plain values (SQLite then probes the index per value)."""
    if dialect == "postgresql":
        return "(SELECT jsonb_array_elements_text(CAST(:rows AS jsonb)))"
    return "(SELECT value FROM json_each(:rows))"


def _run(session: Session, sql: str, rows: list, **params):
    stmt = text(sql)
    if "now" in params:
        stmt = stmt.bindparams(bindparam("now", type_=DateTime(timezone=True)))
    return session.execute(stmt, {"rows": json.dumps(rows, ensure_ascii=False), **params})


def _blocked(session: Session, emails: list[str]) -> set[str]:
    """Which of these addresses are suppressed (by salted hash: erased addresses only exist as hashes)."""
    if session.execute(text("SELECT 1 FROM suppressions LIMIT 1")).first() is None:
        return set()
    salt = suppression_salt(session)
    by_hash = {address_hash(email, salt): email for email in emails}
    values = _values(session.get_bind().dialect.name)
    found = _run(session, f"SELECT email_hash FROM suppressions WHERE email_hash IN {values}", list(by_hash))
    return {by_hash[h] for (h,) in found}


def _subscriber_ids(session: Session, rows: Sequence) -> tuple[dict[str, int], dict[str, int]]:
    """(ids of addresses added now, ids of addresses known before)."""
    source, col = _rows(session.get_bind().dialect.name)
    inserted = dict(_run(session, f"INSERT INTO subscribers (email, name) SELECT {col(0)}, {col(1)} FROM {source} "
                                  "WHERE true ON CONFLICT (email) DO NOTHING RETURNING email, id",
                         [[r.email, r.name] for r in rows]).all())
    missing = [r.email for r in rows if r.email not in inserted]
    known = {}
    if missing:
        values = _values(session.get_bind().dialect.name)
        known = dict(_run(session, f"SELECT email, id FROM subscribers WHERE email IN {values}", missing).all())
    return inserted, known


def _existing(session: Session, list_id: int, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    # SQLite's json_each yields JSON numbers as integers already; PostgreSQL needs the cast.
    values = ("(SELECT CAST(jsonb_array_elements_text(CAST(:rows AS jsonb)) AS BIGINT))"
              if dialect == "postgresql" else _values(dialect))
    return dict(_run(session, "SELECT subscriber_id, status FROM subscriptions "
                              f"WHERE list_id = :list_id AND subscriber_id IN {values}", ids, list_id=list_id).all())


def _insert_subscriptions(session: Session, list_id: int, subs: list[list]) -> None:
    source, col = _rows(session.get_bind().dialect.name)
    _run(session, "INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, unsubscribed_at) "
                  f"SELECT CAST({col(0)} AS BIGINT), :list_id, {col(1)}, "
                  f"CASE WHEN {col(1)} = 'confirmed' THEN :now END, CASE WHEN {col(1)} = 'unsubscribed' THEN :now END "
                  f"FROM {source} WHERE true ON CONFLICT (subscriber_id, list_id) DO NOTHING",
         subs, list_id=list_id, now=utcnow())


def _move_pending(session: Session, list_id: int, moves: list[list]) -> None:
    """pending -> confirmed/unsubscribed (an import may move pending forward; it never re-subscribes)."""
    for sub_id, status in moves:
        session.execute(text("UPDATE subscriptions SET status = :status, "
                             "confirmed_at = CASE WHEN :status = 'confirmed' THEN :now END, "
                             "unsubscribed_at = CASE WHEN :status = 'unsubscribed' THEN :now END "
                             "WHERE subscriber_id = :sub AND list_id = :list_id AND status = 'pending'")
                        .bindparams(bindparam("now", type_=DateTime(timezone=True))),
                        {"status": status, "sub": sub_id, "list_id": list_id, "now": utcnow()})


def _record_consent(session: Session, list_id: int, events: list[list]) -> None:
    source, col = _rows(session.get_bind().dialect.name)
    _run(session, "INSERT INTO consent_events (subscriber_id, list_id, action, source, detail) "
                  f"SELECT CAST({col(0)} AS BIGINT), :list_id, 'import', 'import', {col(1)} FROM {source}",
         events, list_id=list_id)


def import_batch(session: Session, list_id: int, batch: Sequence, source: str,
                 problems: list[str]) -> tuple[int, int, int]:
    """(added, updated, unchanged) for one batch of ImportRows with distinct addresses."""
    blocked = _blocked(session, [r.email for r in batch])
    rows = []
    for row in batch:
        if row.email in blocked:
            problems.append(f"line {row.line}: {row.email} is suppressed (bounced, complained or erased); "
                            "not imported")
        else:
            rows.append(row)
    if not rows:
        return 0, 0, 0
    fresh, known = _subscriber_ids(session, rows)
    existing = _existing(session, list_id, list(known.values()))  # fresh ones have no subscriptions yet
    ids = {**fresh, **known}
    new_subs, moves, events, unchanged = [], [], [], 0
    for row in rows:
        sub_id = ids[row.email]
        current = existing.get(sub_id)
        if current is None:
            new_subs.append([sub_id, row.status])
        elif current == "pending" and row.status in ("confirmed", "unsubscribed"):
            moves.append([sub_id, row.status])
        else:
            unchanged += 1
            continue
        events.append([sub_id, f"{source} line {row.line}: status {row.status}"])
    if new_subs:
        _insert_subscriptions(session, list_id, new_subs)
    _move_pending(session, list_id, moves)
    if events:
        _record_consent(session, list_id, events)
    return len(new_subs), len(moves), unchanged
