"""`mailer report` (--links and --html too) and `mailer reconcile` only read: they find the send
from (list, date), create no row (not even the list's), and do not parse the issue's body to learn
its date."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from mailer.cli import cli
from mailer.store.models import Base
from tests.conftest import REPO, SECRET

# Both databases: tests/track/conftest.py parametrises `database_url`.
ISSUE = "2026-11-18"


@pytest.fixture
def issues(tmp_path):
    """A copy of the shipped issues, so that a test may break one."""
    folder = tmp_path / "issues"
    shutil.copytree(REPO / "issues", folder)
    return folder


@pytest.fixture
def run(engine, database_url, tmp_path, issues):
    env = {
        "DATABASE_URL": database_url,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_OUTBOX": str(tmp_path / "out"),
        "MAILER_ISSUES_PATH": str(issues),
        "MAILER_LISTS_DIR": str(REPO / "lists"),
        "MAILER_BASE_URL": "https://news.example",
    }

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def writes():
    """Every INSERT, UPDATE or DELETE any engine executes while the test runs (a write rolled back
    still counts: a read must not try one)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


def break_body(path) -> None:
    """Keep the front matter, replace the body with something the issue parser refuses."""
    text = path.read_text(encoding="utf-8")
    front = text[: text.index("---", 3) + 3]
    path.write_text(front + "\n\n## Nonsense: not a section we know\n- | | |\n", encoding="utf-8")


@pytest.mark.parametrize(
    "command",
    [
        ("report",),
        ("report", "--json"),
        ("report", "--links", "--json"),
        ("report", "--html", "report.html"),
        ("reconcile", "--no-poll"),
    ],
)
def test_on_a_fresh_database_neither_command_creates_a_row(run, engine, writes, command):
    before = row_counts(engine)
    assert before["lists"] == 0
    result = run(command[0], "--issue", ISSUE, *command[1:])
    assert result.exit_code == 1
    assert f"no send of the {ISSUE} issue yet" in result.output
    assert writes == []
    assert row_counts(engine) == before


def test_a_broken_issue_body_does_not_stop_report_or_reconcile_for_a_sent_date(
    run, engine, issues, tmp_path, writes
):
    assert (
        run("subscribers", "import", str(REPO / "lists/ai-morning-post.sample.csv")).exit_code == 0
    )
    assert run("send", "--issue", ISSUE, "--yes").exit_code == 0
    dated = issues / "ai-morning-post" / f"{ISSUE}.md"
    break_body(dated)
    assert run("preview", "--issue", ISSUE).exit_code != 0  # the body really is broken
    before = row_counts(engine)
    writes.clear()

    result = run("report", "--issue", ISSUE, "--json")
    assert result.exit_code == 0, result.output
    assert (json.loads(result.output)["planned"], json.loads(result.output)["sent"]) == (21, 21)
    assert run("report", "--issue", ISSUE).output.splitlines()[0].endswith(ISSUE)
    reconciled = run("reconcile", "--issue", ISSUE, "--no-poll")
    assert reconciled.exit_code == 0, reconciled.output
    assert "0 unknown deliveries settled as sent, 0 as failed; 0 still unknown" in reconciled.output
    # A path not named by its date: the date comes from the front matter alone.
    undated = tmp_path / "this-week.md"
    shutil.copy(dated, undated)
    by_path = run("report", "--issue", str(undated), "--json")
    assert by_path.exit_code == 0, by_path.output
    assert json.loads(by_path.output)["sent"] == 21
    links = run("report", "--issue", ISSUE, "--links")
    assert links.exit_code == 0 and "without click tracking" in links.output
    page = run("report", "--issue", ISSUE, "--html", str(tmp_path / "report.html"))
    assert page.exit_code == 0 and (tmp_path / "report.html").read_text().startswith("<!doctype")
    assert writes == [] and row_counts(engine) == before
