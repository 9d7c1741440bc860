"""How a subscriber CSV file is written: its text encoding and its delimiter, found before any row
is read.

Spreadsheets write more than one kind of "CSV": Excel saves "CSV UTF-8" with a BOM, and with `;`
wherever the decimal separator is a comma; "Unicode text" is UTF-16LE with a BOM and tabs; older
Windows programs write Windows-1252. Without a BOM the file must be valid UTF-8: guessing another
encoding from one bad byte would turn every other non-ASCII name into something else without a word,
so the error names the first bad line and the option that says what the file is.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

from mailer.errors import ImportFileError

DELIMITERS = ",;\t"
SNIFF_CHARS = (
    16 * 1024
)  # whole lines from the start of the file; enough for the sniffer, quick to scan
CHUNK = 1 << 20


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # a codec name for open()
    delimiter: str
    # Only UTF-8 is checked before reading; elsewhere a byte the codec leaves undefined (five in
    # Windows-1252, an unpaired surrogate in UTF-16) becomes U+FFFD and the row's checks decide.
    errors: str = "replace"

    def open(self, path: Path):
        return open(path, encoding=self.encoding, errors=self.errors, newline="")


def detect_format(
    path: Path, encoding: str | None = None, email_columns: tuple[str, ...] = ("email",)
) -> CsvFormat:
    """The file's format; `encoding` (the --encoding option) overrides what the file's start
    says. `email_columns`: the header names of the address column (a service export's)."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    codec = _forced(encoding) if encoding else _encoding(path)
    return CsvFormat(codec, _delimiter(path, codec, email_columns))


def _forced(encoding: str) -> str:
    try:
        info = codecs.lookup(encoding)
        if not getattr(
            info, "_is_text_encoding", True
        ):  # rot13, base64...: codecs, not text encodings
            raise LookupError(encoding)
    except LookupError:
        raise ImportFileError(
            f"--encoding {encoding!r} is not an encoding Python knows; "
            "use e.g. utf-8, cp1252 (Excel on Windows), latin-1 or utf-16"
        ) from None
    return (
        "utf-8-sig" if info.name == "utf-8" else info.name
    )  # a BOM is not part of the header's first name


def _encoding(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads the BOM, takes the byte order from it and drops it
    check_utf8(path)
    return "utf-8-sig"  # drops a UTF-8 BOM when there is one


def check_utf8(path: Path) -> None:
    """ImportFileError naming the line and byte of the first invalid UTF-8 sequence. Read in
    chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line, line_start = (
        0,
        1,
        0,
    )  # of the chunk's first byte: file offset, line, its line's offset
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            pending = decoder.getstate()[0]  # the start of a sequence the previous chunk cut in two
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data, base = pending + chunk, offset - len(pending)
                newline = data.rfind(b"\n", 0, exc.start)
                bad_line = line + data.count(b"\n", 0, exc.start)
                column = base + exc.start - (base + newline + 1 if newline >= 0 else line_start) + 1
                raise ImportFileError(
                    f"{path}:{bad_line}: not UTF-8 (byte 0x{data[exc.start]:02X} at byte {column} "
                    "of the line); "
                    "if the file comes from Excel or another Windows program, import it with "
                    "--encoding cp1252"
                ) from None
            if not chunk:
                return
            newlines = chunk.count(b"\n")
            if newlines:
                line += newlines
                line_start = offset + chunk.rfind(b"\n") + 1
            offset += len(chunk)


def _delimiter(path: Path, codec: str, email_columns: tuple[str, ...]) -> str:
    """`,` `;` or tab: csv.Sniffer on the first lines, kept when it splits the header into a list
    with an address column (`email`, or a service's name for it); else the one of the three that
    does so and appears most in the header; else `,`."""
    with open(path, encoding=codec, errors="replace", newline="") as fh:
        sample = fh.read(SNIFF_CHARS)
    if len(sample) == SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # whole lines only
    header = sample.splitlines()[0] if sample else ""
    try:
        sniffed = [csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter]
    except csv.Error:  # one column, or nothing it can tell from
        sniffed = []
    for delimiter in sniffed + sorted(DELIMITERS, key=header.count, reverse=True):
        cells = {cell.strip().strip('"').strip().lower() for cell in header.split(delimiter)}
        if not cells.isdisjoint(email_columns):
            return delimiter
    return ","
