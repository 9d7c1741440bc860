"""A simulated day of `mailer autopilot --once` at injected instants, as cron or a systemd timer
would run it: a missing issue, a lint error, the fix, a canary on the day the clocks go forward,
bounce events through moto SNS -> SQS, the verdict, the rest and the summary. SQLite and
PostgreSQL.

2026-03-29 is the day Europe/London goes to summer time (01:00 UTC): the 06:30 send is 05:30 UTC,
its prepare 04:30 UTC.
"""

from __future__ import annotations

import shutil

import pytest

from tests.autopilot.day_harness import CONFIRMED, SLUG, Operator, events_queue, scheduled_list
from tests.conftest import DB_KINDS, REPO

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
DAY = "2026-03-29"


@pytest.fixture
def operator(tmp_path, engine, database_url, factory, moto_url) -> Operator:
    shutil.copytree(REPO / "lists", tmp_path / "lists")
    shutil.copytree(REPO / "issues", tmp_path / "issues")
    (tmp_path / "lists" / f"{SLUG}.toml").write_text(scheduled_list(), encoding="utf-8")
    op = Operator(tmp_path, database_url, factory, moto_url, events_queue(moto_url))
    imported = op.mailer("subscribers", "import", f"lists/{SLUG}.sample.csv", "--list", SLUG)
    assert imported.returncode == 0, imported.stderr
    return op


def alert_texts(op: Operator) -> list[str]:
    return [str(m["Subject"]) + "\n" + m.get_content() for m in op.alerts()]


def run_to_the_canary(op: Operator) -> None:
    """T-60 with no issue, the issue with a TODO subject, the fix, then the canary at 06:30 BST."""
    missing = op.autopilot("2026-03-29T04:31:00Z")
    assert "no issue file for 2026-03-29" in missing.stdout
    assert len(op.alerts()) == 1 and "[The AI Morning Post] blocked" in alert_texts(op)[0]
    again = op.autopilot("2026-03-29T04:32:00Z")
    assert "alerted already" in again.stdout and len(op.alerts()) == 1  # an unchanged problem

    op.write_issue(DAY, '"TODO: subject line"')
    todo = op.autopilot("2026-03-29T04:40:00Z")
    assert "[scaffold]" in todo.stdout and "TODO: subject line" in todo.stdout
    assert len(op.alerts()) == 2 and "TODO: subject line" in alert_texts(op)[1]

    op.write_issue(DAY, "Specialised models take the board")
    ready = op.autopilot("2026-03-29T04:50:00Z")
    assert "ready; sends at 06:30 Europe/London" in ready.stdout
    assert "fixed: the issue is ready" in alert_texts(op)[2]
    early = op.autopilot("2026-03-29T05:29:00Z")
    assert op.rows() == [] and "ready; sends at 06:30" in early.stdout  # nothing before T

    canary = op.autopilot("2026-03-29T05:30:00Z")
    assert "canary sent; judged at 06:50 Europe/London" in canary.stdout
    assert op.states() == {"sent": 5, "queued": CONFIRMED - 5}
    assert len(op.outbox_recipients(DAY)) == 5


def test_bounces_in_the_canary_pause_the_send_and_alert(operator):
    op = operator
    run_to_the_canary(op)
    canary = [r for r in op.rows() if r.state == "sent"]
    op.publish(canary[:2], "bounce")
    op.publish(canary[2:], "delivery")

    waiting = op.autopilot("2026-03-29T05:40:00Z")
    assert "waiting for the canary's events until 06:50" in waiting.stdout
    assert op.states()["queued"] == CONFIRMED - 5  # nothing more during the wait

    judged = op.autopilot("2026-03-29T05:50:00Z")
    assert "paused" in judged.stdout and "bounce rate 40.0 % (2 of 5)" in judged.stdout
    assert op.stage(DAY) == "stopped"
    state, reason = op.send_state()
    assert state == "paused" and "bounce rate 40.0 %" in reason
    assert "bounce rate 40.0 %" in alert_texts(op)[-1]
    assert len(op.outbox_recipients(DAY)) == 5

    later = op.autopilot("2026-03-29T07:00:00Z")
    assert "nothing due" in later.stdout and len(op.outbox_recipients(DAY)) == 5
    assert op.mailer("status", "--issue", DAY, "--list", SLUG).stdout.startswith(
        f"{SLUG} {DAY}: paused (canary: bounce rate"
    )


def test_a_clean_canary_sends_the_rest_then_the_summary(operator):
    op = operator
    run_to_the_canary(op)
    op.publish([r for r in op.rows() if r.state == "sent"], "delivery")

    judged = op.autopilot("2026-03-29T05:50:00Z")
    assert "canary clean: sending the rest" in judged.stdout
    assert op.states() == {"delivered": 5, "sent": CONFIRMED - 5}
    recipients = op.outbox_recipients(DAY)
    assert len(recipients) == CONFIRMED == len(set(recipients))
    assert op.stage(DAY) == "summary"

    assert (
        op.autopilot("2026-03-29T06:40:00Z").stdout.strip() == "nothing due at 2026-03-29 06:40 UTC"
    )
    summary = op.autopilot("2026-03-29T06:51:00Z")
    assert "sent 21, delivered 5, bounced 0 hard and 0 soft, complained 0" in summary.stdout
    last = op.alerts()[-1]
    assert str(last["Subject"]).startswith("[The AI Morning Post] sent: sent 21, delivered 5")
    assert op.stage(DAY) == "done"
    assert "nothing due" in op.autopilot("2026-03-29T08:00:00Z").stdout


def test_a_canary_without_any_event_is_not_judged_clean(operator):
    """A queue is configured but nothing arrives (SES not publishing, a wrong subscription): the
    rest does not go out blind."""
    op = operator
    run_to_the_canary(op)
    first = op.autopilot("2026-03-29T05:50:00Z")
    assert "no events for the canary yet; judged again at each wake until 07:00" in first.stdout
    assert op.stage(DAY) == "judge" and len(op.alerts()) == 3  # the three before the canary
    judged = op.autopilot("2026-03-29T06:00:00Z")
    assert "none of its 5 messages has a delivery, bounce or complaint event" in judged.stdout
    assert op.stage(DAY) == "stopped" and op.states()["queued"] == CONFIRMED - 5


def test_an_issue_never_fixed_is_missed_once(operator):
    op = operator
    op.autopilot("2026-03-29T04:31:00Z")
    late = op.autopilot("2026-03-29T05:31:00Z")
    assert "not sent at 06:30 Europe/London: retrying until 12:30" in late.stdout
    missed = op.autopilot("2026-03-29T11:31:00Z")
    assert "missed" in missed.stdout and op.stage(DAY) == "missed"
    subjects = [str(m["Subject"]) for m in op.alerts()]
    assert [s.split(":")[0] for s in subjects] == [
        "[The AI Morning Post] blocked",
        "[The AI Morning Post] blocked",
        "[The AI Morning Post] missed",
    ]
    assert "nothing due" in op.autopilot("2026-03-29T11:40:00Z").stdout
    assert op.rows() == []
