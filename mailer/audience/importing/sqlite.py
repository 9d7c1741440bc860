"""SQLite's part of an import batch: new subscribers in, their ids worked out without reading them
back.

SQLite gives a new row of a rowid table the id max(id) + 1, and only one connection writes at a
time:
once the first insert of the batch has run, this transaction holds the write lock until it commits.
The
rows one executemany inserts therefore get consecutive ids in the order they were given, and the
subscriptions and consent records of a batch of new people are computed from (first id + position)
inside the database, with no id travelling through Python and no lookup by address.
"""

from __future__ import annotations

import json
from itertools import repeat

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.orm import Session

from mailer.audience.importing.prep import PreparedBatch
from mailer.store.models import ConsentAction, SubscriptionStatus

# Codes are line << 2 | status (import_prep.STATUS_CODES); the CASEs turn them back into columns.
_STATUS = (
    f"CASE j.value & 3 WHEN 0 THEN '{SubscriptionStatus.CONFIRMED}' "
    f"WHEN 1 THEN '{SubscriptionStatus.PENDING}' "
    f"ELSE '{SubscriptionStatus.UNSUBSCRIBED}' END"
)
_NEW_SUBSCRIPTIONS = text(
    "INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, confirmed_at, "
    "unsubscribed_at) "
    f"SELECT :first + j.key, :list_id, {_STATUS}, :now, CASE j.value & 3 WHEN 0 THEN :now END, "
    "CASE j.value & 3 WHEN 2 THEN :now END FROM json_each(:codes) AS j"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))
_NEW_CONSENT = text(
    "INSERT INTO consent_events (subscriber_id, list_id, action, source, detail, created_at) "
    f"SELECT :first + j.key, :list_id, '{ConsentAction.IMPORT}', :source, "
    f":detail || (j.value >> 2) || ': status ' || {_STATUS}, "
    ":now FROM json_each(:codes) AS j"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))


def _stored(session: Session, value):
    """A datetime as SQLAlchemy stores it on SQLite (text), for statements run on the driver
    directly."""
    dialect = session.get_bind().dialect
    return DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)(value)


def sqlite_subscriber_ids(
    session: Session, batch: PreparedBatch, now
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Insert the people not known yet; (first new id, {email_key: id} of the new ones, of the known
    ones).

    When every address is new, the two dicts are empty: the new ids are first .. first + len(batch)
    - 1.
    """
    emails, keys = batch.email_list, batch.key_list
    conn = session.connection()
    # Raw executemany: one prepared statement stepped once per row, no SQLAlchemy work per row.
    inserted = conn.exec_driver_sql(
        "INSERT INTO subscribers (email, email_key, name, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (email_key) DO NOTHING",
        list(zip(emails, keys, batch.name_list, repeat(_stored(session, now)))),
    ).rowcount
    top = conn.exec_driver_sql("SELECT max(id) FROM subscribers").scalar() or 0
    first = top - inserted + 1
    if inserted == len(batch):
        # Cheap proof of the consecutive-ids rule above; a wrong mapping fails the batch, never
        # stores it.
        ends = dict(
            conn.exec_driver_sql(
                "SELECT id, email FROM subscribers WHERE id IN (?, ?)", (first, top)
            ).all()
        )
        if ends.get(first) != emails[0] or ends.get(top) != emails[-1]:
            raise RuntimeError(
                f"subscriber ids {first}..{top} are not the ones this import batch inserted"
            )
        return first, {}, {}
    ids = conn.execute(
        text(
            "SELECT email_key, id FROM subscribers "
            "WHERE email_key IN (SELECT value FROM json_each(:keys))"
        ),
        {"keys": json.dumps(keys, ensure_ascii=False)},
    ).all()
    fresh = {key: sub_id for key, sub_id in ids if sub_id >= first}  # the ids this insert took
    known = {key: sub_id for key, sub_id in ids if sub_id < first}
    return first, fresh, known


def insert_new_people(
    session: Session,
    list_id: int,
    source: str,
    consent_source: str,
    first: int,
    codes: str,
    now,
) -> None:
    """Subscriptions and consent records of people whose ids are first + position in the codes
    array; `source` is the file's name, `consent_source` the ledger's `import:<service>`."""
    params = {"first": first, "list_id": list_id, "now": now, "codes": codes}
    session.execute(_NEW_SUBSCRIPTIONS, params)
    session.execute(_NEW_CONSENT, {**params, "detail": f"{source}:", "source": consent_source})
