"""`mailer autopilot --plan` end to end, as an operator runs it: a subprocess in an operator's
folder (tests.cli.test_cli.mailer), with the shipped list and a scheduled one."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.test_cli import mailer

FIXTURE_DIR = Path(__file__).resolve().parent / "lists"
NOW = "2026-11-22T06:31:00Z"


def scheduled(workdir: Path) -> Path:
    """The workdir's ai-morning-post with the fixture's [schedule] (London 06:30, canary 200)."""
    shutil.copy(FIXTURE_DIR / "ai-morning-post.toml", workdir / "lists" / "ai-morning-post.toml")
    return workdir


def test_plan_prints_one_line_per_step_in_local_and_utc_time(workdir):
    result = mailer(scheduled(workdir), "autopilot", "--plan", "--days", "2", "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "plan from 2026-11-22 06:31 UTC to 2026-11-24 06:31 UTC:",
        "2026-11-22 Sun  06:50 Europe/London (06:50 UTC)  judge    ai-morning-post",
        "2026-11-23 Mon  05:30 Europe/London (05:30 UTC)  prepare  ai-morning-post",
        "2026-11-23 Mon  06:30 Europe/London (06:30 UTC)  canary   ai-morning-post",
        "2026-11-23 Mon  06:50 Europe/London (06:50 UTC)  judge    ai-morning-post",
        "2026-11-24 Tue  05:30 Europe/London (05:30 UTC)  prepare  ai-morning-post",
        "2026-11-24 Tue  06:30 Europe/London (06:30 UTC)  canary   ai-morning-post",
    ]


def test_the_default_is_seven_days(workdir):
    result = mailer(scheduled(workdir), "autopilot", "--plan", "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 + 7 * 3
    assert "to 2026-11-29 06:31 UTC" in result.stdout


def test_summer_time_in_the_plan(workdir):
    result = mailer(
        scheduled(workdir), "autopilot", "--plan", "--days", "1", "--now", "2026-03-29T00:00:00Z"
    )
    assert result.returncode == 0, result.stderr
    assert "2026-03-29 Sun  06:30 Europe/London (05:30 UTC)  canary   ai-morning-post" in (
        result.stdout
    )


def test_lists_without_schedule_are_named(workdir):
    other = (FIXTURE_DIR / "ai-morning-post.toml").read_text(encoding="utf-8")
    other = other.replace('slug = "ai-morning-post"', 'slug = "weekday-brief"')
    other = other.replace('timezone = "Europe/London"', 'timezone = "America/New_York"')
    (workdir / "lists" / "weekday-brief.toml").write_text(other, encoding="utf-8")
    result = mailer(workdir, "autopilot", "--plan", "--days", "1", "--now", NOW)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "2026-11-22 Sun  06:30 America/New_York (11:30 UTC)  canary   weekday-brief" in lines
    assert lines[-1] == "ai-morning-post: not scheduled (no [schedule] in its list file)"
    only = mailer(workdir, "autopilot", "--plan", "--list", "ai-morning-post", "--now", NOW)
    assert only.stdout.splitlines()[1:] == [
        "nothing due",
        "ai-morning-post: not scheduled (no [schedule] in its list file)",
    ]


def test_once_before_the_database_exists_is_one_line(workdir):
    result = mailer(scheduled(workdir), "autopilot", "--once", "--now", NOW)
    assert result.returncode == 1
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "mailer db upgrade" in result.stderr


def test_once_with_no_scheduled_list_has_nothing_due(workdir):
    assert mailer(workdir, "db", "upgrade").returncode == 0
    result = mailer(workdir, "autopilot", "--once", "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nothing due at 2026-11-22 06:31 UTC\n"


def test_a_bad_schedule_is_one_line_exit_1(workdir):
    path = scheduled(workdir) / "lists" / "ai-morning-post.toml"
    path.write_text(path.read_text().replace('"06:30"', '"25:00"'), encoding="utf-8")
    result = mailer(workdir, "autopilot", "--plan", "--now", NOW)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "ai-morning-post.toml: [schedule] field 'schedule.time'" in result.stderr
    assert '"HH:MM"' in result.stderr


def test_now_needs_an_offset(workdir):
    result = mailer(workdir, "autopilot", "--plan", "--now", "2026-11-22T06:31:00")
    assert result.returncode == 2
    assert "has no offset" in result.stderr
    bad = mailer(workdir, "autopilot", "--plan", "--now", "tomorrow")
    assert bad.returncode == 2 and "is not an ISO-8601 instant" in bad.stderr


def test_an_unknown_list_is_one_line_exit_1(workdir):
    result = mailer(workdir, "autopilot", "--plan", "--list", "nope")
    assert result.returncode == 1
    assert "no list 'nope'" in result.stderr
