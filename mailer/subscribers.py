"""Subscriber imports from CSV: validated, normalised, merged, all-or-nothing per batch, repeatable."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .addresses import InvalidAddress, address_hash, clean_display_name, normalise_email
from .db import transaction
from .errors import ImportFileError
from .models import ConsentEvent, Subscriber, Subscription, utcnow
from .store import dialect_insert, suppressed_hashes, suppression_salt

STATUSES = ("confirmed", "pending", "unsubscribed")
BATCH_SIZE = 2000


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str
    status: str


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
                f"{len(self.problems)} skipped")


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet exports are often Windows-1252; cp1252 cannot fail on the bytes Excel writes.
        return data.decode("cp1252", errors="replace")


def read_csv(path: Path, default_status: str = "confirmed") -> tuple[list[ImportRow], list[str]]:
    """Rows to import and `line N: reason` problems. Needs a header with an `email` column."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    reader = csv.reader(io.StringIO(_decode(path), newline=""))
    header = next(reader, None)
    if header is None:
        raise ImportFileError(f"{path}: the file is empty; expected a header line like 'email,name,status'")
    columns = [h.strip().lower() for h in header]
    if "email" not in columns:
        raise ImportFileError(f"{path}:1: no 'email' column in the header {header!r}")
    col = {name: columns.index(name) for name in ("email", "name", "status") if name in columns}
    rows, problems = [], []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            problems.append(f"line {line}: expected {len(columns)} fields, found {len(record)}")
            continue
        try:
            email = normalise_email(record[col["email"]])
        except InvalidAddress as exc:
            problems.append(f"line {line}: invalid address {record[col['email']][:80]!r}: {exc}")
            continue
        status = record[col["status"]].strip().lower() if "status" in col else default_status
        status = status or default_status
        if status not in STATUSES:
            problems.append(f"line {line}: status {status!r} must be one of {', '.join(STATUSES)}")
            continue
        name = clean_display_name(record[col["name"]]) if "name" in col else ""
        rows.append(ImportRow(line=line, email=email, name=name, status=status))
    return rows, problems


def _merge_duplicates(rows: Iterable[ImportRow], problems: list[str]) -> list[ImportRow]:
    seen: dict[str, ImportRow] = {}
    for row in rows:
        if row.email in seen:
            problems.append(f"line {row.line}: duplicate of line {seen[row.email].line} ({row.email}); merged")
            continue
        seen[row.email] = row
    return list(seen.values())


def _batches(rows: list[ImportRow], size: int) -> Iterator[list[ImportRow]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _import_batch(session: Session, list_id: int, batch: list[ImportRow], source: str, report: ImportReport) -> None:
    salt = suppression_salt(session)
    blocked = suppressed_hashes(session, [address_hash(r.email, salt) for r in batch])
    rows = []
    for row in batch:
        if address_hash(row.email, salt) in blocked:
            report.problems.append(f"line {row.line}: {row.email} is suppressed (bounced, complained or erased); not imported")
        else:
            rows.append(row)
    if not rows:
        return
    emails = [r.email for r in rows]
    session.execute(dialect_insert(session, Subscriber)
                    .values([{"email": r.email, "name": r.name} for r in rows])
                    .on_conflict_do_nothing(index_elements=["email"]))
    ids = dict(session.execute(select(Subscriber.email, Subscriber.id).where(Subscriber.email.in_(emails))).all())
    existing = {
        sub_id: status for sub_id, status in session.execute(
            select(Subscription.subscriber_id, Subscription.status)
            .where(Subscription.list_id == list_id, Subscription.subscriber_id.in_(ids.values()))
        )
    }
    now = utcnow()
    new_subs, consents = [], []
    for row in rows:
        sub_id = ids[row.email]
        current = existing.get(sub_id)
        if current is None:
            new_subs.append({"subscriber_id": sub_id, "list_id": list_id, "status": row.status,
                             "confirmed_at": now if row.status == "confirmed" else None,
                             "unsubscribed_at": now if row.status == "unsubscribed" else None})
            consents.append({"subscriber_id": sub_id, "list_id": list_id, "action": "import",
                             "source": "import", "detail": f"{source} line {row.line}: status {row.status}"})
            report.added += 1
        elif current == "pending" and row.status in ("confirmed", "unsubscribed"):
            # An import may move pending forward, but never re-subscribes someone who left.
            session.execute(update(Subscription).where(Subscription.subscriber_id == sub_id,
                                                       Subscription.list_id == list_id)
                            .values(status=row.status, confirmed_at=now if row.status == "confirmed" else None,
                                    unsubscribed_at=now if row.status == "unsubscribed" else None))
            consents.append({"subscriber_id": sub_id, "list_id": list_id, "action": "import",
                             "source": "import", "detail": f"{source} line {row.line}: status {row.status}"})
            report.updated += 1
        else:
            report.unchanged += 1
    if new_subs:
        session.execute(dialect_insert(session, Subscription).values(new_subs)
                        .on_conflict_do_nothing(index_elements=["subscriber_id", "list_id"]))
    if consents:
        session.execute(dialect_insert(session, ConsentEvent).values(consents))


def import_rows(factory: sessionmaker[Session], list_id: int, rows: list[ImportRow], problems: list[str],
                source: str, batch_size: int = BATCH_SIZE) -> ImportReport:
    """Each batch commits on its own: a failure leaves earlier batches in and this one out."""
    report = ImportReport(problems=problems)
    for batch in _batches(_merge_duplicates(rows, report.problems), batch_size):
        with transaction(factory) as session:
            _import_batch(session, list_id, batch, source, report)
    report.problems.sort(key=lambda p: int(p.split(":")[0].split()[1]))
    return report
