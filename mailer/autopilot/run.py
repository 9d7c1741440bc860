"""`mailer autopilot`: every scheduled list's days, at one instant (`--once`) or until stopped
(ARCHITECTURE.md, "The autopilot's day").

At an instant the days to look at are the scheduled local dates whose prepare time has come and
that are not finished: today's, and yesterday's while its send or summary is still going. A day is
worked only under its lease (autopilot/lease.py); one another autopilot holds is named and left.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailer.autopilot.day import LATE_LIMIT, Autopilot, Day
from mailer.autopilot.digest_day import advance_digest
from mailer.autopilot.lease import Held, claim_day, heartbeat, read_day, release_day
from mailer.autopilot.plan import UTC, due_steps, send_instant
from mailer.config import Settings
from mailer.content.lists import WEEKDAYS, ListDefinition, list_slugs, load_list
from mailer.errors import MailerError
from mailer.send.welcome import send_welcomes, welcomes_waiting
from mailer.send.workers import worker_name
from mailer.store.models import FINAL_STAGES
from mailer.track.queue import poll_events

log = logging.getLogger(__name__)

WAKE_EVERY = dt.timedelta(seconds=60)  # at most this long asleep: a blocked issue is retried
LOOK_BACK_DAYS = 2  # an unfinished day this old is still moved on (a long send, a late summary)


def queue_poller(settings: Settings, factory: sessionmaker[Session]) -> Callable[[], None] | None:
    """Drain the SES events queue once (None without MAILER_SQS_QUEUE_URL: events come through
    the webhook, or not at all)."""
    if not settings.sqs_queue_url:
        return None

    def poll() -> None:
        poll_events(settings, factory, once=True, wait_seconds=1)

    return poll


def scheduled_lists(settings: Settings, only: str | None = None) -> list[ListDefinition]:
    slugs = [only] if only else list_slugs(settings.lists_dir)
    found = [load_list(settings.lists_dir, slug) for slug in slugs]
    return [list_def for list_def in found if list_def.schedule is not None]


def open_days(pilot: Autopilot, list_def: ListDefinition, now: dt.datetime) -> Iterator[dt.date]:
    """The list's issue dates to move on at `now`, oldest first: prepare time reached, not
    finished, and either within the day's window or already begun (its row exists)."""
    schedule = list_def.schedule
    assert schedule is not None
    today = now.astimezone(schedule.zone).date()
    for back in range(LOOK_BACK_DAYS, -2, -1):
        day = today - dt.timedelta(days=back)
        if WEEKDAYS[day.weekday()] not in schedule.days:
            continue
        send_at, _ = send_instant(schedule, day)
        if now < send_at - dt.timedelta(minutes=schedule.prepare_before_minutes):
            continue
        row = read_day(pilot.factory, list_def.slug, day)
        if row is None and now >= send_at + LATE_LIMIT:
            continue  # never begun and its window is over: not ours to start now
        if row is not None and row.stage in FINAL_STAGES:
            continue
        yield day


def advance_list(pilot: Autopilot, list_def: ListDefinition, now: dt.datetime) -> list[str]:
    lines: list[str] = []
    for day in open_days(pilot, list_def, now):
        if pilot.stop.is_set():
            break
        claimed = claim_day(pilot.factory, list_def.slug, day, pilot.worker)
        if isinstance(claimed, Held):
            lines.append(
                f"{list_def.slug} {day}: another autopilot ({claimed.holder}) is working this day; "
                "nothing done here"
            )
            continue
        lost = pilot.stop  # losing the lease stops the send like SIGTERM: in-flight mail finishes
        try:
            with heartbeat(pilot.factory, claimed.id, pilot.worker, lost):
                lines.extend(Day(pilot, list_def, claimed).advance())
        finally:
            release_day(pilot.factory, claimed.id, pilot.worker)
    return lines


def run_once(pilot: Autopilot, only: str | None = None) -> list[str]:
    """Whatever is due at pilot.clock() for every scheduled list (or only `only`); the lines saying
    what was done."""
    lines: list[str] = []
    for list_def in scheduled_lists(pilot.settings, only):
        if pilot.stop.is_set():
            break
        lines.extend(advance_list(pilot, list_def, pilot.clock()))
        lines.extend(advance_digest(pilot, list_def, pilot.clock()))  # after the day's issue
    lines.extend(send_welcomes_left(pilot, only))
    return lines


def send_welcomes_left(pilot: Autopilot, only: str | None = None) -> list[str]:
    """Welcome mails the web app left queued (a crash, a transport that was down), for every list
    with [welcome] enabled, scheduled or not (send/welcome.py); a failure is a line, never the end
    of the autopilot's wake."""
    lines: list[str] = []
    for slug in [only] if only else list_slugs(pilot.settings.lists_dir):
        if pilot.stop.is_set():
            break
        try:
            list_def = load_list(pilot.settings.lists_dir, slug)
            if list_def.welcome.enabled and welcomes_waiting(pilot.factory, slug):
                lines.append(
                    send_welcomes(pilot.factory, pilot.settings, list_def, pilot.rate).line()
                )
        except MailerError as exc:
            lines.append(f"{slug} welcome mails: {exc}")
    return lines


def next_wake(pilot: Autopilot, only: str | None = None) -> dt.datetime:
    """The next planned step of any scheduled list, but never more than WAKE_EVERY away (blocked
    issues, waiting canaries and summaries are looked at again then)."""
    now = pilot.clock()
    wake = now + WAKE_EVERY
    for list_def in scheduled_lists(pilot.settings, only):
        steps = due_steps(list_def.slug, list_def.schedule, now + dt.timedelta(seconds=1), wake)
        if steps:
            wake = min(wake, steps[0].at)
    return wake


@dataclass
class Clock:
    """Now, or an instant given with --now that then runs on with the real clock."""

    start: dt.datetime | None = None

    def __post_init__(self) -> None:
        self._real_start = dt.datetime.now(UTC)

    def __call__(self) -> dt.datetime:
        real = dt.datetime.now(UTC)
        if self.start is None:
            return real
        return self.start.astimezone(UTC) + (real - self._real_start)


def make_pilot(
    settings: Settings,
    factory: sessionmaker[Session],
    clock: Callable[[], dt.datetime],
    stop: threading.Event | None = None,
    rate: float | None = None,
) -> Autopilot:
    return Autopilot(
        settings=settings,
        factory=factory,
        worker=worker_name(),
        clock=clock,
        poll=queue_poller(settings, factory),
        stop=stop or threading.Event(),
        rate=rate,
    )


def run_forever(
    pilot: Autopilot, only: str | None = None, echo: Callable[[str], None] = log.info
) -> None:
    """run_once, then sleep until the next wake, until pilot.stop is set (SIGTERM: the message in
    flight is finished first, by the send's own stop)."""
    while not pilot.stop.is_set():
        for line in run_once(pilot, only):
            echo(line)
        if pilot.stop.is_set():
            break
        wake = next_wake(pilot, only)
        pilot.stop.wait(max(0.0, (wake - pilot.clock()).total_seconds()))
