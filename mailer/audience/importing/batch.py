"""One import batch in a handful of set-based statements (the speed of `mailer subscribers import`).

Each statement receives the batch as one JSON array parameter of row arrays, unpacked by the
database (SQLite `json_each`, PostgreSQL `jsonb_array_elements`, element i read with `value ->> i`
on both): no per-row round trips, no statement with thousands of bound parameters, the same SQL on
both databases. On SQLite new subscribers go in with one prepared statement run per row
(executemany: faster there than unpacking JSON), and a batch of only new addresses takes the
shortcut in import_sqlite.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.orm import Session

from mailer.audience.importing.extras import apply_extras
from mailer.audience.importing.prep import DIGEST, STATUS_NAMES, PreparedBatch, digest, prepare
from mailer.audience.importing.sqlite import insert_new_people, sqlite_subscriber_ids
from mailer.audience.suppressions import suppression_salt
from mailer.store.models import ConsentAction, SubscriptionStatus, utcnow

# Up to this many suppressions are read whole and compared with the batch's hashes in Python; beyond
# it
# the database probes its index once per address of the batch (about 2 us per row on SQLite).
SMALL_SUPPRESSIONS = 10_000


def _rows(session: Session) -> str:
    """FROM clause over the :rows JSON array; each element is `j.value`."""
    if session.get_bind().dialect.name == "postgresql":
        return "jsonb_array_elements(CAST(:rows AS jsonb)) AS j(value)"
    return "json_each(:rows) AS j"


def _values(session: Session, cast: str = "") -> str:
    """A subquery over a JSON array of plain values (SQLite then probes the index once per
    value)."""
    if session.get_bind().dialect.name == "postgresql":
        element = "jsonb_array_elements_text(CAST(:rows AS jsonb))"
        return f"(SELECT CAST({element} AS {cast}))" if cast else f"(SELECT {element})"
    return (
        "(SELECT value FROM json_each(:rows))"  # json_each yields JSON numbers as integers already
    )


def _run(session: Session, sql: str, rows: Sequence, **params):
    return session.execute(text(sql), {"rows": json.dumps(rows, ensure_ascii=False), **params})


def _blocked(session: Session, batch: PreparedBatch) -> list[tuple]:
    """The rows whose address is suppressed (by salted hash: erased addresses only exist as
    hashes)."""
    listed = session.scalars(
        text("SELECT email_hash FROM suppressions LIMIT :n"), {"n": SMALL_SUPPRESSIONS + 1}
    ).all()
    if not listed:
        return []
    if batch.digests is None:  # the reader did not know the salt: it was created since
        salt = suppression_salt(session)
        batch.digests = b"".join([digest(email, salt) for email in batch.email_list])
    if len(listed) > SMALL_SUPPRESSIONS:
        hashes = [batch.digests[i : i + DIGEST].hex() for i in range(0, len(batch.digests), DIGEST)]
        listed = (
            _run(
                session,
                f"SELECT email_hash FROM suppressions WHERE email_hash IN {_values(session)}",
                hashes,
            )
            .scalars()
            .all()
        )
    return batch.rows_with_digests({bytes.fromhex(h) for h in listed})


def _subscriber_ids(
    session: Session, batch: PreparedBatch, now
) -> tuple[dict[str, int], dict[str, int]]:
    """(ids of people added now, ids of people known before), by email_key: a known person keeps the
    spelling of their address they first gave."""
    rows = list(zip(batch.email_list, batch.key_list, batch.name_list, strict=True))
    stmt = text(
        f"INSERT INTO subscribers (email, email_key, name, created_at) "
        f"SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, :now FROM {_rows(session)} WHERE "
        "true "
        f"ON CONFLICT (email_key) DO NOTHING RETURNING email_key, id"
    )
    fresh = dict(
        session.execute(
            stmt.bindparams(bindparam("now", type_=DateTime(timezone=True))),
            {"rows": json.dumps(rows, ensure_ascii=False), "now": now},
        ).all()
    )
    if len(fresh) == len(rows):
        return fresh, {}
    missing = [key for key in batch.key_list if key not in fresh]
    known = dict(
        _run(
            session,
            f"SELECT email_key, id FROM subscribers WHERE email_key IN {_values(session)}",
            missing,
        ).all()
    )
    return fresh, known


def _statuses(session: Session, list_id: int, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(
        _run(
            session,
            "SELECT subscriber_id, status FROM subscriptions "
            f"WHERE list_id = :list_id AND subscriber_id IN {_values(session, 'BIGINT')}",
            ids,
            list_id=list_id,
        ).all()
    )


def _people(session: Session) -> str:
    """FROM clause over the :rows JSON array of (subscriber id << 32 | line) numbers: one flat
    number per person, which SQLite reads about ten times faster than a nested (id, line) array."""
    if session.get_bind().dialect.name == "postgresql":
        return "(SELECT CAST(jsonb_array_elements_text(CAST(:rows AS jsonb)) AS BIGINT) AS v) AS p"
    return "(SELECT value AS v FROM json_each(:rows)) AS p"


# What an import may move a subscription to: pending forward (confirmed or unsubscribed), and an
# opt-out from any status (a file saying someone left is applied; it never re-subscribes anyone).
_PENDING = SubscriptionStatus.PENDING
_CONFIRMED = SubscriptionStatus.CONFIRMED
_UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED
_MOVES_FROM = {_CONFIRMED: (_PENDING,), _UNSUBSCRIBED: (_PENDING, _CONFIRMED)}


def _moves(now_status: str, status: str) -> bool:
    return now_status in _MOVES_FROM.get(status, ())


def _dates(status: str, now) -> dict:
    return {
        "status": status,
        "confirmed": now if status == SubscriptionStatus.CONFIRMED else None,
        "unsubscribed": now if status == SubscriptionStatus.UNSUBSCRIBED else None,
    }


def _run_dated(session: Session, sql: str, people: list[int], now, **params):
    stmt = text(sql).bindparams(
        *(
            bindparam(name, type_=DateTime(timezone=True))
            for name in ("now", "confirmed", "unsubscribed")
            if f":{name}" in sql
        )
    )
    return session.execute(stmt, {"rows": json.dumps(people), "now": now, **params})


def _insert_subscriptions(
    session: Session, list_id: int, status: str, people: list[int], now
) -> None:
    _run_dated(
        session,
        "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, confirmed_at, "
        "unsubscribed_at) SELECT v >> 32, :list_id, CAST(:status AS TEXT), :now, :confirmed, "
        f":unsubscribed FROM {_people(session)} WHERE true "
        "ON CONFLICT (subscriber_id, list_id) DO NOTHING",
        people,
        now,
        list_id=list_id,
        **_dates(status, now),
    )


def _move(session: Session, list_id: int, status: str, people: list[int], now) -> None:
    """pending -> confirmed, pending or confirmed -> unsubscribed (the date of the new status set,
    the others kept)."""
    column = "confirmed_at" if status == _CONFIRMED else "unsubscribed_at"
    before = ", ".join(f"'{s}'" for s in _MOVES_FROM[status])
    _run_dated(
        session,
        f"UPDATE subscriptions SET status = CAST(:status AS TEXT), {column} = :now "
        f"WHERE list_id = :list_id AND status IN ({before}) "
        f"AND subscriber_id IN (SELECT v >> 32 FROM {_people(session)})",
        people,
        now,
        list_id=list_id,
        status=status,
    )


def _record_consent(
    session: Session,
    list_id: int,
    source: str,
    consent_source: str,
    status: str,
    people: list[int],
    now,
) -> None:
    """One consent row per person added or changed, naming the file and line: `people.csv:7: status
    confirmed`, with the source `import:<service>`."""
    _run_dated(
        session,
        "INSERT INTO consent_events (subscriber_id, list_id, action, source, detail, created_at) "
        f"SELECT v >> 32, :list_id, '{ConsentAction.IMPORT}', CAST(:source AS TEXT), "
        "CAST(:detail AS TEXT) || CAST(v & 4294967295 AS TEXT) || CAST(:status_text AS TEXT), :now "
        f"FROM {_people(session)}",
        people,
        now,
        list_id=list_id,
        source=consent_source,
        detail=f"{source}:",
        status_text=f": status {status}",
    )


def _check_packable(rows: Sequence, *ids: dict[str, int]) -> None:
    top_line, top_id = max(row[0] for row in rows), max(max(i.values(), default=0) for i in ids)
    if top_line >= 1 << 32 or top_id >= 1 << 31:
        raise ValueError(
            f"line {top_line} or subscriber id {top_id} is beyond what an import can record"
        )


def _usable(
    session: Session, batch: PreparedBatch, problems: list[str]
) -> tuple[PreparedBatch, int]:
    """The batch without suppressed rows, and how many of those were opt-outs (nothing to do: the
    address is never mailed already; a re-import of an export with bounced rows lands here)."""
    blocked = _blocked(session, batch)
    if not blocked:
        return batch, 0
    quiet = 0
    for line, email, _, status in sorted(blocked):
        if status == _UNSUBSCRIBED:
            quiet += 1
            continue
        problems.append(
            f"line {line}: {email} is suppressed (bounced, complained or erased); not imported"
        )
    gone = {row[1] for row in blocked}
    rows = [row for row in batch.rows if row[1] not in gone]
    return prepare(rows, None, batch.extras), quiet


def _tally_status(tally: Counter | None, batch: PreparedBatch, status: str, people: list[int]):
    """Added and unsubscribed rows by reason (suppressed ones are counted by extras.apply)."""
    if tally is None:
        return
    if status != _UNSUBSCRIBED:
        tally[f"{status}"] += len(people)
        return
    extras = batch.extras
    for packed in people:
        extra = extras.get(packed & 0xFFFFFFFF) if extras else None
        if extra is None:
            tally["unsubscribed (status column)"] += 1
        elif extra.suppression is None:
            tally[f"unsubscribed ({extra.reason})"] += 1


def import_batch(
    session: Session,
    list_id: int,
    batch: PreparedBatch | Sequence,
    source: str,
    problems: list[str],
    service: str = "csv",
    tally: Counter | None = None,
) -> tuple[int, int, int]:
    """(added, updated, unchanged) for one batch of (line, email, name, status) rows with distinct
    addresses (or the same rows prepared by import_prep.prepare). `source` is the file's name, the
    consent ledger's source `import:<service>`; `tally` counts rows by outcome and reason."""
    batch, quiet = _usable(
        session, batch if isinstance(batch, PreparedBatch) else prepare(batch, None), problems
    )
    if not len(batch):
        return 0, 0, quiet
    consent_source = f"import:{service}"
    now = utcnow()
    if session.get_bind().dialect.name == "sqlite":
        first, fresh, known = sqlite_subscriber_ids(session, batch, now)
        if not known and batch.extras is None:
            # only new people (a first import): their ids are first, first + 1, ... in row order
            insert_new_people(session, list_id, source, consent_source, first, batch.codes, now)
            if tally is not None:  # the two low bits of each code are its status
                for code, count in Counter(map((3).__and__, json.loads(batch.codes))).items():
                    status = STATUS_NAMES[code]
                    tally[
                        status if status != _UNSUBSCRIBED else "unsubscribed (status column)"
                    ] += count
            return len(batch), 0, quiet
        if not known:
            fresh = dict(zip(batch.key_list, range(first, first + len(batch)), strict=True))
    else:
        fresh, known = _subscriber_ids(session, batch, now)
    rows = batch.rows
    current = _statuses(
        session, list_id, list(known.values())
    )  # fresh ones have no subscriptions yet
    _check_packable(rows, fresh, known)
    added: dict[str, list[int]] = {}
    moved: dict[str, list[int]] = {}
    for (line, _, _, status), key in zip(rows, batch.key_list, strict=True):
        sub_id = fresh.get(key)
        if sub_id is None:
            sub_id = known[key]
            now_status = current.get(sub_id)
            if now_status is not None:
                if _moves(now_status, status):
                    moved.setdefault(status, []).append(sub_id << 32 | line)
                continue
        added.setdefault(status, []).append(sub_id << 32 | line)
    for status, people in added.items():
        _insert_subscriptions(session, list_id, status, people, now)
    for status, people in moved.items():
        _move(session, list_id, status, people, now)
    changed = [*added.items(), *moved.items()]
    for status, people in changed:
        _tally_status(tally, batch, status, people)
    if batch.extras is None:
        for status, people in changed:
            _record_consent(session, list_id, source, consent_source, status, people, now)
        touched = 0
    else:
        sources = (source, consent_source)
        touched = apply_extras(
            session, list_id, batch, added, moved, fresh, known, sources, now, tally
        )
    counts = sum(map(len, added.values())), sum(map(len, moved.values())) + touched
    return counts[0], counts[1], len(rows) - counts[0] - counts[1] + quiet
