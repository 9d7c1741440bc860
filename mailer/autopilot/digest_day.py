"""The weekly digest on the autopilot's watch (ARCHITECTURE.md, "Preferences"): on the list's
[digest] day, at the [schedule] time and after that day's issue (when the day has one) is past its
send, the digest is sent by send/digest.py's run_digest, under a lease of its own: the
autopilot_days row of ("<slug>/digest", the digest date). That row holds only the stage (done, or
missed when the week had no issue); the send itself is the ledger's, so a killed autopilot resumes
it at its next start and nothing goes twice.
"""

from __future__ import annotations

import datetime as dt

from mailer.autopilot.day import LATE_LIMIT, Autopilot
from mailer.autopilot.lease import Held, claim_day, heartbeat, read_day, release_day, update_day
from mailer.autopilot.plan import send_instant
from mailer.content.digest import weekday_name
from mailer.content.lists import ListDefinition
from mailer.errors import SendError
from mailer.send.campaign import SendOptions
from mailer.send.digest import run_digest
from mailer.store.models import FINAL_STAGES, DayStage
from mailer.transports import make_transport

# The issue of the digest day is past its send in these stages (or never began within its window).
ISSUE_SETTLED = frozenset({DayStage.SUMMARY, *FINAL_STAGES})


def digest_slug(list_slug: str) -> str:
    """autopilot_days.list_slug of a list's digests: beside its issue days, never one of them (a
    list slug has no '/')."""
    return f"{list_slug}/digest"


def digest_due(pilot: Autopilot, list_def: ListDefinition, now: dt.datetime) -> dt.date | None:
    """The digest date to work at `now`: today in the list's zone when it is the digest day, the
    schedule time has come, the day's issue (if the schedule has one today) is past its send, and
    the digest is not finished."""
    schedule = list_def.schedule
    if schedule is None or not list_def.digest.enabled:
        return None
    today = now.astimezone(schedule.zone).date()
    if weekday_name(today) != list_def.digest.day:
        return None
    send_at, _ = send_instant(schedule, today)
    if now < send_at:
        return None
    row = read_day(pilot.factory, digest_slug(list_def.slug), today)
    if row is not None and row.stage in FINAL_STAGES:
        return None
    if weekday_name(today) in schedule.days:
        issue = read_day(pilot.factory, list_def.slug, today)
        waiting = now < send_at + LATE_LIMIT  # an issue that never began: missed after this
        if (issue is None and waiting) or (issue is not None and issue.stage not in ISSUE_SETTLED):
            return None
    return today


def advance_digest(pilot: Autopilot, list_def: ListDefinition, now: dt.datetime) -> list[str]:
    """The list's digest, when due: the lines saying what was done."""
    day = digest_due(pilot, list_def, now)
    if day is None or pilot.stop.is_set():
        return []
    slug = digest_slug(list_def.slug)
    claimed = claim_day(pilot.factory, slug, day, pilot.worker)
    if isinstance(claimed, Held):
        return [f"{slug} {day}: another autopilot ({claimed.holder}) is sending it; nothing done"]
    try:
        with heartbeat(pilot.factory, claimed.id, pilot.worker, pilot.stop):
            return [_send(pilot, list_def, day, claimed.id)]
    finally:
        release_day(pilot.factory, claimed.id, pilot.worker)


def _send(pilot: Autopilot, list_def: ListDefinition, day: dt.date, day_id: int) -> str:
    options = SendOptions(rate=pilot.rate, guardrail=True, stop=pilot.stop)
    transport = make_transport(pilot.settings)
    try:
        summary = run_digest(pilot.factory, pilot.settings, list_def, day, transport, options)
    except SendError as exc:  # the week had no issue: nothing to send today, nor at a later wake
        update_day(pilot.factory, day_id, pilot.worker, stage=DayStage.MISSED, verdict=str(exc))
        return f"{digest_slug(list_def.slug)} {day}: no digest: {exc}"
    finally:
        transport.close()
    if summary.finished:
        update_day(pilot.factory, day_id, pilot.worker, stage=DayStage.DONE)
    return f"digest {summary.line()}"
