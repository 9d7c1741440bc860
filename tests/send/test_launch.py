"""send/launch.py's own rules: what a run would send, and what the operator must confirm."""

from __future__ import annotations

import datetime as dt

from mailer.content.lists import load_list
from mailer.send.launch import STALE_AFTER_DAYS, pending_count, questions_for, stale_date_question
from tests.conftest import REPO

TODAY = dt.date(2026, 11, 22)


def test_pending_counts_unknown_rows_only_when_they_are_resent():
    counts = {"queued": 3, "unknown": 2, "sent": 10}
    assert pending_count(counts, resend_unknown=False) == 3
    assert pending_count(counts, resend_unknown=True) == 5
    assert pending_count({}, resend_unknown=True) == 0


def test_an_issue_dated_far_from_today_needs_a_yes_either_way():
    assert stale_date_question(TODAY + dt.timedelta(days=STALE_AFTER_DAYS), TODAY) is None
    assert stale_date_question(TODAY - dt.timedelta(days=STALE_AFTER_DAYS), TODAY) is None
    assert stale_date_question(dt.date(2026, 11, 17), TODAY) == (
        "send an issue dated 2026-11-17, 5 days before today (2026-11-22)"
    )
    assert "3 days after today" in stale_date_question(dt.date(2026, 11, 25), TODAY)


def test_the_local_outbox_asks_nothing_a_real_transport_asks_for_the_list():
    list_def = load_list(REPO / "lists", "ai-morning-post")
    assert questions_for("file", 21, list_def, TODAY, TODAY) == []
    assert questions_for("ses", 21, list_def, TODAY, TODAY) == [
        "send to 21 recipients of ai-morning-post through ses"
    ]
    old = questions_for("file", 21, list_def, dt.date(2026, 11, 1), TODAY)
    assert old == ["send an issue dated 2026-11-01, 21 days before today (2026-11-22)"]
