"""`mailer subscribers import` on the CSV files spreadsheets write: semicolons and BOMs from Excel,
tabs, UTF-16 "Unicode text", Windows-1252 bytes, a quote left open, extra columns. Run as an
operator
runs it: the CLI in a subprocess, on SQLite and PostgreSQL with the Alembic schema."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.store.models import Subscriber, Subscription
from tests.conftest import DB_KINDS, REPO, SECRET

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)

PEOPLE = [
    ("ada@example.com", "Ada Lovelace", "confirmed"),
    ("zoe@example.org", "Zoë Ñúñez", "pending"),
    ("grace@example.net", "Hopper, Grace", "confirmed"),
]


def run_import(engine, database_url, path: Path, *options: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "MAILER_SECRET_KEY": SECRET,
            "MAILER_LISTS_DIR": str(REPO / "lists"),
        }
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mailer",
            "subscribers",
            "import",
            str(path),
            "--list",
            "ai-morning-post",
            *options,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,
    )


def stored(factory) -> dict[str, tuple[str, str]]:
    with factory() as session:
        rows = session.execute(
            select(Subscriber.email, Subscriber.name, Subscription.status).join(
                Subscription, Subscription.subscriber_id == Subscriber.id
            )
        ).all()
    return {email: (name, status) for email, name, status in rows}


def expected(people=PEOPLE) -> dict[str, tuple[str, str]]:
    return {email: (name, status) for email, name, status in people}


def table(delimiter: str, people=PEOPLE, header=("email", "name", "status")) -> str:
    def cell(value: str) -> str:
        return f'"{value}"' if delimiter in value or '"' in value else value

    rows = [delimiter.join(header)] + [delimiter.join(cell(v) for v in person) for person in people]
    return "\r\n".join(rows) + "\r\n"


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_semicolon_excel_export_with_a_bom(engine, database_url, factory, tmp_path):
    """Excel in a locale with a decimal comma saves "CSV UTF-8" with ';' and a UTF-8 BOM."""
    path = tmp_path / "excel.csv"
    path.write_bytes(codecs.BOM_UTF8 + table(";").encode("utf-8"))
    result = run_import(engine, database_url, path)
    assert result.returncode == 0, result.stderr
    assert "3 added, 0 updated, 0 unchanged, 0 skipped" in result.stdout
    assert stored(factory) == expected()


def test_tab_separated(engine, database_url, factory, tmp_path):
    path = tmp_path / "people.tsv"
    path.write_text(table("\t"), encoding="utf-8")
    result = run_import(engine, database_url, path)
    assert result.returncode == 0, result.stderr
    assert stored(factory) == expected()


@pytest.mark.parametrize(
    "codec,bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)]
)
def test_utf16_unicode_text_with_a_bom(engine, database_url, factory, tmp_path, codec, bom):
    """Excel's "Unicode text" is UTF-16LE with a BOM and tabs."""
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + table("\t").encode(codec))
    result = run_import(engine, database_url, path)
    assert result.returncode == 0, result.stderr
    assert stored(factory) == expected()


def cp1252_file(path: Path) -> None:
    lines = ["email,name,status"] + [f"p{i}@example.com,Person {i},confirmed" for i in range(2, 7)]
    lines.append("francois@example.com,François Müller,confirmed")  # line 7
    lines += [f"q{i}@example.com,Q {i},pending" for i in range(8, 11)]
    path.write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")


def test_a_cp1252_byte_is_an_error_naming_its_line_and_the_option(
    engine, database_url, factory, tmp_path
):
    path = tmp_path / "windows.csv"
    cp1252_file(path)
    result = run_import(engine, database_url, path)
    assert result.returncode == 1
    message = one_line(result.stderr)
    assert f"{path}:7:" in message and "UTF-8" in message and "0xE7" in message
    assert "--encoding cp1252" in message
    assert stored(factory) == {}  # nothing imported


def test_with_encoding_cp1252_the_same_file_imports(engine, database_url, factory, tmp_path):
    path = tmp_path / "windows.csv"
    cp1252_file(path)
    result = run_import(engine, database_url, path, "--encoding", "cp1252")
    assert result.returncode == 0, result.stderr
    assert "9 added" in result.stdout
    assert stored(factory)["francois@example.com"] == ("François Müller", "confirmed")


def test_an_unknown_encoding_is_one_line(engine, database_url, factory, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(table(","), encoding="utf-8")
    result = run_import(engine, database_url, path, "--encoding", "klingon")
    assert result.returncode != 0
    assert "--encoding" in one_line(result.stderr) and "klingon" in result.stderr


def test_an_unterminated_quote_is_reported_where_it_opens(engine, database_url, factory, tmp_path):
    path = tmp_path / "quote.csv"
    lines = ["email,status,name"] + [f"p{i}@example.com,confirmed,Person {i}" for i in range(2, 4)]
    lines.append('dave@example.com,confirmed,"Dave, the one with the open quote')  # line 4
    lines += [f"p{i}@example.com,confirmed,Person {i}" for i in range(5, 11)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_import(engine, database_url, path)
    assert result.returncode == 0, result.stderr
    problems = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(problems) == 1, result.stderr
    assert (
        problems[0].startswith(f"{path}: line 4:")
        and "quote" in problems[0]
        and "10" in problems[0]
    )
    assert set(stored(factory)) == {"p2@example.com", "p3@example.com"}  # nothing from lines 4-10
    assert "2 added" in result.stdout and "1 skipped" in result.stdout


def test_unknown_columns_are_listed_in_one_warning(engine, database_url, factory, tmp_path):
    path = tmp_path / "crm.csv"
    people = [(e, n, s, "+44 20 7946 0000", "London") for e, n, s in PEOPLE]
    path.write_text(
        table(",", people, ("Email", "Name", "Status", "Phone", "City")), encoding="utf-8"
    )
    result = run_import(engine, database_url, path)
    assert result.returncode == 0, result.stderr
    warning = one_line(result.stderr)
    assert (
        warning.startswith(f"{path}:1:")
        and "'phone'" in warning.lower()
        and "'city'" in warning.lower()
    )
    assert stored(factory) == expected()


def test_strict_exits_1_when_a_row_was_skipped_and_says_what_was_imported(
    engine, database_url, factory, tmp_path
):
    path = tmp_path / "people.csv"
    people = PEOPLE + [("not-an-address", "Nobody", "confirmed")]
    path.write_text(table(",", people), encoding="utf-8")
    result = run_import(engine, database_url, path, "--strict")
    assert result.returncode == 1
    assert f"{path}: line 5: invalid address" in result.stderr
    assert "3 added, 0 updated, 0 unchanged, 1 skipped" in result.stdout
    assert "--strict" in result.stderr and "Traceback" not in result.stderr
    assert stored(factory) == expected()
    clean = tmp_path / "clean.csv"
    clean.write_text(table(",", PEOPLE), encoding="utf-8")
    again = run_import(engine, database_url, clean, "--strict")
    assert again.returncode == 0, again.stderr


def test_a_single_column_file_and_semicolons_inside_names(engine, database_url, factory, tmp_path):
    """Nothing for the sniffer to find in one column; `;` inside quoted names must not win over
    `,`."""
    single = tmp_path / "single.csv"
    single.write_text("email\nada@example.com\nzoe@example.org\n", encoding="utf-8")
    assert run_import(engine, database_url, single).returncode == 0
    tricky = tmp_path / "tricky.csv"
    people = [(f"p{i}@example.com", f"Doe; Jane; {i}", "confirmed") for i in range(5)]
    tricky.write_text(table(",", people), encoding="utf-8")
    result = run_import(engine, database_url, tricky)
    assert result.returncode == 0, result.stderr
    assert "5 added" in result.stdout and "0 skipped" in result.stdout
    assert stored(factory)["p3@example.com"] == ("Doe; Jane; 3", "confirmed")


def test_the_worker_process_reads_the_same_dialect(engine, database_url, factory, tmp_path):
    """Files over 4 MB are parsed in a worker process: it must get the encoding and delimiter
    found."""
    from mailer.audience.importing.importer import import_rows, iter_csv
    from mailer.audience.lists import ensure_list
    from mailer.content.lists import load_list
    from mailer.store.db import transaction

    path = tmp_path / "unicode.txt"
    people = [(f"p{i}@example.com", f"Zoë {i}", "confirmed") for i in range(500)]
    path.write_bytes(codecs.BOM_UTF16_LE + table("\t", people).encode("utf-16-le"))
    with transaction(factory) as session:
        list_id = ensure_list(session, load_list(REPO / "lists", "ai-morning-post"))
    problems: list[str] = []
    report = import_rows(
        factory, list_id, iter_csv(path, problems), problems, path.name, parse_in_process=True
    )
    assert (report.added, report.problems) == (500, [])
    assert stored(factory)["p499@example.com"] == ("Zoë 499", "confirmed")
