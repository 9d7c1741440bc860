"""One person per address in any letter case, as an operator meets it: the CLI in a subprocess.

ALAN@EXAMPLE.COM, Alan@Example.com and alan@example.com are one mailbox at every provider people
use; they must be one subscriber, mailed once, erased once, suppressed once.
"""

from __future__ import annotations

import email
import email.policy
import sqlite3

import pytest

from tests.cli.test_cli import mailer, outbox_files

VARIANTS = (
    "email,name,status\n"
    "ALAN@EXAMPLE.COM,Alan,confirmed\n"
    "Alan@Example.com,Al,confirmed\n"
    "alan@example.com,,confirmed\n"
)


@pytest.fixture
def upgraded(workdir):
    assert mailer(workdir, "db", "upgrade").returncode == 0
    return workdir


def _import(folder, text: str, name: str = "people.csv"):
    (folder / name).write_text(text)
    return mailer(folder, "subscribers", "import", name, "--list", "ai-morning-post")


def _people(folder) -> list[tuple]:
    with sqlite3.connect(folder / "var" / "mailer.db") as db:
        return db.execute("SELECT email, name FROM subscribers WHERE email IS NOT NULL").fetchall()


def test_three_case_variants_in_one_file_are_one_person_mailed_once(upgraded):
    imported = _import(upgraded, VARIANTS)
    assert imported.returncode == 0, imported.stderr
    assert "1 added" in imported.stdout
    assert (
        "line 3: duplicate of line 2" in imported.stderr
        and "line 4: duplicate of line 2" in imported.stderr
    )
    assert _people(upgraded) == [
        ("ALAN@example.com", "Alan")
    ]  # as first given (domain lower-cased)
    sent = mailer(upgraded, "send", "--issue", "2026-11-21", "--yes")
    assert sent.returncode == 0, sent.stderr
    files = outbox_files(upgraded)
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "ALAN@example.com"


def test_case_variants_in_later_imports_are_the_same_person(upgraded):
    assert _import(upgraded, "email,name\nalan@example.com,Alan\n").returncode == 0
    again = _import(
        upgraded, "email,name\nALAN@EXAMPLE.COM,Shouting Alan\nAlan@Example.com,Al\n", "more.csv"
    )
    assert again.returncode == 0, again.stderr
    assert "0 added, 0 updated, 1 unchanged, 1 skipped" in again.stdout
    assert _people(upgraded) == [("alan@example.com", "Alan")]
    sent = mailer(upgraded, "send", "--issue", "2026-11-21", "--yes")
    assert sent.returncode == 0 and len(outbox_files(upgraded)) == 1


@pytest.mark.parametrize("spelling", ["alan@example.com", "ALAN@EXAMPLE.COM", "Alan@Example.Com"])
def test_show_finds_the_person_in_any_case(upgraded, spelling):
    assert _import(upgraded, "email,name\nAlan@Example.com,Alan\n").returncode == 0
    shown = mailer(upgraded, "subscribers", "show", spelling)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Alan@example.com  name='Alan'")


def test_erased_in_one_case_stays_erased_in_every_other(upgraded):
    assert _import(upgraded, "email,name\nalan@example.com,Alan\n").returncode == 0
    erased = mailer(upgraded, "subscribers", "erase", "ALAN@EXAMPLE.COM", "--yes")
    assert erased.returncode == 0, erased.stderr
    assert _people(upgraded) == []
    for spelling in ("alan@example.com", "Alan@Example.com"):
        again = _import(upgraded, f"email,name\n{spelling},Alan\n", "again.csv")
        assert "0 added" in again.stdout, again.stdout
        assert f"{spelling.split('@')[0]}@example.com is suppressed" in again.stderr
    assert _people(upgraded) == []


def test_suppressions_add_and_remove_in_another_case(upgraded):
    assert _import(upgraded, "email,name\nalan@example.com,Alan\n").returncode == 0
    added = mailer(upgraded, "suppressions", "add", "ALAN@EXAMPLE.COM")
    assert added.returncode == 0, added.stderr
    assert (
        "was already suppressed"
        in mailer(upgraded, "suppressions", "add", "Alan@example.com").stdout
    )
    sent = mailer(upgraded, "send", "--issue", "2026-11-21", "--yes")
    assert outbox_files(upgraded) == [], sent.stdout
    removed = mailer(upgraded, "suppressions", "remove", "Alan@Example.com")
    assert removed.returncode == 0, removed.stderr
    assert "removed from the suppression list" in removed.stdout
    assert mailer(upgraded, "suppressions", "remove", "alan@example.com").returncode == 1
