"""What erasing a person does beyond their own rows: SES events that name them, and the database
file.

An SES notification names its recipient everywhere (destination, headers, the display name in
commonHeaders.to, diagnostic codes): events about an erased person keep their type, times and ledger
link, and lose the recipient and the raw JSON. Their dedup keys hold the recipient only as a salted
hash (store.events.stored_dedup_key), so a late copy of the same notification is still recognised.

On SQLite, deleted and overwritten rows linger in free space inside pages and in the write-ahead
log; `scrub_sqlite_file` rebuilds the file (VACUUM) and empties the log, so that the bytes on disk
no longer hold the address either. (PostgreSQL keeps dead row versions until VACUUM reclaims them;
autovacuum does that on its own schedule.)
"""

from __future__ import annotations

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.orm import Session

from mailer.store.events import ERASED_RAW
from mailer.store.models import Event


def redact_events(
    session: Session, key: str, delivery_ids: list[int], message_ids: list[str]
) -> int:
    """Events about the person with this email_key lose what names them. Returns how many."""
    about = [func.lower(Event.recipient) == key, Event.raw.icontains(key, autoescape=True)]
    if delivery_ids:
        about.append(Event.delivery_id.in_(delivery_ids))
    if message_ids:
        about.append(Event.ses_message_id.in_(message_ids))
    rows = session.execute(select(Event.id).where(or_(*about))).all()
    ids = [row.id for row in rows]
    if ids:
        session.execute(
            update(Event).where(Event.id.in_(ids)).values(recipient=None, raw=ERASED_RAW)
        )
    return len(ids)


def scrub_sqlite_file(conn: Connection) -> bool:
    """Rebuild a SQLite database file and empty its write-ahead log. False when another connection
    kept the log in use (then the old pages stay in it until the next checkpoint)."""
    conn.exec_driver_sql("VACUUM")
    busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    return not busy
