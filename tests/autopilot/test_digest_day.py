"""The autopilot sends the weekly digest on the list's digest day, at the schedule time, after the
day's issue, under its own lease; once (ARCHITECTURE.md, "Preferences"). In-process autopilot at
injected instants, real databases, the outbox."""

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
LONDON = dt.UTC  # 2026-11-22 is in GMT: London's wall clock is UTC
SUNDAY_0629 = dt.datetime(2026, 11, 22, 6, 29, tzinfo=LONDON)
SUNDAY_0631 = dt.datetime(2026, 11, 22, 6, 31, tzinfo=LONDON)


@pytest.fixture
def pilot_settings(settings, tmp_path, factory):
    """A scheduled list with [digest] on Sundays; the week's issues sent to its daily reader."""
    folder = tmp_path / "scheduled-lists"
    folder.mkdir()
    text = scheduled_list(canary=0) + '\n[digest]\nenabled = true\nday = "sun"\n'
    (folder / "ai-morning-post.toml").write_text(text, encoding="utf-8")
    add_subscribers(factory, 3)
    with transaction(factory) as session:
        weekly = select(Subscriber.id).where(Subscriber.email != "reader000000@example.com")
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id.in_(weekly))
            .values(cadence=Cadence.WEEKLY)
        )
    for spec in ("2026-11-19", "2026-11-20"):
        content = load_issue_for(settings, LIST, spec)
        run_send(factory, settings, LIST, content, FileTransport(settings.outbox_dir))
    return dataclasses.replace(settings, lists_dir=folder)


def digests_in_outbox(settings) -> int:
    return len(list((settings.outbox_dir / "ai-morning-post" / "digest-2026-11-22").glob("*.eml")))


def test_the_digest_goes_at_the_schedule_time_after_the_days_issue_once(pilot_settings, factory):
    at = {"now": SUNDAY_0629}
    pilot = make_pilot(pilot_settings, factory, clock=lambda: at["now"])

    def run_at(now):
        at["now"] = now
        return run_once(pilot)

    assert not [line for line in run_at(SUNDAY_0629) if "digest" in line]
    assert digests_in_outbox(pilot_settings) == 0
    lines = run_at(SUNDAY_0631)
    digest = [i for i, line in enumerate(lines) if line.startswith("digest ")]
    issue = [i for i, line in enumerate(lines) if "sent 1 now" in line]  # Sunday's daily reader
    assert len(digest) == 1 and issue and max(issue) < digest[0], lines
    assert "sent 2 now, 2 of 2 in total" in lines[digest[0]]
    assert digests_in_outbox(pilot_settings) == 2
    assert read_day(factory, "ai-morning-post", dt.date(2026, 11, 22)).stage in (
        DayStage.SUMMARY,
        DayStage.DONE,
    )
    row = read_day(factory, "ai-morning-post/digest", dt.date(2026, 11, 22))
    assert row.stage == DayStage.DONE
    assert not [line for line in run_at(SUNDAY_0631 + dt.timedelta(minutes=5)) if "digest" in line]
    assert digests_in_outbox(pilot_settings) == 2
