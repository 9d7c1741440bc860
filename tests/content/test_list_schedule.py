"""The [schedule] table of a list file: parsed into a Schedule, absent means None, and every bad
value is one line naming the file, the key and how to fix it."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from mailer.content.lists import WEEKDAYS, Schedule, load_list, parse_list
from mailer.errors import ContentError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "lists" / "ai-morning-post.toml"
FIXTURE_DIR = ROOT / "tests" / "autopilot" / "lists"


def with_schedule(schedule) -> tuple[Path, dict]:
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    data["schedule"] = schedule
    return SHIPPED, data


def test_no_schedule_is_none():
    assert load_list(ROOT / "lists", "ai-morning-post").schedule is None


def test_the_fixture_schedule():
    schedule = load_list(FIXTURE_DIR, "ai-morning-post").schedule
    assert schedule == Schedule(
        time=dt.time(6, 30),
        timezone="Europe/London",
        days=WEEKDAYS,
        prepare_before_minutes=60,
        canary=200,
        canary_wait_minutes=20,
        alert=("mailto:editors@aimorningpost.example", "https://hooks.example/services/T0/B0"),
    )
    assert str(schedule.zone) == "Europe/London"


def test_defaults_and_days_in_week_order():
    path, data = with_schedule({"time": "07:05", "timezone": "UTC", "days": ["fri", "mon"]})
    schedule = parse_list(path, data).schedule
    assert schedule == Schedule(time=dt.time(7, 5), timezone="UTC", days=("mon", "fri"))
    assert (schedule.prepare_before_minutes, schedule.canary, schedule.canary_wait_minutes) == (
        60,
        0,
        20,
    )
    assert schedule.alert == ()


def test_a_toml_local_time_is_accepted():
    path, data = with_schedule({"time": dt.time(6, 30), "timezone": "Europe/Berlin"})
    assert parse_list(path, data).schedule.time == dt.time(6, 30)


def test_the_schedule_is_frozen():
    path, data = with_schedule({"time": "06:30", "timezone": "UTC"})
    with pytest.raises(AttributeError):
        parse_list(path, data).schedule.canary = 5


BASE = {"time": "06:30", "timezone": "Europe/London"}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"timezone": "Europe/Londn"},
            "field 'schedule.timezone': unknown time zone 'Europe/Londn'",
        ),
        ({"timezone": "../etc/passwd"}, "field 'schedule.timezone': unknown time zone"),
        ({"timezone": 1}, "field 'schedule.timezone': must be a string"),
        ({"time": "25:00"}, "field 'schedule.time': must be a 24-hour local time \"HH:MM\""),
        ({"time": "6:30"}, "field 'schedule.time'"),
        ({"time": "06:60"}, "field 'schedule.time'"),
        ({"time": dt.time(6, 30, 15)}, "field 'schedule.time'"),
        ({"days": ["mon", "funday"]}, "field 'schedule.days': unknown day(s) 'funday'; use mon,"),
        ({"days": "mon"}, "field 'schedule.days': must be a non-empty list of weekdays"),
        ({"days": []}, "field 'schedule.days': must be a non-empty list"),
        (
            {"prepare_before_minutes": -5},
            "field 'schedule.prepare_before_minutes': must be a whole number from 0 to 1440, "
            "got -5",
        ),
        ({"canary_wait_minutes": -1}, "field 'schedule.canary_wait_minutes': must be a whole"),
        ({"canary_wait_minutes": 1.5}, "field 'schedule.canary_wait_minutes': must be a whole"),
        ({"canary": -1}, "field 'schedule.canary': must be a whole number"),
        ({"canary": True}, "field 'schedule.canary': must be a whole number"),
        ({"alert": ["mailto:"]}, "field 'schedule.alert': 'mailto:' has no valid address"),
        ({"alert": ["mailto:editors"]}, "field 'schedule.alert': 'mailto:editors' has no valid"),
        (
            {"alert": ["http://hooks.example/x"]},
            "field 'schedule.alert': 'http://hooks.example/x' is neither mailto: nor https://; "
            "use mailto:name@example.com or an https:// URL",
        ),
        ({"alert": ["https://"]}, "field 'schedule.alert': 'https://' is neither"),
        ({"alert": ["editors@example.com"]}, "field 'schedule.alert': 'editors@example.com'"),
        ({"alert": 3}, "field 'schedule.alert': must be a list"),
        ({"tim": "06:30"}, "[schedule]: unknown field(s) tim; known: alert, canary,"),
        ({"time": None}, "field 'schedule.time'"),
    ],
)
def test_errors_name_the_file_and_the_key(change, message):
    schedule = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    path, data = with_schedule(schedule)
    with pytest.raises(ContentError) as info:
        parse_list(path, data)
    text = str(info.value)
    assert text.startswith(f"{SHIPPED}: "), text
    assert message in text, text
    assert "\n" not in text


@pytest.mark.parametrize("missing", ["time", "timezone"])
def test_time_and_timezone_are_required(missing):
    path, data = with_schedule({k: v for k, v in BASE.items() if k != missing})
    with pytest.raises(ContentError, match=f"field 'schedule.{missing}': is required"):
        parse_list(path, data)


def test_schedule_must_be_a_table():
    path, data = with_schedule("06:30")
    with pytest.raises(ContentError, match=r"\[schedule\]: must be a table"):
        parse_list(path, data)


def test_a_single_alert_string_is_one_target():
    path, data = with_schedule({**BASE, "alert": "https://hooks.example/a"})
    assert parse_list(path, data).schedule.alert == ("https://hooks.example/a",)
