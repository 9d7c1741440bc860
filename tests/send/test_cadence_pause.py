"""The issue planner and the readers' choices (ARCHITECTURE.md, "Preferences"): only daily readers
get an issue, and a pause skips exactly the issues dated before its end date. Real databases built
by the migrations; the columns are written directly (the /manage forms that set them are part D's).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select, update

from mailer.content.lists import DigestSettings
from mailer.content.load import load_issue_for
from mailer.send.campaign import plan_issue
from mailer.store.db import transaction
from mailer.store.models import Cadence, Delivery, Issue, Send, Subscriber, Subscription
from tests.conftest import DB_KINDS
from tests.send.conftest import LIST, add_subscribers

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)

WITH_DIGEST = dataclasses.replace(LIST, digest=DigestSettings(enabled=True))
PAUSED_ON = dt.date(2026, 11, 18)
PAUSE_ENDS = PAUSED_ON + dt.timedelta(weeks=2)  # 2026-12-02: mail dated on it is planned


def _set(factory, email: str, **values) -> None:
    with transaction(factory) as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
        session.execute(
            update(Subscription).where(Subscription.subscriber_id == subscriber_id).values(**values)
        )


def _recipients_by_date(factory) -> dict[dt.date, set[str]]:
    with factory() as session:
        rows = session.execute(
            select(Issue.issue_date, Delivery.email)
            .join(Send, Send.id == Delivery.send_id)
            .join(Issue, Issue.id == Send.issue_id)
        ).all()
    out: dict[dt.date, set[str]] = {}
    for day, email in rows:
        out.setdefault(day, set()).add(email)
    return out


def test_issues_go_to_daily_readers_not_paused_at_their_date(factory, settings):
    add_subscribers(factory, 3)
    daily, paused, weekly = (f"reader{i:06d}@example.com" for i in range(3))
    _set(factory, weekly, cadence=Cadence.WEEKLY)
    content = load_issue_for(settings, LIST, "2026-11-20")

    def plan(day: dt.date) -> None:
        plan_issue(factory, settings, WITH_DIGEST, dataclasses.replace(content, date=day))

    before = PAUSED_ON - dt.timedelta(days=1)
    plan(before)  # planned the day before the reader paused for two weeks
    _set(factory, paused, paused_until=PAUSE_ENDS)
    inside = [PAUSED_ON, PAUSED_ON + dt.timedelta(days=7), PAUSE_ENDS - dt.timedelta(days=1)]
    after = [PAUSE_ENDS, PAUSE_ENDS + dt.timedelta(days=1)]
    for day in inside + after:
        plan(day)

    planned = _recipients_by_date(factory)
    for day in inside:
        assert planned[day] == {daily}, day
    for day in [before, *after]:
        assert planned[day] == {daily, paused}, day


def test_a_pause_set_after_planning_leaves_the_frozen_ledger_alone(factory, settings):
    """The ledger is frozen when the send is planned (ARCHITECTURE.md, "A send"): a later pause
    applies to the mails planned after it."""
    add_subscribers(factory, 2)
    content = load_issue_for(settings, LIST, "2026-11-20")
    _, planned = plan_issue(factory, settings, LIST, content)
    _set(factory, "reader000001@example.com", paused_until=content.date + dt.timedelta(days=7))
    _, again = plan_issue(factory, settings, LIST, content)
    assert planned.planned_count == again.planned_count == 2


def test_weekly_readers_of_a_list_whose_digest_is_off_get_the_issues(factory, settings):
    """[digest] switched off after readers chose it: they get every issue again (their choice is
    kept for when it comes back), never nothing at all."""
    add_subscribers(factory, 2)
    _set(factory, "reader000001@example.com", cadence=Cadence.WEEKLY)
    content = load_issue_for(settings, LIST, "2026-11-20")
    _, planned = plan_issue(factory, settings, LIST, content)
    assert planned.planned_count == 2
    later = dataclasses.replace(content, date=content.date + dt.timedelta(days=1))
    _, with_digest = plan_issue(factory, settings, WITH_DIGEST, later)
    assert with_digest.planned_count == 1
