"""Imports of hostile CSV files: 10,000 fuzzed rows in two encodings; every bad row reported by
line."""

from __future__ import annotations

import random
import string

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from mailer.addresses import fast_normalise, normalise_email
from mailer.audience.importing.importer import MAX_FIELD, import_rows, iter_csv
from mailer.audience.lists import ensure_list
from mailer.content.lists import load_list
from mailer.store.db import transaction
from mailer.store.models import Subscriber, Subscription
from tests.conftest import DB_KINDS, REPO

GOOD = [
    lambda i, r: (f"person.{i}@Example.COM", f"person.{i}@example.com"),
    lambda i, r: (f"  padded{i}@example.org  ", f"padded{i}@example.org"),
    lambda i, r: (f"o'brien+{i}@mail.example.net", f"o'brien+{i}@mail.example.net"),
    lambda i, r: (f"idn{i}@bücher.example", f"idn{i}@xn--bcher-kva.example"),
    lambda i, r: (f"UPPER{i}@EXAMPLE.IO", f"UPPER{i}@example.io"),
]
BAD = [
    lambda i, r: f"no-at-sign-{i}",
    lambda i, r: f"two@@ats{i}.example.com",
    lambda i, r: f"dot..dot{i}@example.com",
    lambda i, r: f"space in{i}@example.com",
    lambda i, r: f"x{i}@localhost",
    lambda i, r: f"x{i}@example.test",
    lambda i, r: f"x{i}@example..com",
    lambda i, r: f"trailing.{i}.@example.com",
    lambda i, r: f"x{i}@-bad-.example.com",
]
NAMES = ["plain", '"Quoted, with comma"', '"She said ""hi"""', "Zoë Ñúñez", "=cmd|calc", ""]


def fuzz_file(path, encoding: str, rows: int, seed: int):
    """Write the file; return (expected normalised addresses, lines that must be reported)."""
    rnd = random.Random(seed)
    lines, expected, bad_lines, seen = ["email,name,status"], set(), set(), {}
    for i in range(rows):
        roll = rnd.random()
        line_no = len(lines) + 1
        if roll < 0.04:
            lines.append("")  # blank lines are skipped silently
            continue
        name = rnd.choice(NAMES)
        if encoding == "latin-1":
            name = name.replace("ë", "e") if "Ñ" not in name else name
        if roll < 0.20:
            lines.append(f"{rnd.choice(BAD)(i, rnd)},{name},confirmed")
            bad_lines.add(line_no)
        elif roll < 0.22:
            lines.append(f"huge{i}@example.com,{'x' * (MAX_FIELD + 10)},confirmed")
            bad_lines.add(line_no)
        elif roll < 0.24:
            lines.append(
                f"big{i}@example.com,{'y' * 100_000},confirmed"
            )  # huge but within the limit
            expected.add(f"big{i}@example.com")
        elif roll < 0.26:
            lines.append(f"status{i}@example.com,{name},maybe")
            bad_lines.add(line_no)
        elif roll < 0.28:
            lines.append(f"fields{i}@example.com,a,b,c")
            bad_lines.add(line_no)
        elif roll < 0.31 and seen:
            lines.append(
                f"{rnd.choice(list(seen))},{name},confirmed"
            )  # a duplicate: merged and reported
            bad_lines.add(line_no)
        else:
            raw, normal = rnd.choice(GOOD)(i, rnd)
            if encoding == "latin-1" and "ü" in raw:
                raw, normal = (
                    raw.replace("bücher", "bucher"),
                    normal.replace("xn--bcher-kva", "bucher"),
                )
            lines.append(f"{raw},{name},confirmed")
            expected.add(normal)
            seen[raw.strip()] = line_no
    text = "\n".join(lines) + "\n"
    if encoding == "utf-8":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    else:
        path.write_bytes(text.encode("latin-1"))
    return expected, bad_lines


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_fuzzed_csv_imports_valid_rows_and_reports_every_bad_one(factory, tmp_path, encoding):
    path = tmp_path / "fuzz.csv"
    expected, bad_lines = fuzz_file(path, encoding, 10_000, seed=len(encoding))
    with transaction(factory) as session:
        list_id = ensure_list(session, load_list(REPO / "lists", "ai-morning-post"))
    problems: list[str] = []
    encoding = (
        None if encoding == "utf-8" else encoding
    )  # UTF-8 is found on its own; latin-1 is said
    report = import_rows(
        factory,
        list_id,
        iter_csv(path, problems, encoding=encoding),
        problems,
        "fuzz.csv",
        batch_size=1500,
    )
    reported = {int(p.split(":")[0].split()[1]) for p in report.problems}
    assert reported == bad_lines
    assert report.added == len(expected)
    with factory() as session:
        stored = set(session.scalars(select(Subscriber.email)))
        assert session.scalar(select(func.max(func.length(Subscriber.name)))) <= 200
    assert stored == expected
    again_problems: list[str] = []
    again = import_rows(
        factory,
        list_id,
        iter_csv(path, again_problems, encoding=encoding),
        again_problems,
        "fuzz.csv",
    )
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(expected))
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == len(expected)


def test_fast_address_path_agrees_with_email_validator():
    rnd = random.Random(7)
    alphabet = string.ascii_letters + string.digits + ".-_+'@!#~é" + "--"
    accepted = 0
    for _ in range(20_000):
        local = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 12)))
        domain = ".".join(
            "".join(
                rnd.choice(string.ascii_letters + string.digits + "-")
                for _ in range(rnd.randint(1, 8))
            )
            for _ in range(rnd.randint(1, 3))
        )
        candidate = f"{local}@{domain}"
        fast = fast_normalise(candidate)
        if fast is None:
            continue
        accepted += 1
        try:
            result = validate_email(candidate, check_deliverability=False)
        except EmailNotValidError as exc:
            pytest.fail(f"fast path accepted {candidate!r}, email-validator says {exc}")
        assert fast == f"{result.local_part}@{result.ascii_domain.lower()}"
    assert accepted > 1000


def test_common_addresses_take_the_fast_path():
    for raw, normal in [
        ("Reader.1+tag@Mail.Example.COM", "Reader.1+tag@mail.example.com"),
        ("o'brien_x-y@sub-1.example.co.uk", "o'brien_x-y@sub-1.example.co.uk"),
    ]:
        assert fast_normalise(raw) == normal == normalise_email(raw)
    assert (
        fast_normalise("idn@bücher.example") is None
        and fast_normalise("x@xn--bcher-kva.example") is None
    )
