"""What the autopilot does when: a list's [schedule] turned into due steps, as aware datetimes in
UTC (ARCHITECTURE.md, "Layers and rules": autopilot sits above track; "Where things live").

Each scheduled day (a weekday in `days`, in the list's time zone) has a send instant T: `time` on
that local date. The steps of that day's issue:

- prepare at T - prepare_before_minutes,
- send at T, or, with canary > 0, canary at T and judge (the canary, then the rest) at
  T + canary_wait_minutes.

The minutes are elapsed time, counted from the instant T, not wall-clock arithmetic: on a day the
clocks change, a prepare 60 minutes before a 06:30 send is still one hour before it.

Clock changes, deliberately:

- A local time that does not exist (skipped when the clocks go forward, e.g. 01:30 in
  Europe/London on 2026-03-29) is read with the offset in force before the change, so the send
  happens as long after the change as 01:30 is after 01:00: 02:30 BST (01:30 UTC). The step says
  so in its note.
- A local time that happens twice (when the clocks go back, e.g. 01:30 in Europe/London on
  2026-10-25) is the first of the two: 01:30 BST (00:30 UTC). Never both: one issue, one send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from mailer.content.lists import WEEKDAYS, Schedule, list_slugs, load_list

UTC = dt.UTC


class StepKind(StrEnum):
    PREPARE = "prepare"  # fetch trending, require and lint the issue, alert if missing or failing
    SEND = "send"  # the whole list (no canary)
    CANARY = "canary"  # the first `canary` recipients
    JUDGE = "judge"  # the canary's events against the guardrail, then the rest or a pause


@dataclass(frozen=True)
class Step:
    at: dt.datetime  # aware, UTC
    kind: StepKind
    list_slug: str
    issue_date: dt.date  # the local date of the send instant T
    timezone: str
    note: str = ""  # why the send is not at the wall-clock time asked for (a clock change)

    @property
    def local(self) -> dt.datetime:
        return self.at.astimezone(ZoneInfo(self.timezone))

    def describe(self) -> str:
        """One line: `2026-11-23 Mon  05:30 Europe/London (05:30 UTC)  prepare  ai-morning-post`
        (the UTC date too when it is not the local one), then the note, if any."""
        local, utc = self.local, self.at.astimezone(UTC)
        utc_text = f"{utc:%H:%M}" if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M}"
        line = (
            f"{local:%Y-%m-%d %a}  {local:%H:%M} {self.timezone} ({utc_text} UTC)  "
            f"{self.kind.value:<7}  {self.list_slug}"
        )
        return f"{line}  ({self.note})" if self.note else line


def send_instant(schedule: Schedule, day: dt.date) -> tuple[dt.datetime, str]:
    """T for the issue of local date `day`, in UTC, and a note when a clock change moved it (see
    the module docstring)."""
    zone = schedule.zone
    wall = dt.datetime.combine(day, schedule.time)
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    instant = first.astimezone(UTC)
    back = instant.astimezone(zone).replace(tzinfo=None)
    if back != wall:
        note = (
            f"{schedule.time:%H:%M} is skipped when the clocks go forward: "
            f"sends at {back:%H:%M} {instant.astimezone(zone).tzname()}"
        )
        return instant, note
    if first.utcoffset() != second.utcoffset():
        note = (
            f"{schedule.time:%H:%M} happens twice when the clocks go back: "
            f"sends at the first, {first.tzname()}"
        )
        return instant, note
    return instant, ""


def day_steps(slug: str, schedule: Schedule, day: dt.date) -> list[Step]:
    """The steps of the issue sent on local date `day` (whatever its weekday)."""
    at, note = send_instant(schedule, day)

    def step(when: dt.datetime, kind: StepKind) -> Step:
        return Step(when, kind, slug, day, schedule.timezone, note)

    steps = [step(at - dt.timedelta(minutes=schedule.prepare_before_minutes), StepKind.PREPARE)]
    if schedule.canary > 0:
        steps.append(step(at, StepKind.CANARY))
        steps.append(step(at + dt.timedelta(minutes=schedule.canary_wait_minutes), StepKind.JUDGE))
    else:
        steps.append(step(at, StepKind.SEND))
    return steps


def due_steps(slug: str, schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[Step]:
    """Every step of the list's schedule due at an instant in [start, end), in order. `start` and
    `end` must be aware; the steps are in UTC."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes (with an offset)")
    zone = schedule.zone
    # Steps lie at most a day before or after their send instant (minutes are at most 1440).
    first_day = start.astimezone(zone).date() - dt.timedelta(days=2)
    last_day = end.astimezone(zone).date() + dt.timedelta(days=2)
    found: list[Step] = []
    day = first_day
    while day <= last_day:
        if WEEKDAYS[day.weekday()] in schedule.days:
            found.extend(s for s in day_steps(slug, schedule, day) if start <= s.at < end)
        day += dt.timedelta(days=1)
    return sorted(found, key=lambda s: (s.at, s.list_slug))


@dataclass(frozen=True)
class Plan:
    start: dt.datetime
    end: dt.datetime
    steps: tuple[Step, ...]
    not_scheduled: tuple[str, ...]  # slugs of lists without [schedule]

    def lines(self) -> Iterable[str]:
        yield f"plan from {self.start:%Y-%m-%d %H:%M} UTC to {self.end:%Y-%m-%d %H:%M} UTC:"
        yield from (step.describe() for step in self.steps)
        if not self.steps:
            yield "nothing due"
        for slug in self.not_scheduled:
            yield f"{slug}: not scheduled (no [schedule] in its list file)"


def plan_lists(lists_dir: Path, start: dt.datetime, days: int, slug: str | None = None) -> Plan:
    """The plan of every list in `lists_dir` (or only `slug`) for `days` days from `start`."""
    start = start.astimezone(UTC)
    end = start + dt.timedelta(days=days)
    steps: list[Step] = []
    not_scheduled: list[str] = []
    for name in [slug] if slug else list_slugs(lists_dir):
        list_def = load_list(lists_dir, name)
        if list_def.schedule is None:
            not_scheduled.append(name)
        else:
            steps.extend(due_steps(name, list_def.schedule, start, end))
    steps.sort(key=lambda s: (s.at, s.list_slug))
    return Plan(start, end, tuple(steps), tuple(not_scheduled))
