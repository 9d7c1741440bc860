"""What a service export's rows bring beyond our three columns, written after the batch's
subscriptions (ARCHITECTURE.md, "Where things live": CSV imports): the consent row naming why each
status was given, the creation dates, the attributes, and the suppressions of bounced and
complained rows.

Only profile imports (`--from substack` ...) come here; our own CSV layout keeps the set-based
statements of batch.py. These are executemany statements of a few columns per row: a service
export is read once or twice, not every day.
"""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import DateTime, bindparam, select, text, update
from sqlalchemy.orm import Session

from mailer.audience.importing.prep import PreparedBatch
from mailer.audience.suppressions import suppress_many
from mailer.store.models import ConsentAction, Subscriber, Subscription

_SUBSCRIBERS = Subscriber.__table__
_SUBSCRIPTIONS = Subscription.__table__
CHUNK = 5_000  # ids per IN list (SQLite allows 32,766 parameters a statement)


def _consent(session: Session, list_id: int, source: str, rows: list[list], now) -> None:
    """One consent row per [subscriber id, detail]."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    elements = (
        "jsonb_array_elements(CAST(:rows AS jsonb)) AS j(value)"
        if dialect == "postgresql"
        else "json_each(:rows) AS j"
    )
    stmt = text(
        "INSERT INTO consent_events (subscriber_id, list_id, action, source, detail, created_at) "
        f"SELECT CAST(j.value ->> 0 AS BIGINT), :list_id, '{ConsentAction.IMPORT}', "
        f"CAST(:source AS TEXT), j.value ->> 1, :now FROM {elements}"
    ).bindparams(bindparam("now", type_=DateTime(timezone=True)))
    session.execute(
        stmt,
        {
            "rows": json.dumps(rows, ensure_ascii=False),
            "list_id": list_id,
            "source": source,
            "now": now,
        },
    )


def _created(session: Session, list_id: int, fresh_ids: set[int], dated: list[tuple]) -> None:
    """The service's creation date on new subscriptions, and on the people new to us."""
    if not dated:
        return
    session.execute(
        update(_SUBSCRIPTIONS)
        .where(
            _SUBSCRIPTIONS.c.subscriber_id == bindparam("b_id"),
            _SUBSCRIPTIONS.c.list_id == list_id,
        )
        .values(created_at=bindparam("b_at", type_=DateTime(timezone=True))),
        [{"b_id": sub_id, "b_at": at} for sub_id, at in dated],
    )
    people = [{"b_id": sub_id, "b_at": at} for sub_id, at in dated if sub_id in fresh_ids]
    if people:
        session.execute(
            update(_SUBSCRIBERS)
            .where(_SUBSCRIBERS.c.id == bindparam("b_id"))
            .values(created_at=bindparam("b_at", type_=DateTime(timezone=True))),
            people,
        )


def _current_attributes(session: Session, ids: list[int]) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for start in range(0, len(ids), CHUNK):
        query = select(_SUBSCRIBERS.c.id, _SUBSCRIBERS.c.attributes).where(
            _SUBSCRIBERS.c.id.in_(ids[start : start + CHUNK])
        )
        found.update({sub_id: value or {} for sub_id, value in session.execute(query)})
    return found


def _attributes(session: Session, wanted: dict[int, dict], fresh_ids: set[int]) -> set[int]:
    """Each person's attributes merged with what the export says (the export's keys win); the ids
    whose attributes changed. A re-import of the same file changes nothing."""
    known = [sub_id for sub_id in wanted if sub_id not in fresh_ids]
    current = _current_attributes(session, known) if known else {}
    changes = []
    for sub_id, attributes in wanted.items():
        before = current.get(sub_id, {})
        merged = {**before, **attributes}
        if merged != before:
            changes.append({"b_id": sub_id, "b_attributes": merged})
    if changes:
        session.execute(
            update(_SUBSCRIBERS)
            .where(_SUBSCRIBERS.c.id == bindparam("b_id"))
            .values(attributes=bindparam("b_attributes", type_=_SUBSCRIBERS.c.attributes.type)),
            changes,
        )
    return {change["b_id"] for change in changes}


def _suppress(
    session: Session, entries: list[tuple[int, str, str, str]], tally: Counter | None
) -> set[int]:
    """Suppress the bounced and complained rows' addresses; the ids newly suppressed."""
    if not entries:
        return set()
    added = set(
        suppress_many(session, [(email, reason, detail) for _, email, reason, detail in entries])
    )
    done = set()
    for sub_id, email, reason, detail in entries:
        if email in added:
            done.add(sub_id)
            if tally is not None:
                tally[f"suppressed as {reason} ({detail.rsplit(': ', 1)[-1]})"] += 1
    return done


def apply_extras(
    session: Session,
    list_id: int,
    batch: PreparedBatch,
    added: dict[str, list[int]],
    moved: dict[str, list[int]],
    fresh: dict[str, int],
    known: dict[str, int],
    sources: tuple[str, str],
    now,
    tally: Counter | None,
) -> int:
    """Consent rows, dates, attributes and suppressions of a profile batch whose subscriptions were
    `added` or `moved` ({status: [id << 32 | line]} as batch.py wrote them); how many people not
    among them changed all the same (attributes or a suppression)."""
    file_name, consent_source = sources
    extras = batch.extras or {}
    changed_ids: set[int] = set()
    consent, dated = [], []
    added_ids = {packed >> 32 for people in added.values() for packed in people}
    for status, people in [*added.items(), *moved.items()]:
        for packed in people:
            sub_id, line = packed >> 32, packed & 0xFFFFFFFF
            extra = extras[line]
            changed_ids.add(sub_id)
            consent.append([sub_id, f"{file_name}:{line}: status {status} ({extra.reason})"])
    _consent(session, list_id, consent_source, consent, now)
    fresh_ids = set(fresh.values())
    wanted, suppressions = {}, []
    for (line, email, _, _), key in zip(batch.rows, batch.key_list, strict=True):
        extra = extras[line]
        sub_id = fresh.get(key) or known[key]
        if extra.created is not None and sub_id in added_ids:
            dated.append((sub_id, extra.created))
        if extra.attributes:
            wanted[sub_id] = extra.attributes
        if extra.suppression:
            detail = f"{consent_source} {file_name}:{line}: {extra.reason}"
            suppressions.append((sub_id, email, extra.suppression, detail))
    _created(session, list_id, fresh_ids, dated)
    touched = _attributes(session, wanted, fresh_ids) | _suppress(session, suppressions, tally)
    return len(touched - changed_ids - fresh_ids)
