"""`mailer subscribers show|export|erase`, `mailer serve`'s key check, and the archive page."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import sqlite3

import pytest
from sqlalchemy import select

from mailer.audience import lifecycle
from mailer.audience.lists import ensure_list
from mailer.config import Settings
from mailer.content.lists import load_list
from mailer.errors import ConfigError
from mailer.store.models import Issue, Visibility
from mailer.web import create_app
from tests.cli.test_cli import mailer
from tests.conftest import REPO

HOSTILE = (
    "email,name,status\n"
    'ada@example.com,=HYPERLINK("http://evil.example"),confirmed\n'
    "-minus@example.com,+1 555 0100,confirmed\n"
    "at@example.com,@SUM(A1:A2),pending\n"
    "plain@example.com,Plain Person,confirmed\n"
)


@pytest.fixture
def loaded(workdir):
    assert mailer(workdir, "db", "upgrade").returncode == 0
    (workdir / "people.csv").write_text(HOSTILE)
    result = mailer(workdir, "subscribers", "import", "people.csv")
    assert result.returncode == 0, result.stderr
    return workdir


def test_export_escapes_formula_cells(loaded):
    result = mailer(loaded, "subscribers", "export", "--list", "ai-morning-post")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_email = {r["email"]: r for r in rows}
    assert by_email["ada@example.com"]["name"] == '\'=HYPERLINK("http://evil.example")'
    assert by_email["'-minus@example.com"]["name"] == "'+1 555 0100"
    assert (
        by_email["at@example.com"]["name"] == "'@SUM(A1:A2)"
        and by_email["at@example.com"]["status"] == "pending"
    )
    assert by_email["plain@example.com"]["name"] == "Plain Person"
    assert lifecycle.csv_safe("\tx") == "'\tx" and lifecycle.csv_safe("\rx") == "'\rx"


def test_export_of_unknown_list_is_one_line(loaded):
    result = mailer(loaded, "subscribers", "export", "--list", "nope")
    assert result.returncode == 1 and "no list 'nope'" in result.stderr


def test_show_prints_the_consent_history(loaded):
    result = mailer(loaded, "subscribers", "show", "ADA@EXAMPLE.COM".lower())
    assert result.returncode == 0, result.stderr
    assert "list ai-morning-post: confirmed" in result.stdout
    assert "import" in result.stdout and "people.csv:2: status" in result.stdout
    missing = mailer(loaded, "subscribers", "show", "nobody@example.com")
    assert missing.returncode == 1 and "no subscriber 'nobody@example.com'" in missing.stderr


def test_erase_removes_personal_data_and_blocks_reimport(loaded):
    erased = mailer(loaded, "subscribers", "erase", "plain@example.com", "--yes")
    assert erased.returncode == 0, erased.stderr
    dump = "\n".join(sqlite3.connect(loaded / "var" / "mailer.db").iterdump())
    assert "plain@example.com" not in dump and "Plain Person" not in dump
    again = mailer(loaded, "subscribers", "import", "people.csv")
    assert "plain@example.com is suppressed" in again.stderr and "0 added" in again.stdout
    assert mailer(loaded, "subscribers", "show", "plain@example.com").returncode == 1


def test_serve_refuses_to_start_without_a_secret_key(workdir):
    mailer(workdir, "db", "upgrade")
    result = mailer(workdir, "serve", env={"MAILER_SECRET_KEY": ""})
    assert result.returncode == 1 and "MAILER_SECRET_KEY is not set" in result.stderr


def test_app_factory_needs_a_key_except_in_demo(engine, settings):
    keyless = dataclasses.replace(settings, secret_key=None)
    with pytest.raises(ConfigError, match="MAILER_SECRET_KEY"):
        create_app(keyless)
    with pytest.raises(ConfigError):
        create_app(dataclasses.replace(settings, secret_key="short"))
    app = create_app(keyless, demo=True)
    key = app.extensions["mailer"]["settings"].secret_key
    assert key and len(key) >= 32


def test_erased_address_cannot_subscribe_again(factory):
    list_def = load_list(REPO / "lists", "ai-morning-post")
    with factory.begin() as s:
        list_id = ensure_list(s, list_def)
        assert lifecycle.subscribe(
            s, list_id, "gone@example.com", "Gone", lifecycle.Visitor("10.0.0.1", "ua")
        )
    with factory.begin() as s:
        lifecycle.erase(s, "gone@example.com")
    with factory.begin() as s:
        assert (
            lifecycle.subscribe(s, list_id, "gone@example.com", "Gone", lifecycle.Visitor()) is None
        )


def test_archive_serves_the_issue_without_personal_values(engine, factory, settings):
    list_def = load_list(REPO / "lists", "ai-morning-post")
    html = (
        '<html><body><p>%%GREETING%%,</p><a href="%%UNSUBSCRIBE_URL%%">u</a>'
        '<a href="%%MANAGE_URL%%">m</a></body></html>'
    )
    with factory.begin() as s:
        list_id = ensure_list(s, list_def)
        s.add(
            Issue(
                list_id=list_id,
                issue_date=dt.date(2026, 11, 22),
                subject="S",
                source_path="x",
                content_hash="h",
                html=html,
                text="t",
                # never sent: in the archive because an operator marked it public
                visibility=Visibility.PUBLIC.value,
            )
        )
    client = create_app(settings).test_client()
    page = client.get("/archive/ai-morning-post/2026-11-22")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Good morning," in body and "%%" not in body
    assert (
        'href="https://news.example/subscribe/ai-morning-post"' in body
    )  # the canonical form page
    assert isinstance(settings, Settings)
    with factory() as s:
        assert s.scalar(select(Issue.html)) == html
