"""Subscriptions as CSV (`mailer subscribers export`): one row per subscription, cells escaped so
that a spreadsheet does not run them as formulas."""

from __future__ import annotations

import csv
from typing import IO

from sqlalchemy.orm import Session, sessionmaker

from mailer.audience.lifecycle import EXPORT_COLUMNS, export_rows

LINE_END = "\r\n"  # RFC 4180, what spreadsheets expect


def write_export(
    factory: sessionmaker[Session], handle: IO[str], list_slug: str | None = None
) -> int:
    """The header and every subscription (of `list_slug`, or of every list) written to `handle`;
    how many subscriptions were written."""
    writer = csv.writer(handle, lineterminator=LINE_END)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    with factory() as session:
        for row in export_rows(session, list_slug):
            writer.writerow(row)
            count += 1
    return count
