"""`mailer subscribers import FILE --from SERVICE`: each service's export (fixtures/, invented
people, in the column layout each service documents) run as an operator runs it, through the CLI in
a subprocess, on SQLite and PostgreSQL built by the migrations. Nobody who opted out, bounced or
complained is confirmed; a dry run changes nothing; a re-import is a no-op."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.store.models import ConsentEvent, Subscriber, Subscription, Suppression
from tests.conftest import DB_KINDS, REPO, SECRET

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
FIXTURES = Path(__file__).parent / "fixtures"
MAILCHIMP = [
    "mailchimp_subscribed_members_export.csv",
    "mailchimp_unsubscribed_members_export.csv",
    "mailchimp_cleaned_members_export.csv",
]

# (service, files, {email: status}, {email: suppression reason})
EXPECTED = [
    (
        "substack",
        ["substack_email_list.csv"],
        {
            "amara.okafor@example.com": "confirmed",
            "bjorn.lindqvist@example.org": "confirmed",
            "chen.wei@example.net": "unsubscribed",  # email_disabled=true
            "dolores.ibarra@example.com": "unsubscribed",  # email_disabled=TRUE, a paid reader
            "emeka.nwosu@example.org": "confirmed",
        },
        {},
    ),
    (
        "mailchimp",
        MAILCHIMP,
        {
            "farah.haddad@example.com": "confirmed",
            "gustav.berg@example.org": "confirmed",
            "hana.kobayashi@example.net": "unsubscribed",
            "ivan.petrov@example.com": "unsubscribed",  # cleaned
        },
        {"ivan.petrov@example.com": "hard-bounce"},
    ),
    (
        "beehiiv",
        ["beehiiv_subscribers.csv"],
        {
            "jun.park@example.org": "confirmed",
            "kalinda.murray@example.com": "unsubscribed",
            "lucia.romero@example.net": "pending",
            "mateo.silva@example.com": "unsubscribed",  # invalid
        },
        {"mateo.silva@example.com": "hard-bounce"},
    ),
    (
        "buttondown",
        ["buttondown_subscribers.csv"],
        {
            "nadia.rahman@example.org": "confirmed",
            "oskar.nowak@example.com": "confirmed",
            "priya.sharma@example.net": "unsubscribed",
            "quentin.moreau@example.com": "unsubscribed",  # undeliverable
            "rosa.alvarez@example.org": "pending",  # unactivated
        },
        {"quentin.moreau@example.com": "hard-bounce"},
    ),
    (
        "kit",
        ["kit_subscribers.csv"],
        {
            "sione.tupou@example.com": "confirmed",
            "tamar.levi@example.org": "unsubscribed",
            "uche.eze@example.net": "unsubscribed",  # complained
            "vera.sokolova@example.com": "unsubscribed",  # bounced
            "wiremu.parata@example.org": "pending",  # inactive: never confirmed at Kit
        },
        {"uche.eze@example.net": "complaint", "vera.sokolova@example.com": "hard-bounce"},
    ),
]


def run_import(database_url: str, path: Path, *options: str) -> subprocess.CompletedProcess:
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
        [sys.executable, "-m", "mailer", "subscribers", "import", str(path)]
        + ["--list", "ai-morning-post", *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshot(factory) -> dict:
    """Everything an import may write, to compare before and after."""
    with factory() as session:
        return {
            "subscriptions": sorted(
                (
                    tuple(row)
                    for row in session.execute(
                        select(Subscriber.email, Subscription.status, Subscriber.attributes).join(
                            Subscription, Subscription.subscriber_id == Subscriber.id
                        )
                    )
                ),
                key=lambda row: row[0],
            ),
            "consent": session.scalar(select(func.count()).select_from(ConsentEvent)),
            "suppressions": sorted(
                tuple(row) for row in session.execute(select(Suppression.email, Suppression.reason))
            ),
            "people": session.scalar(select(func.count()).select_from(Subscriber)),
        }


def statuses(factory) -> dict[str, str]:
    return {email: status for email, status, _ in snapshot(factory)["subscriptions"]}


@pytest.mark.parametrize("service,files,want,suppressed", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_each_service_export_keeps_its_opt_outs(
    engine, database_url, factory, service, files, want, suppressed
):
    for name in files:
        result = run_import(database_url, FIXTURES / name, "--from", service)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    assert statuses(factory) == want
    assert dict(snapshot(factory)["suppressions"]) == suppressed
    with factory() as session:
        events = session.execute(
            select(Subscriber.email, ConsentEvent.source, ConsentEvent.detail).join(
                ConsentEvent, ConsentEvent.subscriber_id == Subscriber.id
            )
        ).all()
    assert {email for email, _, _ in events} == set(want)  # every imported status is in the ledger
    for email, source, detail in events:
        assert source == f"import:{service}"
        file_name, line, rest = detail.split(":", 2)
        assert file_name in files and int(line) >= 2 and f"status {want[email]}" in rest


def test_the_substack_detail_names_the_file_line_and_reason(engine, database_url, factory):
    result = run_import(database_url, FIXTURES / "substack_email_list.csv", "--from", "substack")
    assert result.returncode == 0, result.stderr
    with factory() as session:
        detail = session.scalar(
            select(ConsentEvent.detail)
            .join(Subscriber, ConsentEvent.subscriber_id == Subscriber.id)
            .where(Subscriber.email == "chen.wei@example.net")
        )
        dolores = session.scalar(
            select(Subscriber).where(Subscriber.email == "dolores.ibarra@example.com")
        )
        assert detail == "substack_email_list.csv:4: status unsubscribed (email_disabled=true)"
        assert dolores.attributes == {
            "plan": "founding",
            "paid": True,
            "expiry": "2026-01-15T00:00:00.000Z",
            "first_payment_at": "2023-06-01T12:01:00.000Z",
        }
        assert dolores.created_at.year == 2023  # the service's creation date, not the import's


def test_tags_become_a_list_attribute(engine, database_url, factory):
    path = FIXTURES / MAILCHIMP[0]
    assert run_import(database_url, path, "--from", "mailchimp").returncode == 0
    kit = run_import(database_url, FIXTURES / "kit_subscribers.csv", "--from", "kit")
    assert kit.returncode == 0, kit.stderr
    with factory() as session:
        farah = session.scalar(select(Subscriber).where(Subscriber.email.like("farah%")))
        sione = session.scalar(select(Subscriber).where(Subscriber.email.like("sione%")))
        assert farah.attributes == {"tags": ["paid", "early reader"]}
        assert farah.name == "Farah Haddad"
        assert sione.attributes == {"tags": ["ai", "paid"]}


@pytest.mark.parametrize("service,files,want,suppressed", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_a_dry_run_changes_nothing_and_says_what_it_would_do(
    engine, database_url, factory, service, files, want, suppressed
):
    before = snapshot(factory)
    for name in files:
        result = run_import(database_url, FIXTURES / name, "--from", service, "--dry-run")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("dry run, nothing changed;")
    assert snapshot(factory) == before
    with factory() as session:  # not even the list
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0


def test_the_dry_run_counts_by_reason(engine, database_url, factory):
    result = run_import(
        database_url, FIXTURES / "kit_subscribers.csv", "--from", "kit", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    lines = set(result.stdout.splitlines())
    assert (
        "dry run, nothing changed; ai-morning-post would get: "
        "5 added, 0 updated, 0 unchanged, 0 skipped" in lines
    )
    assert {
        "  confirmed: 1",
        "  pending: 1",
        "  unsubscribed (state=cancelled): 1",
        "  suppressed as complaint (state=complained): 1",
        "  suppressed as hard-bounce (state=bounced): 1",
    } <= lines


@pytest.mark.parametrize("service,files,want,suppressed", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_a_re_import_is_a_no_op(engine, database_url, factory, service, files, want, suppressed):
    for name in files:
        assert run_import(database_url, FIXTURES / name, "--from", service).returncode == 0
    before = snapshot(factory)
    for name in files:
        again = run_import(database_url, FIXTURES / name, "--from", service)
        assert again.returncode == 0, again.stderr
        assert "0 added, 0 updated" in again.stdout and "0 skipped" in again.stdout
        assert again.stderr == ""
    assert snapshot(factory) == before


def test_an_opt_out_in_a_later_export_unsubscribes_a_confirmed_reader(
    engine, database_url, factory, tmp_path
):
    first = tmp_path / "kit_march.csv"
    first.write_text(
        "first_name,email_address,state,created_at,tags\n"
        "Tamar,tamar.levi@example.org,active,2024-07-02 09:00:00 UTC,\n",
        encoding="utf-8",
    )
    assert run_import(database_url, first, "--from", "kit").returncode == 0
    assert statuses(factory) == {"tamar.levi@example.org": "confirmed"}
    result = run_import(database_url, FIXTURES / "kit_subscribers.csv", "--from", "kit")
    assert result.returncode == 0, result.stderr
    assert statuses(factory)["tamar.levi@example.org"] == "unsubscribed"
    assert "1 updated" in result.stdout


def test_without_from_a_service_header_is_refused_with_the_option_to_use(
    engine, database_url, factory
):
    for name, service in [("substack_email_list.csv", "substack"), (MAILCHIMP[2], "mailchimp")]:
        result = run_import(database_url, FIXTURES / name)
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert f"--from {service}" in lines[0] and f"{FIXTURES / name}:1:" in lines[0]
    assert snapshot(factory)["people"] == 0


def test_an_unknown_status_value_skips_the_row_and_a_missing_column_refuses_the_file(
    engine, database_url, factory, tmp_path
):
    odd = tmp_path / "beehiiv.csv"
    odd.write_text(
        "email,status,created_at,subscription_tier\n"
        "jun.park@example.org,active,2024-05-01 08:00:00 UTC,free\n"
        "xavier.dubois@example.com,frozen,2024-05-01 08:00:00 UTC,free\n",
        encoding="utf-8",
    )
    result = run_import(database_url, odd, "--from", "beehiiv")
    assert result.returncode == 0
    assert f"{odd}: line 3: status 'frozen' is not a value mailer knows" in result.stderr
    assert statuses(factory) == {"jun.park@example.org": "confirmed"}
    bare = tmp_path / "substack.csv"
    bare.write_text("email,plan\nyara.haddad@example.com,free\n", encoding="utf-8")
    refused = run_import(database_url, bare, "--from", "substack")
    assert refused.returncode == 1
    assert f"{bare}:1: no 'email_disabled' column" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "yara.haddad@example.com" not in statuses(factory)


def test_status_is_refused_with_a_service(engine, database_url, factory):
    path = FIXTURES / "kit_subscribers.csv"
    result = run_import(database_url, path, "--from", "kit", "--status", "pending")
    assert result.returncode == 1 and "--status" in result.stderr
    assert snapshot(factory)["people"] == 0


def test_an_unreadable_creation_date_is_a_problem_line_and_the_opt_out_still_lands(
    engine, database_url, factory, tmp_path
):
    odd = tmp_path / "kit.csv"
    odd.write_text(
        "first_name,email_address,state,created_at,tags\n"
        "Tamar,tamar.levi@example.org,cancelled,last Tuesday,\n",
        encoding="utf-8",
    )
    result = run_import(database_url, odd, "--from", "kit")
    assert result.returncode == 0, result.stderr
    assert f"{odd}: line 2: created_at 'last Tuesday' is not a date mailer reads" in result.stderr
    assert statuses(factory) == {"tamar.levi@example.org": "unsubscribed"}
    assert "1 added, 0 updated, 0 unchanged, 0 skipped" in result.stdout
