"""The CLI end to end, as an operator runs it: a subprocess in an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SECRET


def mailer(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    environ.update({"MAILER_SECRET_KEY": SECRET, "MAILER_BASE_URL": "https://news.example"})
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        cwd=workdir,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def outbox_files(workdir: Path) -> list[Path]:
    return sorted((workdir / "var" / "outbox").rglob("*.eml"))


def test_upgrade_import_send_and_send_again(workdir):
    assert mailer(workdir, "db", "upgrade").returncode == 0
    assert (workdir / "var" / "mailer.db").exists()
    imported = mailer(
        workdir,
        "subscribers",
        "import",
        "lists/ai-morning-post.sample.csv",
        "--list",
        "ai-morning-post",
    )
    assert imported.returncode == 0, imported.stderr
    assert "25 added" in imported.stdout
    first = mailer(workdir, "send", "--issue", "2026-11-21", "--yes")
    assert first.returncode == 0, first.stderr
    assert "sent 21 now, 21 of 21" in first.stdout
    files = outbox_files(workdir)
    stamps = {p: p.stat().st_mtime_ns for p in files}
    assert len(files) == 21
    second = mailer(workdir, "send", "--issue", "2026-11-21", "--yes")
    assert second.returncode == 0
    assert "nothing to send" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in outbox_files(workdir)} == stamps


def test_preview_writes_html_and_text(workdir):
    result = mailer(workdir, "preview", "--issue", "latest", "--out", "pv")
    assert result.returncode == 0, result.stderr
    html = (workdir / "pv" / "ai-morning-post-2026-11-22.html").read_text()
    text = (workdir / "pv" / "ai-morning-post-2026-11-22.txt").read_text()
    assert "Domain-Specific AI Revolution" in html and "Domain-Specific AI Revolution" in text
    # The sample reader is greeted the way a subscriber is: by first name.
    assert "Good morning, Ada" in html and "Good morning, Ada" in text and "Lovelace" not in text


def test_unknown_issue_date_is_one_line_exit_1_and_writes_nothing(workdir):
    mailer(workdir, "db", "upgrade")
    result = mailer(workdir, "send", "--issue", "2030-01-01")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no issue file for 2030-01-01" in result.stderr and "mailer issue new" in result.stderr
    assert outbox_files(workdir) == []


def test_malformed_issue_file_is_reported_and_nothing_is_sent(workdir):
    mailer(workdir, "db", "upgrade")
    mailer(workdir, "subscribers", "import", "lists/ai-morning-post.sample.csv")
    bad = workdir / "issues" / "ai-morning-post" / "2026-11-22.md"
    bad.write_text(bad.read_text().replace("## Deep Dive:", "## Deep Div:"))
    result = mailer(workdir, "send", "--issue", "2026-11-22")
    assert result.returncode == 1
    assert (
        "issues/ai-morning-post/2026-11-22.md:" in result.stderr
        and "unknown section kind 'Deep Div'" in result.stderr
    )
    assert outbox_files(workdir) == []
    status = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys;print(sqlite3.connect(sys.argv[1])"
            ".execute('select count(*) from sends').fetchone()[0])",
            str(workdir / "var/mailer.db"),
        ],
        capture_output=True,
        text=True,
    )
    assert status.stdout.strip() == "0"


def test_csv_with_bad_rows_reports_each_by_line(workdir):
    mailer(workdir, "db", "upgrade")
    (workdir / "people.csv").write_text("email,name\nok@example.com,Ok\nnope,Bad\n")
    result = mailer(workdir, "subscribers", "import", "people.csv")
    assert result.returncode == 0
    assert "people.csv: line 3: invalid address 'nope'" in result.stderr
    assert "1 added" in result.stdout and "1 skipped" in result.stdout


def test_send_before_upgrade_says_how_to_fix(workdir):
    result = mailer(workdir, "send", "--issue", "latest")
    assert result.returncode == 1
    assert "run `mailer db upgrade` first" in result.stderr


def test_missing_secret_key_is_named(workdir):
    mailer(workdir, "db", "upgrade")
    result = mailer(workdir, "send", "--issue", "latest", env={"MAILER_SECRET_KEY": ""})
    assert result.returncode == 1 and "MAILER_SECRET_KEY is not set" in result.stderr


def test_malformed_setting_is_named(workdir):
    result = mailer(
        workdir, "preview", "--issue", "latest", env={"MAILER_BASE_URL": "news.example"}
    )
    assert result.returncode == 1 and "environment variable MAILER_BASE_URL" in result.stderr


def test_usage_error_exits_2(workdir):
    result = mailer(workdir, "send")
    assert result.returncode == 2 and "--issue" in result.stderr


def test_every_command_has_help(workdir):
    for args in (
        ["--help"],
        ["db", "upgrade", "--help"],
        ["subscribers", "import", "--help"],
        ["preview", "--help"],
        ["send", "--help"],
    ):
        result = mailer(workdir, *args)
        assert result.returncode == 0 and "Usage:" in result.stdout
