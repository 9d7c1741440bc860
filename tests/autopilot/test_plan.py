"""The plan as a pure function: a schedule and an instant range give the due steps, in UTC, right
across the clock changes (Europe/London 2026-03-29 and 2026-10-25)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailer.autopilot.plan import StepKind, due_steps, plan_lists, send_instant
from mailer.content.lists import Schedule

UTC = dt.UTC
FIXTURE_DIR = Path(__file__).resolve().parent / "lists"
LONDON = Schedule(time=dt.time(6, 30), timezone="Europe/London")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def table(steps) -> list[tuple[str, str]]:
    return [(s.at.strftime("%Y-%m-%d %H:%M"), s.kind.value) for s in steps]


def test_a_day_without_canary_is_prepare_then_send():
    steps = due_steps("l", LONDON, utc(2026, 11, 23), utc(2026, 11, 24))
    assert table(steps) == [("2026-11-23 05:30", "prepare"), ("2026-11-23 06:30", "send")]
    assert all(s.at.tzinfo is UTC for s in steps)
    assert {s.issue_date for s in steps} == {dt.date(2026, 11, 23)}
    assert steps[0].describe() == ("2026-11-23 Mon  05:30 Europe/London (05:30 UTC)  prepare  l")


def test_a_canary_is_sent_at_t_and_judged_after_the_wait():
    schedule = Schedule(
        time=dt.time(6, 30),
        timezone="Europe/London",
        prepare_before_minutes=45,
        canary=5,
        canary_wait_minutes=25,
    )
    steps = due_steps("l", schedule, utc(2026, 11, 23), utc(2026, 11, 24))
    assert table(steps) == [
        ("2026-11-23 05:45", "prepare"),
        ("2026-11-23 06:30", "canary"),
        ("2026-11-23 06:55", "judge"),
    ]


def test_summer_time_sends_an_hour_earlier_in_utc():
    steps = due_steps("l", LONDON, utc(2026, 3, 27), utc(2026, 3, 31))
    sends = [s for s in steps if s.kind is StepKind.SEND]
    assert table(sends) == [
        ("2026-03-27 06:30", "send"),
        ("2026-03-28 06:30", "send"),
        ("2026-03-29 05:30", "send"),  # the change day: 06:30 BST
        ("2026-03-30 05:30", "send"),
    ]
    assert {s.local.strftime("%H:%M") for s in sends} == {"06:30"}
    assert all(s.note == "" for s in steps)


def test_winter_time_sends_at_0630_utc_again():
    steps = due_steps("l", LONDON, utc(2026, 10, 24), utc(2026, 10, 27))
    sends = [s for s in steps if s.kind is StepKind.SEND]
    assert table(sends) == [
        ("2026-10-24 05:30", "send"),
        ("2026-10-25 06:30", "send"),  # the change day: 06:30 GMT
        ("2026-10-26 06:30", "send"),
    ]
    assert sends[1].describe() == "2026-10-25 Sun  06:30 Europe/London (06:30 UTC)  send     l"


def test_minutes_are_elapsed_time_across_the_change():
    # 04:30 on 2026-03-29 with a 3-hour prepare: 01:30 UTC, which is 02:30 BST (01:30 never was).
    schedule = Schedule(time=dt.time(4, 30), timezone="Europe/London", prepare_before_minutes=180)
    prepare, send = due_steps("l", schedule, utc(2026, 3, 29), utc(2026, 3, 30))
    assert send.at - prepare.at == dt.timedelta(hours=3)
    assert (prepare.at, send.at) == (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 3, 30))
    assert prepare.local.strftime("%H:%M %Z") == "00:30 GMT"


def test_a_skipped_local_time_sends_as_long_after_the_jump():
    schedule = Schedule(time=dt.time(1, 30), timezone="Europe/London")
    at, note = send_instant(schedule, dt.date(2026, 3, 29))
    assert at == utc(2026, 3, 29, 1, 30)
    assert at.astimezone(schedule.zone).strftime("%H:%M %Z") == "02:30 BST"
    assert note == "01:30 is skipped when the clocks go forward: sends at 02:30 BST"
    steps = due_steps("l", schedule, utc(2026, 3, 29), utc(2026, 3, 29, 12))
    assert [s.kind for s in steps] == [StepKind.PREPARE, StepKind.SEND]
    assert steps[1].describe().endswith(f"send     l  ({note})")


def test_a_repeated_local_time_sends_once_at_the_first():
    schedule = Schedule(time=dt.time(1, 30), timezone="Europe/London")
    at, note = send_instant(schedule, dt.date(2026, 10, 25))
    assert at == utc(2026, 10, 25, 0, 30)  # 01:30 BST; 01:30 GMT an hour later is not used
    assert note == "01:30 happens twice when the clocks go back: sends at the first, BST"
    steps = due_steps("l", schedule, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert table(steps) == [("2026-10-24 23:30", "prepare"), ("2026-10-25 00:30", "send")]
    # The UTC date is shown when it is not the local one.
    assert (
        steps[0]
        .describe()
        .startswith("2026-10-25 Sun  00:30 Europe/London (2026-10-24 23:30 UTC)  prepare  l")
    )


def test_an_ordinary_day_has_no_note():
    assert send_instant(LONDON, dt.date(2026, 7, 1)) == (utc(2026, 7, 1, 5, 30), "")


def test_days_are_local_weekdays_of_the_send():
    # 23:30 in Los Angeles on a Friday is Saturday 07:30 UTC; the list sends on Fridays.
    schedule = Schedule(time=dt.time(23, 30), timezone="America/Los_Angeles", days=("fri",))
    steps = due_steps("l", schedule, utc(2026, 11, 16), utc(2026, 11, 30))
    sends = [s for s in steps if s.kind is StepKind.SEND]
    assert table(sends) == [("2026-11-21 07:30", "send"), ("2026-11-28 07:30", "send")]
    assert {s.issue_date.weekday() for s in sends} == {4}


def test_the_range_is_half_open_and_takes_steps_of_neighbouring_days():
    # A 06:30 send with a 24-hour prepare: Tuesday's prepare is due on Monday.
    schedule = Schedule(
        time=dt.time(6, 30), timezone="UTC", days=("tue",), prepare_before_minutes=1440
    )
    steps = due_steps("l", schedule, utc(2026, 11, 23, 6, 30), utc(2026, 11, 24, 6, 30))
    assert table(steps) == [("2026-11-23 06:30", "prepare")]
    assert steps[0].issue_date == dt.date(2026, 11, 24)


def test_prepare_at_the_send_instant_comes_first():
    schedule = Schedule(time=dt.time(6, 30), timezone="UTC", prepare_before_minutes=0)
    steps = due_steps("l", schedule, utc(2026, 11, 23), utc(2026, 11, 24))
    assert [s.kind for s in steps] == [StepKind.PREPARE, StepKind.SEND]


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="aware"):
        due_steps("l", LONDON, dt.datetime(2026, 11, 23), utc(2026, 11, 24))


def test_plan_lists_reads_the_list_files():
    plan = plan_lists(FIXTURE_DIR, utc(2026, 11, 22, 6, 31), days=1)
    assert table(plan.steps) == [
        ("2026-11-22 06:50", "judge"),
        ("2026-11-23 05:30", "prepare"),
        ("2026-11-23 06:30", "canary"),
    ]
    assert plan.not_scheduled == ()
    assert plan.end == utc(2026, 11, 23, 6, 31)
