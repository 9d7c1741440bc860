"""Subscriber imports from CSV: validated, normalised, merged, all-or-nothing per batch,
repeatable."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from mailer.addresses import InvalidAddress, clean_display_name, fast_normalise, normalise_email
from mailer.audience.importing.batch import import_batch
from mailer.audience.importing.dialect import CsvFormat, detect_format
from mailer.audience.importing.mapped import IMPORTED_ANYWAY, iter_profile
from mailer.audience.importing.prep import PreparedBatch, known_salt, prepare
from mailer.audience.importing.profiles import CSV, EVERY_EMAIL_COLUMN, PROFILES, looks_like
from mailer.audience.importing.reader import in_background, in_process
from mailer.audience.importing.tuning import import_connection
from mailer.audience.lists import ensure_list
from mailer.content.lists import ListDefinition
from mailer.errors import ImportFileError
from mailer.store.models import SubscriptionStatus, SuppressionReason

STATUSES = (
    SubscriptionStatus.CONFIRMED,
    SubscriptionStatus.PENDING,
    SubscriptionStatus.UNSUBSCRIBED,
)
# Rows per transaction. Each commit rewrites every page of the email index that the batch touched,
# and
# with addresses in random order that is most of them: fewer, bigger batches write less.
BATCH_SIZE = 100_000
FIRST_BATCH = 5_000
MAX_FIELD = 1_000_000  # bytes in one cell before the csv module gives up; the row is then reported
# From this size on a file is parsed in a worker process (about 70,000 rows of 60 bytes);
# below it, starting the process costs more than it saves.
PROCESS_MIN_BYTES = 4 << 20


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
    # Rows added or changed by outcome and reason: "confirmed",
    # "unsubscribed (email_disabled=true)",
    # "suppressed as complaint (state=complained)".
    tally: Counter = field(default_factory=Counter)
    dry_run: bool = False

    def by_reason(self) -> list[str]:
        """One line per outcome and reason, most rows first."""
        return [f"{key}: {count}" for key, count in self.tally.most_common()]

    @property
    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped"
        )

    @property
    def skipped(self) -> int:
        return sum(1 for line in self.problems if not line.endswith(IMPORTED_ANYWAY))


COLUMNS = ("email", "name", "status")


def _columns(path: Path, reader, warnings: list[str]) -> dict[str, int]:
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(
            f"{path}:1: the header line is not readable CSV ({exc}); check its quotes"
        ) from None
    if header is None:
        raise ImportFileError(
            f"{path}: the file is empty; expected a header line like 'email,name,status'"
        )
    columns = [h.strip().lower() for h in header]
    if "email" not in columns:
        raise ImportFileError(f"{path}:1: no 'email' column in the header {header!r}; add one")
    col = {name: columns.index(name) for name in COLUMNS if name in columns}
    col["width"] = len(columns)
    unknown = [h.strip() for h in header if h.strip() and h.strip().lower() not in COLUMNS]
    if unknown:
        warnings.append(
            f"{path}:1: ignoring unknown column(s) {', '.join(map(repr, unknown))}; "
            "only email, name and status are read"
        )
    return col


def _row(line: int, record: list[str], col: dict[str, int], default_status: str) -> ImportRow | str:
    """An ImportRow, or the reason the record is skipped (the general path; _records tries a quick
    one)."""
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


class CsvRows:
    """The rows of a CSV file, iterated once (what iter_csv returns). import_rows may instead close
    it and parse the file in a worker process, which gives the same rows and problems."""

    def __init__(
        self,
        path: Path,
        problems: list[str],
        default_status: str,
        encoding: str | None = None,
        fmt: CsvFormat | None = None,
    ) -> None:
        csv.field_size_limit(MAX_FIELD)
        self.path, self.problems, self.default_status = path, problems, default_status
        self.format = fmt or detect_format(path, encoding)
        self.warnings: list[str] = []  # about the file as a whole (unknown columns), not a row
        fh = self.format.open(path)
        try:
            # strict: a quote left open is an error at the end of the file (reported where it
            # opened)
            # instead of a last field that silently swallowed every line after it.
            reader = csv.reader(fh, delimiter=self.format.delimiter, strict=True)
            col = _columns(path, reader, self.warnings)
        except BaseException:
            fh.close()
            raise
        self.size = path.stat().st_size
        self._rows = _records(fh, reader, col, problems, default_status)

    def __iter__(self) -> Iterator[tuple]:
        return self._rows

    def __next__(self) -> tuple:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()


def iter_csv(
    path: Path,
    problems: list[str],
    default_status: str = "confirmed",
    *,
    encoding: str | None = None,
    fmt: CsvFormat | None = None,
) -> CsvRows:
    """Rows to import as (line, email, name, status) tuples (the fields of ImportRow), streamed;
    each skipped record appends `line N: reason` to problems.

    Needs a header with an `email` column (checked now, before any row is read), and UTF-8 (or
    UTF-16 with a BOM) unless `encoding` says otherwise; the delimiter is `,` `;` or tab
    (csv_format). Blank lines are ignored. The file is never held in memory.
    """
    return CsvRows(path, problems, default_status, encoding, fmt)


def _records(
    fh, reader, col: dict[str, int], problems: list[str], default_status: str
) -> Iterator[tuple]:
    ended = [
        reader.line_num
    ]  # the line the last record read ended on: the next one starts after it
    with fh:
        while True:
            try:
                yield from _parsed(reader, col, problems, default_status, ended)
                return
            except csv.Error as exc:  # the reader carries on with the next record
                problems.append(_unreadable(ended[0] + 1, reader.line_num, exc))
                ended[0] = reader.line_num


def _unreadable(start: int, end: int, exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):  # the file ended inside a quoted field
        span = (
            f"lines {start}-{end} were read as one field and skipped" if end > start else "skipped"
        )
        return (
            f"line {start}: a quoted field opens on this line and is never closed ({span}); "
            "close the quote and import again"
        )
    return f"line {start}: unreadable CSV ({exc}); check quotes and field sizes"


def _parsed(
    reader, col: dict[str, int], problems: list[str], default_status: str, ended: list[int]
) -> Iterator[tuple]:
    """The quick path takes well-formed rows with a plain ASCII address and an exact status word
    (most rows, at a few microseconds each); every other record goes through _row, which decides the
    same. `ended[0]` is kept at the line the previous record ended on, for errors the reader raises.
    """
    width, email_at, name_at, status_at = (
        col["width"],
        col["email"],
        col.get("name"),
        col.get("status"),
    )
    statuses = {s: s for s in STATUSES}
    if default_status in STATUSES:
        statuses[""] = default_status
    quick_email, clean_name = fast_normalise, clean_display_name
    for record in reader:
        ended[0] = reader.line_num
        if len(record) == width:
            email = quick_email(record[email_at].strip())
            status = statuses.get("" if status_at is None else record[status_at])
            if email is not None and status is not None:
                yield (
                    reader.line_num,
                    email,
                    "" if name_at is None else clean_name(record[name_at]),
                    status,
                )
                continue
        if not "".join(record).strip():  # blank, or only separators and spaces
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


# The safer of two rows for one address: opted out beats subscribed (pending or confirmed: of
# those the first line stays), and a suppression (complaint over bounce) beats none. A file that
# says both "subscribed" and "opted out" for one person is applied as opted out, whichever line
# comes first.
_STATUS_RANK = {
    SubscriptionStatus.CONFIRMED: 0,
    SubscriptionStatus.PENDING: 0,
    SubscriptionStatus.UNSUBSCRIBED: 1,
}
_SUPPRESSION_RANK = {None: 0, SuppressionReason.HARD_BOUNCE: 1, SuppressionReason.COMPLAINT: 2}


def _safety(row: tuple) -> tuple[int, int]:
    suppression = row[4].suppression if len(row) > 4 else None
    return _STATUS_RANK[row[3]], _SUPPRESSION_RANK.get(suppression, 1)


def _merged_batches(rows: Iterable[tuple], problems: list[str], size: int) -> Iterator[list[tuple]]:
    """Batches of `size` rows, duplicates (the same address in any letter case) taken out: the first
    spelling's line stays, unless a later one is safer (an opt-out, a bounce: _safety), which then
    takes its place, or, when the first went in an earlier batch, is applied in this one (an import
    moves confirmed to unsubscribed, never back). The first batches are smaller (FIRST_BATCH,
    doubling up to `size`): the database waits for the first batch to be read, and should not wait
    long."""
    seen: dict[str, tuple] = {}  # email_key -> the row kept: Alan@Example.com repeats alan@...
    kept = seen.setdefault
    batch: dict[str, tuple] = {}
    limit = min(size, FIRST_BATCH)
    for row in rows:
        key = row[1].lower()  # addresses.email_key, inlined in this hot loop
        first = kept(key, row)
        if first is not row:
            safer = _safety(row) > _safety(first)
            problems.append(
                f"line {row[0]}: duplicate of line {first[0]} ({row[1]}); merged"
                + (f", this line's status {row[3]} kept" if safer else "")
            )
            if not safer:
                continue
            # The opt-out wins, with the first line's spelling of the address; in this batch it
            # replaces the first row.
            row = seen[key] = (row[0], first[1], *row[2:])
        batch[key] = row
        if len(batch) >= limit:
            yield list(batch.values())
            batch = {}
            limit = min(size, limit * 2)
    if batch:
        yield list(batch.values())


def _prepared(
    rows: Iterable[tuple], problems: list[str], size: int, salt: str | None
) -> Iterator[PreparedBatch]:
    for batch in _merged_batches(rows, problems, size):
        yield prepare(batch, salt)


def _prepared_from_file(
    path: Path, default_status: str, size: int, salt: str | None, fmt: CsvFormat | None = None
) -> Iterator[tuple[PreparedBatch, list[str]]]:
    """In the worker process: (batch, problems found since the previous batch) until the file
    ends."""
    problems: list[str] = []
    reported = 0
    for batch in _prepared(iter_csv(path, problems, default_status, fmt=fmt), problems, size, salt):
        yield batch, problems[reported:]
        reported = len(problems)
    if reported < len(problems):
        yield PreparedBatch(0, "", "", "[]", None), problems[reported:]


def _line_of(problem: str) -> int:
    try:
        return int(problem.split(":", 1)[0].split()[1])
    except (IndexError, ValueError):
        return 0


def import_rows(
    factory: sessionmaker[Session],
    list_id: int | ListDefinition,
    rows: Iterable[tuple],
    problems: list[str],
    source: str,
    batch_size: int = BATCH_SIZE,
    parse_in_process: bool | None = None,
    *,
    service: str = CSV,
    dry_run: bool = False,
) -> ImportReport:
    """Import (line, email, name, status) rows, or the (..., extra) rows of a service export
    (mapped.py); each batch commits on its own: a failure leaves earlier batches in and this one
    out. `list_id` may be the list's definition: it is then created if new, in the import's
    transaction (a dry run creates nothing). `source` is the file's name, `service` the consent
    ledger's `import:<service>`. With `dry_run` everything is rolled back at the end.

    Running the same import again is harmless: nothing is added twice, and nobody who left is
    re-added. Rows from iter_csv are parsed in a worker process when parse_in_process is true, or is
    None and the file is big.
    """
    report = ImportReport(problems=problems, dry_run=dry_run)
    with factory() as session:
        salt = known_salt(session)  # lets the reader hash addresses for the suppression check
    if isinstance(rows, CsvRows) and (
        parse_in_process or (parse_in_process is None and rows.size >= PROCESS_MIN_BYTES)
    ):
        rows.close()
        batches = in_process(
            _prepared_from_file,
            (rows.path, rows.default_status, batch_size, salt, rows.format),
            rows.problems,
        )
    else:
        batches = in_background(_prepared(rows, report.problems, batch_size, salt))
    with import_connection(factory, dry_run) as batch_session:
        if isinstance(list_id, ListDefinition):
            with batch_session() as session:
                list_id = ensure_list(session, list_id)
        for batch in batches:
            if not len(batch):
                continue
            with batch_session() as session:
                added, updated, unchanged = import_batch(
                    session, list_id, batch, source, report.problems, service, report.tally
                )
            report.added += added
            report.updated += updated
            report.unchanged += unchanged
    report.problems.sort(key=_line_of)
    return report


def read_header(path: Path, fmt: CsvFormat) -> list[str]:
    """The file's first record (empty when the file is), for telling which export it is."""
    with fmt.open(path) as fh:
        try:
            return next(csv.reader(fh, delimiter=fmt.delimiter), [])
        except csv.Error:
            return []  # the reader that follows says what is wrong with it


def _refuse_lookalike(path: Path, fmt: CsvFormat) -> None:
    """No --from: a file that looks like a service's export is refused with the option to use.
    Read as our own layout, a Substack export would confirm the readers who turned its emails off
    and a Mailchimp one has no `email` column at all."""
    profile = looks_like(read_header(path, fmt))
    if profile is not None:
        raise ImportFileError(
            f"{path}:1: this header looks like a {profile.title} export; import it with "
            f"--from {profile.service}, which keeps who opted out, bounced or complained "
            "(or --from csv to read it as email,name,status anyway)"
        )


def import_file(
    factory: sessionmaker[Session],
    list_def: ListDefinition,
    path: Path,
    service: str | None = None,
    default_status: str | None = None,
    *,
    encoding: str | None = None,
    dry_run: bool = False,
    on_warning: Callable[[str], None] = lambda _warning: None,
) -> ImportReport:
    """`mailer subscribers import FILE [--from SERVICE] [--dry-run]`: the file into the list
    (created if new). `service` None is our CSV layout after checking the header is not another
    service's export; "csv" skips that check; a profile name reads the file through its table
    (profiles.py). `default_status` is for our layout only (a service's export says each row's)."""
    if service not in (None, CSV) and default_status is not None:
        raise ImportFileError(
            f"--status is for files in our own layout (--from csv); a {PROFILES[service].title} "
            "export says each row's status"
        )
    if service in (None, CSV):
        fmt = detect_format(path, encoding, EVERY_EMAIL_COLUMN)
        if service is None:
            _refuse_lookalike(path, fmt)
        return import_csv(
            factory,
            list_def,
            path,
            default_status or SubscriptionStatus.CONFIRMED,
            encoding=encoding,
            on_warning=on_warning,
            dry_run=dry_run,
            fmt=fmt,
        )
    profile = PROFILES[service]
    fmt = detect_format(path, encoding, profile.email)
    problems: list[str] = []
    rows = _started(iter_profile(path, profile, fmt, problems))
    return import_rows(
        factory, list_def, rows, problems, path.name, service=service, dry_run=dry_run
    )


def _started(rows: Iterator[tuple]) -> Iterator[tuple]:
    """The rows with the header already checked: a missing column is raised here, before the
    import starts its reader thread (an empty export yields nothing)."""
    first = next(rows, None)
    if first is None:
        return iter(())

    def chained() -> Iterator[tuple]:
        yield first
        yield from rows

    return chained()


def import_csv(
    factory: sessionmaker[Session],
    list_def: ListDefinition,
    path: Path,
    default_status: str = "confirmed",
    *,
    encoding: str | None = None,
    on_warning: Callable[[str], None] = lambda _warning: None,
    dry_run: bool = False,
    fmt: CsvFormat | None = None,
) -> ImportReport:
    """A CSV file in our own layout (email[,name][,status]) at `path` into the list (created if
    new). Warnings about the file as a whole go to `on_warning` before any row is imported; the rows
    skipped are the report's problems."""
    problems: list[str] = []
    rows = iter_csv(path, problems, default_status, encoding=encoding, fmt=fmt)
    for warning in rows.warnings:
        on_warning(warning)
    return import_rows(factory, list_def, rows, problems, source=path.name, dry_run=dry_run)
