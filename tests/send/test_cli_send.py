"""`mailer send` and `mailer status` as an operator runs them, against the local SES endpoint."""

from __future__ import annotations

import json

from tests.send.conftest import ISSUE
from tests.send.helpers import mailer_env, run


def status(env) -> dict:
    result = run(env, "status", "--issue", ISSUE, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dry_run_to_and_prompt_send_nothing_and_change_nothing(
    database_url, engine, sample_list, fake_ses, tmp_path
):
    env = mailer_env(database_url, fake_ses.url)
    dry = run(env, "send", "--issue", ISSUE, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        "would plan 21 recipients" in dry.stdout and "nothing sent, nothing changed" in dry.stdout
    )
    test = run(env, "send", "--issue", ISSUE, "--to", "editor@example.com")
    assert test.returncode == 0, (
        test.stderr and "test message sent to editor@example.com" in test.stdout
    )
    assert [r.address for r in fake_ses.received] == ["editor@example.com"]
    refused = run(env, "send", "--issue", ISSUE)  # a real list, no terminal, no --yes
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert len(fake_ses.received) == 1
    assert status(env)["state"] == "not planned"


def test_canary_status_and_resume(database_url, engine, sample_list, fake_ses):
    env = mailer_env(database_url, fake_ses.url)
    canary = run(env, "send", "--issue", ISSUE, "--limit", "5", "--yes")
    assert canary.returncode == 0, canary.stderr
    assert "CANARY" in canary.stdout and len(fake_ses.received) == 5
    info = status(env)
    assert info["counts"] == {"sent": 5, "queued": 16} and info["state"] == "paused"
    assert "--limit" in info["pause_reason"]
    rest = run(env, "send", "--issue", ISSUE, "--yes")
    assert rest.returncode == 0, rest.stderr
    assert "sent 16 now, 21 of 21" in rest.stdout and "progress: " in rest.stderr
    assert status(env)["counts"] == {"sent": 21} and max(fake_ses.acknowledged().values()) == 1
    text = run(env, "status", "--issue", ISSUE)
    assert "done" in text.stdout and "sent" in text.stdout and "21" in text.stdout


def test_paused_send_exits_1_with_the_reason_and_rerun_hint(
    database_url, engine, sample_list, fake_ses
):
    env = mailer_env(database_url, fake_ses.url)
    fake_ses.account["EnforcementStatus"] = "SHUTDOWN"
    paused = run(env, "send", "--issue", ISSUE, "--yes")
    assert paused.returncode == 1
    assert (
        "PAUSED: SES account is suspended" in paused.stdout
        and "rerun the same command to resume" in paused.stderr
    )
    assert status(env)["pause_reason"].startswith("SES account is suspended")


def test_bad_smtp_setting_is_one_error_naming_it(database_url, engine, fake_ses):
    env = mailer_env(database_url, fake_ses.url, MAILER_TRANSPORT="smtp://mail.example:notaport")
    result = run(env, "send", "--issue", ISSUE, "--yes")
    assert (
        result.returncode == 1 and "MAILER_TRANSPORT" in result.stderr and "port" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_status_reads_only_and_needs_no_valid_issue_body(database_url, engine, tmp_path):
    """`mailer status` finds the send from (list, date): on a fresh database it inserts nothing (no
    list row), and an issue whose body does not parse is still found by its front matter."""
    from sqlalchemy import func, select

    from mailer.store.models import MailingList

    folder = tmp_path / "issues" / "ai-morning-post"
    folder.mkdir(parents=True)
    front = f"list: ai-morning-post\ndate: {ISSUE}\nsubject: S\npreheader: P\n"
    (folder / f"{ISSUE}.md").write_text(f"---\n{front}---\n\nno sections\n")
    env = mailer_env(
        database_url, "http://127.0.0.1:9", MAILER_ISSUES_PATH=str(tmp_path / "issues")
    )
    for spec in (ISSUE, "latest", str(folder / f"{ISSUE}.md")):
        result = run(env, "status", "--issue", spec, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "list": "ai-morning-post",
            "issue": ISSUE,
            "state": "not planned",
            "pause_reason": None,
            "planned": 0,
            "counts": {},
        }
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(MailingList)) == 0
    broken = run(env, "send", "--issue", ISSUE, "--dry-run")  # the body a send needs: unparsable
    assert broken.returncode != 0 and "missing section" in broken.stderr
