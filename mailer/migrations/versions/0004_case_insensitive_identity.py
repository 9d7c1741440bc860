"""one subscriber per address in any letter case: subscribers.email_key, duplicates merged

Until now ALAN@EXAMPLE.COM, Alan@Example.com and alan@example.com could be three subscribers, each
mailed. This adds subscribers.email_key (the whole address lower-cased, mailer.addresses.email_key),
merges the people who share a key into the one who consented first, and then makes the key UNIQUE.

Merging keeps everything that happened: every consent event, delivery and SES event is re-pointed to
the survivor. The survivor keeps the earliest address (as first given), the earliest subscription
and confirmation dates, and per list the strongest status: unsubscribed over confirmed over pending
(a suppression needs no merging: it is keyed by the lower-cased address already). When two of them
were mailed in the same send, the ledger keeps one row for it (the furthest state: a complaint or
bounce over a delivery) and that row takes the other's SES events.

It also takes the addresses out of events.dedup_key: `kind:ident:address` becomes `kind:ident:` and
the address's salted hash (the salt of the suppression hashes), as
mailer.store.events.stored_dedup_key now builds every key, so that keys name nobody and an erased
person's events still deduplicate.

Revision ID: 0004 Revises: 0003 Create Date: 2026-12-02
"""

import hashlib
import secrets
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SUBSCRIPTION_RANK = {"pending": 0, "confirmed": 1, "unsubscribed": 2}
# How far a ledger row got; of two rows for one person in one send, the further one stays.
DELIVERY_RANK = {
    "queued": 0,
    "skipped": 1,
    "sending": 2,
    "unknown": 3,
    "failed": 4,
    "sent": 5,
    "delivered": 6,
    "bounced": 7,
    "complained": 8,
}


def _key(address: str) -> str:
    # mailer.addresses.email_key, repeated: a migration must not change when the application code does.
    return address.lower()


def _in(sql: str):
    return sa.text(sql).bindparams(sa.bindparam("ids", expanding=True))


def _earliest(values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _latest(values):
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _survivor(conn, ids: list[int]) -> tuple[int, list]:
    """The person who consented first (then: created first, lowest id), and every row of the group."""
    rows = conn.execute(
        _in(
            "SELECT s.id, s.name, s.created_at, "
            "(SELECT min(c.created_at) FROM consent_events c WHERE c.subscriber_id = s.id) "
            "FROM subscribers s WHERE s.id IN :ids"
        ),
        {"ids": ids},
    ).all()

    def order(row):
        first = row[3] if row[3] is not None else row[2]
        return (first is None, first, row[2] is None, row[2], row[0])

    rows.sort(key=order)
    return rows[0][0], rows


def _merge_subscriptions(conn, survivor: int, ids: list[int]) -> None:
    rows = conn.execute(
        _in(
            "SELECT id, subscriber_id, list_id, status, created_at, confirmed_at, unsubscribed_at "
            "FROM subscriptions WHERE subscriber_id IN :ids ORDER BY id"
        ),
        {"ids": ids},
    ).all()
    by_list = defaultdict(list)
    for row in rows:
        by_list[row.list_id].append(row)
    for list_rows in by_list.values():
        kept = next((r for r in list_rows if r.subscriber_id == survivor), list_rows[0])
        status = max((r.status for r in list_rows), key=lambda s: SUBSCRIPTION_RANK.get(s, 2))
        others = [r.id for r in list_rows if r.id != kept.id]
        if others:
            conn.execute(_in("DELETE FROM subscriptions WHERE id IN :ids"), {"ids": others})
        conn.execute(
            sa.text(
                "UPDATE subscriptions SET subscriber_id = :survivor, status = :status, "
                "created_at = :created, confirmed_at = :confirmed, unsubscribed_at = :left "
                "WHERE id = :id"
            ),
            {
                "survivor": survivor,
                "status": status,
                "id": kept.id,
                "created": _earliest(r.created_at for r in list_rows),
                "confirmed": _earliest(r.confirmed_at for r in list_rows),
                "left": _latest(r.unsubscribed_at for r in list_rows)
                if status == "unsubscribed"
                else None,
            },
        )


def _merge_deliveries(conn, survivor: int, ids: list[int]) -> None:
    rows = conn.execute(
        _in(
            "SELECT id, send_id, subscriber_id, state FROM deliveries "
            "WHERE subscriber_id IN :ids ORDER BY id"
        ),
        {"ids": ids},
    ).all()
    by_send = defaultdict(list)
    for row in rows:
        by_send[row.send_id].append(row)
    for send_rows in by_send.values():
        kept = max(
            send_rows,
            key=lambda r: (DELIVERY_RANK.get(r.state, 0), r.subscriber_id == survivor, -r.id),
        )
        others = [r.id for r in send_rows if r.id != kept.id]
        if others:
            conn.execute(
                _in("UPDATE events SET delivery_id = :kept WHERE delivery_id IN :ids"),
                {"kept": kept.id, "ids": others},
            )
            conn.execute(_in("DELETE FROM deliveries WHERE id IN :ids"), {"ids": others})
        if kept.subscriber_id != survivor:
            conn.execute(
                sa.text("UPDATE deliveries SET subscriber_id = :survivor WHERE id = :id"),
                {"survivor": survivor, "id": kept.id},
            )


def _merge(conn, ids: list[int]) -> None:
    survivor, rows = _survivor(conn, ids)
    others = [row[0] for row in rows if row[0] != survivor]
    name = next((row[1] for row in rows if row[1]), "")
    created = _earliest(row[2] for row in rows)
    conn.execute(
        _in("UPDATE consent_events SET subscriber_id = :survivor WHERE subscriber_id IN :ids"),
        {"survivor": survivor, "ids": others},
    )
    _merge_subscriptions(conn, survivor, ids)
    _merge_deliveries(conn, survivor, ids)
    conn.execute(_in("DELETE FROM subscribers WHERE id IN :ids"), {"ids": others})
    conn.execute(
        sa.text("UPDATE subscribers SET name = :name, created_at = :created WHERE id = :id"),
        {"name": name, "created": created, "id": survivor},
    )


def _salt(conn) -> str:
    salt = conn.scalar(sa.text("SELECT value FROM app_meta WHERE key = 'suppression_salt'"))
    if salt is None:  # what mailer.audience.suppressions.suppression_salt does on first use
        salt = secrets.token_hex(16)
        conn.execute(
            sa.text("INSERT INTO app_meta (key, value) VALUES ('suppression_salt', :salt)"),
            {"salt": salt},
        )
    return salt


def _hash_dedup_keys(conn) -> None:
    """mailer.store.events.stored_dedup_key, repeated for the same reason as _key."""
    rows = conn.execute(
        sa.text(
            "SELECT id, dedup_key, event_type, recipient FROM events WHERE recipient IS NOT NULL"
        )
    ).all()
    if not rows:
        return
    salt = _salt(conn)
    changes = []
    for event_id, dedup_key, event_type, recipient in rows:
        suffix = ":" + recipient.lower()  # the old keys ended in the lower-cased recipient
        if not dedup_key.lower().endswith(suffix):
            continue  # over-long keys were hashed whole already
        digest = hashlib.sha256(f"{salt}:{_key(recipient)}".encode()).hexdigest()
        new_key = f"{dedup_key[: -len(suffix)]}:{digest}"
        if len(new_key) > 300:
            new_key = f"{event_type[:32]}:sha256:{hashlib.sha256(new_key.encode()).hexdigest()}"
        changes.append({"id": event_id, "key": new_key})
    if changes:
        conn.execute(sa.text("UPDATE events SET dedup_key = :key WHERE id = :id"), changes)


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("email_key", sa.String(length=320), nullable=True))
    conn = op.get_bind()
    groups = defaultdict(list)
    for sub_id, email in conn.execute(
        sa.text("SELECT id, email FROM subscribers WHERE email IS NOT NULL ORDER BY id")
    ):
        groups[_key(email)].append(sub_id)
    for ids in groups.values():
        if len(ids) > 1:
            _merge(conn, ids)
    # lower() in SQL for the bulk (ASCII, nearly every address); Python's for any the database folds
    # differently (SQLite's lower() leaves non-ASCII letters alone).
    conn.execute(sa.text("UPDATE subscribers SET email_key = lower(email) WHERE email IS NOT NULL"))
    wrong = [
        {"key": _key(email), "id": sub_id}
        for sub_id, email, key in conn.execute(
            sa.text("SELECT id, email, email_key FROM subscribers WHERE email IS NOT NULL")
        )
        if key != _key(email)
    ]
    if wrong:
        conn.execute(sa.text("UPDATE subscribers SET email_key = :key WHERE id = :id"), wrong)
    op.create_index(op.f("ix_subscribers_email_key"), "subscribers", ["email_key"], unique=True)
    _hash_dedup_keys(conn)


def downgrade() -> None:
    # Merged people stay merged: the merge kept everything, there is nothing to split them back into.
    op.drop_index(op.f("ix_subscribers_email_key"), table_name="subscribers")
    op.drop_column("subscribers", "email_key")
