"""Reading another service's export through its profile (profiles.py): the rows as the importer
takes them, (line, email, name, status, RowExtra), with what our three columns cannot hold
(ARCHITECTURE.md, "Where things live": CSV imports).

The export's own format stops here: past this module a row is our status, an optional suppression
reason, a creation date and a dict of attributes.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailer.addresses import InvalidAddress, clean_display_name, normalise_email
from mailer.audience.importing.dialect import CsvFormat
from mailer.audience.importing.profiles import (
    STATUS_OF,
    SUPPRESSION_OF,
    Outcome,
    Profile,
    StatusColumn,
)
from mailer.errors import ImportFileError


@dataclass(frozen=True)
class RowExtra:
    """What a profile row carries beyond (line, email, name, status)."""

    reason: str  # why this status, for the consent ledger: "email_disabled=true", "cleaned"
    suppression: str | None = None  # a SuppressionReason for bounced and complained rows
    created: dt.datetime | None = None
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """Where a profile's columns are in this file's header."""

    email: int
    name: tuple[int, ...]
    created: int | None
    created_header: str  # its name in this file's header ("" without one)
    statuses: tuple[tuple[StatusColumn, str, int], ...]  # (column, header name, position)
    fixed: tuple[Outcome, str] | None  # a header rule that decides every row
    default: tuple[Outcome, str]  # when no rule applies
    attributes: tuple[tuple[str, str, int], ...]  # (key, kind, position)
    width: int


def _find(columns: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in columns:
            return columns.index(name)
    return None


def layout(path: Path, profile: Profile, header: list[str]) -> Layout:
    """The profile's columns in this header; ImportFileError when the address or a required status
    column is missing (the file is then not that service's export, or not all of it)."""
    columns = [cell.strip().lower() for cell in header]
    email = _find(columns, profile.email)
    if email is None:
        raise ImportFileError(
            f"{path}:1: no {profile.email[0]!r} column in the header; a {profile.title} export "
            f"has one: check that the file is the {profile.title} export (--from {profile.service})"
        )
    fixed = next((rule for col, rule in profile.by_header.items() if col in columns), None)
    statuses = []
    for status in profile.statuses:
        at = _find(columns, status.names)
        if at is None and status.required and fixed is None:
            raise ImportFileError(
                f"{path}:1: no {status.names[0]!r} column in the header; a {profile.title} export "
                "has one and without it mailer cannot tell who opted out: export the file again "
                "with that column"
            )
        if at is not None:
            statuses.append((status, columns[at], at))
    found = [(part, _find(columns, part)) for part in profile.name]
    return Layout(
        email=email,
        name=tuple(at for _, at in found if at is not None),
        created=(created := _find(columns, profile.created)),
        created_header=columns[created] if created is not None else "",
        statuses=tuple(statuses),
        fixed=fixed,
        default=(profile.default, profile.default_reason),
        attributes=tuple(
            (a.key, a.kind, at)
            for a in profile.attributes
            if (at := _find(columns, a.names)) is not None
        ),
        width=len(columns),
    )


def parse_date(raw: str) -> dt.datetime | None:
    """A creation date as the services write them: ISO 8601 with or without a zone or "Z",
    "2024-03-01 08:15:00", "... UTC", a bare date, or Unix seconds. Times without a zone are UTC
    (Mailchimp's and Kit's are). None when it is none of these."""
    text = raw.strip()
    if not text:
        return None
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    text = text.removesuffix(" UTC").removesuffix(" +0000")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _attribute(kind: str, raw: str):
    if kind == "list":
        return [tag.strip().strip('"').strip() for tag in raw.split(",") if tag.strip().strip('"')]
    if kind == "bool":
        return raw.strip().lower() in ("true", "t", "yes", "1")
    return raw.strip()


def _outcome(record: list[str], shape: Layout) -> tuple[Outcome, str] | str:
    """(outcome, reason), or why the row is skipped: of every rule that applies, the highest
    outcome wins (opted out beats subscribed, complained beats opted out)."""
    found = [shape.fixed] if shape.fixed else []
    for status, header, at in shape.statuses:
        value = record[at].strip().lower()
        outcome = status.values.get(value)
        if outcome is None:
            known = ", ".join(sorted(v for v in status.values if v))
            shown = record[at].strip()[:40]
            return f"{header} {shown!r} is not a value mailer knows ({known}); skipped"
        found.append((outcome, f"{header}={value or 'empty'}"))
    return max(found, key=lambda pair: pair[0]) if found else shape.default


# The end of a problem line whose row was imported all the same (not counted as skipped).
IMPORTED_ANYWAY = "; imported, dated today"


def _created(line: int, raw: str, header: str, problems: list[str]) -> dt.datetime | None:
    """The row's creation date; one that cannot be read is a problem line, and the row is still
    imported (dated now): dropping it would drop its status, perhaps an opt-out."""
    created = parse_date(raw)
    if created is None and raw.strip():
        problems.append(
            f"line {line}: {header} {raw.strip()[:40]!r} is not a date mailer reads (ISO 8601 "
            f"like 2024-03-01T08:15:00Z, or Unix seconds){IMPORTED_ANYWAY}"
        )
    return created


def _row(line: int, record: list[str], shape: Layout, problems: list[str]) -> tuple | str:
    if len(record) != shape.width:
        return f"expected {shape.width} fields, found {len(record)}"
    raw = record[shape.email]
    try:
        email = normalise_email(raw)
    except InvalidAddress as exc:
        return f"invalid address {raw[:80]!r}: {exc}"
    decided = _outcome(record, shape)
    if isinstance(decided, str):
        return decided
    outcome, reason = decided
    name = clean_display_name(" ".join(p for at in shape.name if (p := record[at].strip())))
    created = (
        _created(line, record[shape.created], shape.created_header, problems)
        if shape.created is not None
        else None
    )
    attributes = {
        key: _attribute(kind, record[at])
        for key, kind, at in shape.attributes
        if record[at].strip()
    }
    extra = RowExtra(reason, SUPPRESSION_OF.get(outcome), created, attributes)
    return (line, email, name, STATUS_OF[outcome].value, extra)


def iter_profile(
    path: Path, profile: Profile, fmt: CsvFormat, problems: list[str]
) -> Iterator[tuple]:
    """The rows of a service export, streamed; a skipped record appends `line N: reason`."""
    with fmt.open(path) as fh:
        reader = csv.reader(fh, delimiter=fmt.delimiter, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ImportFileError(
                f"{path}:1: the header line is not readable CSV ({exc})"
            ) from None
        if header is None:
            raise ImportFileError(f"{path}: the file is empty; expected a {profile.title} export")
        shape = layout(path, profile, header)
        while True:
            try:
                for record in reader:
                    if not "".join(record).strip():
                        continue
                    result = _row(reader.line_num, record, shape, problems)
                    if isinstance(result, str):
                        problems.append(f"line {reader.line_num}: {result}")
                    else:
                        yield result
                return
            except csv.Error as exc:
                problems.append(f"line {reader.line_num}: unreadable CSV ({exc}); check its quotes")
