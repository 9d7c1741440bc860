"""Red-team digests on the autopilot's watch around a clock change (Europe/London): on Sunday
2026-03-29 the clocks go forward at 01:00 GMT, so 06:30 local is 05:30 UTC; a digest day whose
daily issue never arrives still gets its digest once the issue is missed, and only once."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select, update

from mailer.autopilot.lease import read_day
from mailer.autopilot.run import make_pilot, run_once
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.db import transaction
from mailer.store.models import Cadence, DayStage, Subscriber, Subscription
from mailer.transports import FileTransport
from tests.autopilot.day_harness import scheduled_list
from tests.conftest import DB_KINDS
from tests.send.conftest import LIST, add_subscribers

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
SUNDAY = dt.date(2026, 3, 29)  # BST from 01:00 GMT: 06:30 local is 05:30 UTC
WEEK = [dt.date(2026, 3, 24), dt.date(2026, 3, 26)]
UTC = dt.UTC


def make_settings(settings, tmp_path, factory, days: str | None):
    folder = tmp_path / "scheduled-lists"
    folder.mkdir()
    text = scheduled_list(canary=0) + '\n[digest]\nenabled = true\nday = "sun"\n'
    if days is not None:
        start = text.index("days = [")
        text = text[:start] + f"days = {days}" + text[text.index("\n", start) :]
    (folder / "ai-morning-post.toml").write_text(text, encoding="utf-8")
    add_subscribers(factory, 3)
    with transaction(factory) as session:
        weekly = select(Subscriber.id).where(Subscriber.email != "reader000000@example.com")
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id.in_(weekly))
            .values(cadence=Cadence.WEEKLY)
        )
    content = load_issue_for(settings, LIST, "2026-11-20")
    for day in WEEK:
        dated = dataclasses.replace(content, date=day)
        run_send(factory, settings, LIST, dated, FileTransport(settings.outbox_dir))
    return dataclasses.replace(settings, lists_dir=folder)


def digests(settings) -> int:
    folder = settings.outbox_dir / "ai-morning-post" / f"digest-{SUNDAY}"
    return len(list(folder.glob("*.eml")))


def runner(pilot_settings, factory):
    at = {"now": None}
    pilot = make_pilot(pilot_settings, factory, clock=lambda: at["now"])

    def run_at(now):
        at["now"] = now
        return run_once(pilot)

    return run_at


def test_the_digest_goes_at_the_local_schedule_time_on_the_day_the_clocks_go_forward(
    settings, tmp_path, factory
):
    pilot_settings = make_settings(settings, tmp_path, factory, '["mon", "tue", "wed", "thu"]')
    run_at = runner(pilot_settings, factory)
    run_at(dt.datetime(2026, 3, 29, 5, 29, tzinfo=UTC))
    assert digests(pilot_settings) == 0
    lines = run_at(dt.datetime(2026, 3, 29, 5, 31, tzinfo=UTC))
    assert digests(pilot_settings) == 2, lines
    run_at(dt.datetime(2026, 3, 29, 6, 31, tzinfo=UTC))  # 06:30 GMT would be a second time
    assert digests(pilot_settings) == 2


def test_a_digest_day_whose_issue_never_came_still_gets_its_digest_once(
    settings, tmp_path, factory
):
    """Every day is an issue day; 2026-03-29 has no issue file: the day is missed at T + 6 h and
    the digest goes then, before the day ends."""
    pilot_settings = make_settings(settings, tmp_path, factory, None)
    run_at = runner(pilot_settings, factory)
    run_at(dt.datetime(2026, 3, 29, 5, 31, tzinfo=UTC))
    assert digests(pilot_settings) == 0  # waits for the day's issue
    lines = run_at(dt.datetime(2026, 3, 29, 11, 31, tzinfo=UTC))
    assert read_day(factory, "ai-morning-post", SUNDAY).stage == DayStage.MISSED, lines
    assert digests(pilot_settings) == 2, lines
    run_at(dt.datetime(2026, 3, 29, 12, 31, tzinfo=UTC))
    assert digests(pilot_settings) == 2
