"""Red-team imports: service exports as spreadsheets really save them (BOM, `;`, CRLF, quoted
cells, status words in another letter case or padded), the same address twice with one opt-out,
rows for addresses that are suppressed or erased here, and a dry run that leaves nothing. Run as an
operator runs them: the CLI in a subprocess, on SQLite and PostgreSQL built by the migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.store.models import (
    AppMeta,
    ConsentEvent,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
)
from tests.audience.test_import_profiles import run_import, snapshot, statuses
from tests.conftest import DB_KINDS, REPO, SECRET

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


def mailer(database_url: str, *args: str) -> subprocess.CompletedProcess:
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
        [sys.executable, "-m", "mailer", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_excel(path: Path, rows: list[list[str]], delimiter: str = ";") -> Path:
    """As Excel saves "CSV UTF-8" where the decimal separator is a comma: a BOM, `;`, CRLF, and
    every cell quoted."""
    lines = [delimiter.join(f'"{cell}"' for cell in row) for row in rows]
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def test_a_resaved_substack_export_keeps_its_opt_outs(engine, database_url, factory, tmp_path):
    path = write_excel(
        tmp_path / "email_list.csv",
        [
            ["email", "active_subscription", "expiry", "plan", "email_disabled", "created_at"],
            ["amara.okafor@example.com", "TRUE", "", "paid", "FALSE", "2024-02-11T09:15:22.000Z"],
            ["chen.wei@example.net", "FALSE", "", "free", " True ", "2023-11-20T08:00:00.000Z"],
            ["dolores.ibarra@example.com", "TRUE", "", "paid", "TRUE", ""],
        ],
    )
    result = run_import(database_url, path, "--from", "substack")
    assert result.returncode == 0, result.stderr
    assert statuses(factory) == {
        "amara.okafor@example.com": "confirmed",
        "chen.wei@example.net": "unsubscribed",
        "dolores.ibarra@example.com": "unsubscribed",
    }


def test_status_words_in_another_letter_case_or_padded_are_read(
    engine, database_url, factory, tmp_path
):
    kit = write_excel(
        tmp_path / "kit.csv",
        [
            ["First_Name", "Email_Address", "State", "Created_At"],
            ["Sione", "sione.tupou@example.com", "Active", "2024-07-01 09:00:00 UTC"],
            ["Tamar", "tamar.levi@example.org", " CANCELLED ", "2024-07-02 09:00:00 UTC"],
            ["Uche", "uche.eze@example.net", "Complained", "2024-07-03 09:00:00 UTC"],
        ],
        delimiter=",",
    )
    result = run_import(database_url, kit, "--from", "kit")
    assert result.returncode == 0, result.stderr
    assert statuses(factory) == {
        "sione.tupou@example.com": "confirmed",
        "tamar.levi@example.org": "unsubscribed",
        "uche.eze@example.net": "unsubscribed",
    }
    assert dict(snapshot(factory)["suppressions"]) == {"uche.eze@example.net": "complaint"}


@pytest.mark.parametrize(
    "service,header,confirmed,opted_out",
    [
        ("substack", "email,email_disabled,active_subscription", ",false,false", ",true,false"),
        ("kit", "first_name,email_address,state", ",active", ",cancelled"),
        ("csv", "email,name,status", ",,confirmed", ",,unsubscribed"),
    ],
)
@pytest.mark.parametrize("opt_out_first", [False, True], ids=["opt-out-last", "opt-out-first"])
def test_the_same_address_twice_with_one_opt_out_is_never_confirmed(
    engine, database_url, factory, tmp_path, service, header, confirmed, opted_out, opt_out_first
):
    """Alan@ and alan@ are one person: whichever line says they opted out wins."""

    def row(address: str, rest: str) -> str:
        return f"Alan,{address}{rest}" if service == "kit" else f"{address}{rest}"

    rows = [row("Alan.Turing@Example.com", confirmed), row("alan.turing@example.com", opted_out)]
    if opt_out_first:
        rows.reverse()
    path = tmp_path / f"{service}.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = run_import(database_url, path, "--from", service)
    assert result.returncode == 0, result.stderr
    assert list(statuses(factory).values()) == ["unsubscribed"]
    assert "duplicate of line" in result.stderr
    with factory() as session:
        details = session.scalars(select(ConsentEvent.detail).order_by(ConsentEvent.id)).all()
    assert details and "status unsubscribed" in details[-1]


def test_an_opt_out_repeating_an_address_of_an_earlier_batch_still_wins(
    engine, database_url, factory, tmp_path
):
    """The first batch (5,000 rows) is written before the repeat is read."""
    filler = "".join(f"reader{i}@example.com,confirmed\n" for i in range(5_001))
    path = tmp_path / "big.csv"
    path.write_text(
        "email,status\nAlan.Turing@Example.com,confirmed\n"
        + filler
        + "alan.turing@example.com,unsubscribed\n",
        encoding="utf-8",
    )
    result = run_import(database_url, path, "--from", "csv")
    assert result.returncode == 0, result.stderr
    alan = {e: s for e, s in statuses(factory).items() if e.lower() == "alan.turing@example.com"}
    assert list(alan.values()) == ["unsubscribed"]


def test_a_bounce_repeating_an_active_row_is_suppressed(engine, database_url, factory, tmp_path):
    path = tmp_path / "kit.csv"
    path.write_text(
        "first_name,email_address,state\nVera,vera@example.com,active\nVera,VERA@example.com,bounced\n",
        encoding="utf-8",
    )
    result = run_import(database_url, path, "--from", "kit")
    assert result.returncode == 0, result.stderr
    assert statuses(factory) == {"vera@example.com": "unsubscribed"}
    assert dict(snapshot(factory)["suppressions"]) == {"vera@example.com": "hard-bounce"}


def test_an_export_row_for_a_suppressed_address_is_not_confirmed(
    engine, database_url, factory, tmp_path
):
    assert mailer(database_url, "suppressions", "add", "Sione.Tupou@example.com").returncode == 0
    path = tmp_path / "kit.csv"
    path.write_text(
        "first_name,email_address,state\nSione,sione.tupou@example.com,active\n", encoding="utf-8"
    )
    result = run_import(database_url, path, "--from", "kit")
    assert result.returncode == 0, result.stderr
    assert "sione.tupou@example.com is suppressed" in result.stderr
    assert statuses(factory) == {}


def test_an_export_row_for_an_erased_person_does_not_bring_them_back(
    engine, database_url, factory, tmp_path
):
    path = tmp_path / "kit.csv"
    path.write_text(
        "first_name,email_address,state\nSione,sione.tupou@example.com,active\n", encoding="utf-8"
    )
    assert run_import(database_url, path, "--from", "kit").returncode == 0
    erased = mailer(database_url, "subscribers", "erase", "sione.tupou@example.com", "--yes")
    assert erased.returncode == 0, erased.stderr
    again = run_import(database_url, path, "--from", "kit")
    assert again.returncode == 0, again.stderr
    with factory() as session:
        emails = session.scalars(select(Subscriber.email)).all()
        confirmed = session.scalar(
            select(func.count()).select_from(Subscription).where(Subscription.status == "confirmed")
        )
    assert "sione.tupou@example.com" not in emails and confirmed == 0


def test_an_opted_out_row_unsubscribes_someone_confirmed_here_and_a_paused_one_does_not_confirm(
    engine, database_url, factory, tmp_path
):
    ours = tmp_path / "ours.csv"
    ours.write_text(
        "email,status\njun.park@example.org,confirmed\nlucia.romero@example.net,unsubscribed\n",
        encoding="utf-8",
    )
    assert run_import(database_url, ours).returncode == 0
    export = tmp_path / "beehiiv.csv"
    export.write_text(
        "email,status,subscription_tier\n"
        "JUN.PARK@example.org,Inactive,free\n"
        "lucia.romero@example.net,active,free\n",
        encoding="utf-8",
    )
    result = run_import(database_url, export, "--from", "beehiiv")
    assert result.returncode == 0, result.stderr
    # an opt-out here is never undone by an export saying active
    assert statuses(factory) == {
        "jun.park@example.org": "unsubscribed",
        "lucia.romero@example.net": "unsubscribed",
    }


@pytest.mark.parametrize("service", ["kit", "csv"])
def test_a_dry_run_leaves_nothing_behind(engine, database_url, factory, tmp_path, service):
    """Not a list row, not a consent event, not a suppression, not the suppression salt."""
    path = tmp_path / f"{service}.csv"
    if service == "kit":
        path.write_text(
            "first_name,email_address,state\n"
            "Sione,sione.tupou@example.com,active\n"
            "Uche,uche.eze@example.net,complained\n",
            encoding="utf-8",
        )
    else:
        path.write_text("email,status\nsione.tupou@example.com,confirmed\n", encoding="utf-8")
    result = run_import(database_url, path, "--from", service, "--dry-run")
    assert result.returncode == 0, result.stderr
    with factory() as session:
        for table in (MailingList, Subscriber, Subscription, ConsentEvent, Suppression, AppMeta):
            count = session.scalar(select(func.count()).select_from(table))
            assert count == 0, f"{table.__tablename__}: {count} row(s) after a dry run"
