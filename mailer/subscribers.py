"""Subscriber imports from CSV: validated, normalised, merged, all-or-nothing per batch, repeatable."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from sqlalchemy.orm import sessionmaker, Session

from .addresses import InvalidAddress, clean_display_name, normalise_email
from .db import transaction
from .errors import ImportFileError
from .import_batch import import_batch

STATUSES = ("confirmed", "pending", "unsubscribed")
BATCH_SIZE = 10_000
MAX_FIELD = 1_000_000  # bytes in one cell before the csv module gives up; the row is then reported


class ImportRow(NamedTuple):
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


def _encoding(path: Path) -> str:
    """utf-8-sig when the whole file is UTF-8, else cp1252 (spreadsheet exports). Read in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def _open(path: Path) -> io.TextIOWrapper:
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    # cp1252 leaves five bytes undefined; errors="replace" turns them into U+FFFD instead of failing.
    return open(path, encoding=_encoding(path), errors="replace", newline="")


def _columns(path: Path, reader) -> dict[str, int]:
    header = next(reader, None)
    if header is None:
        raise ImportFileError(f"{path}: the file is empty; expected a header line like 'email,name,status'")
    columns = [h.strip().lower() for h in header]
    if "email" not in columns:
        raise ImportFileError(f"{path}:1: no 'email' column in the header {header!r}; add one")
    col = {name: columns.index(name) for name in ("email", "name", "status") if name in columns}
    col["width"] = len(columns)
    return col


def _row(line: int, record: list[str], col: dict[str, int], default_status: str) -> ImportRow | str:
    """An ImportRow, or the reason the record is skipped."""
    if len(record) != col["width"]:
        return f"expected {col['width']} fields, found {len(record)}"
    raw = record[col["email"]]
    try:
        email = normalise_email(raw)
    except InvalidAddress as exc:
        return f"invalid address {raw[:80]!r}: {exc}"
    status = record[col["status"]].strip().lower() if "status" in col else default_status
    status = status or default_status
    if status not in STATUSES:
        return f"status {status[:40]!r} must be one of {', '.join(STATUSES)}"
    name = clean_display_name(record[col["name"]]) if "name" in col else ""
    return ImportRow(line, email, name, status)


def iter_csv(path: Path, problems: list[str], default_status: str = "confirmed") -> Iterator[ImportRow]:
    """Rows to import, streamed; each skipped record appends `line N: reason` to problems.

    Needs a header with an `email` column (checked now, before any row is read). Blank lines are
    ignored. The file is never held in memory.
    """
    csv.field_size_limit(MAX_FIELD)
    fh = _open(path)
    try:
        reader = csv.reader(fh)
        col = _columns(path, reader)
    except BaseException:
        fh.close()
        raise
    return _records(fh, reader, col, problems, default_status)


def _records(fh, reader, col: dict[str, int], problems: list[str], default_status: str) -> Iterator[ImportRow]:
    with fh:
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problems.append(f"line {reader.line_num}: unreadable CSV ({exc}); check quotes and field sizes")
                continue
            if not any(cell.strip() for cell in record):
                continue
            result = _row(reader.line_num, record, col, default_status)
            if isinstance(result, str):
                problems.append(f"line {reader.line_num}: {result}")
            else:
                yield result


def read_csv(path: Path, default_status: str = "confirmed") -> tuple[list[ImportRow], list[str]]:
    """Every row at once (small files, tests); imports stream with iter_csv."""
    problems: list[str] = []
    rows = list(iter_csv(path, problems, default_status))
    return rows, problems


def _merged(rows: Iterable[ImportRow], problems: list[str]) -> Iterator[ImportRow]:
    seen: dict[str, int] = {}
    for row in rows:
        first = seen.setdefault(row.email, row.line)
        if first != row.line:
            problems.append(f"line {row.line}: duplicate of line {first} ({row.email}); merged")
            continue
        yield row


def _batches(rows: Iterable[ImportRow], size: int) -> Iterator[list[ImportRow]]:
    batch: list[ImportRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _line_of(problem: str) -> int:
    try:
        return int(problem.split(":", 1)[0].split()[1])
    except (IndexError, ValueError):
        return 0


def import_rows(factory: sessionmaker[Session], list_id: int, rows: Iterable[ImportRow], problems: list[str],
                source: str, batch_size: int = BATCH_SIZE) -> ImportReport:
    """Each batch commits on its own: a failure leaves earlier batches in and this one out.

    Running the same import again is harmless: nothing is added twice, and nobody who left is re-added.
    """
    report = ImportReport(problems=problems)
    for batch in _batches(_merged(rows, report.problems), batch_size):
        with transaction(factory) as session:
            counts = import_batch(session, list_id, batch, source, report.problems)
        report.added += counts[0]
        report.updated += counts[1]
        report.unchanged += counts[2]
    report.problems.sort(key=_line_of)
    return report
