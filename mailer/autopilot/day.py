"""One list's issue of one day, moved on as far as the instant allows (ARCHITECTURE.md, "The
autopilot's day").

The stages (store.models.DayStage), each done by one method below, in order:

- prepare, from T - prepare_before_minutes: fetch trending (a failed source falls back to its
  newest snapshot), require the issue file, lint it with the send gate's rules. Anything missing or
  failing is alerted (an unchanged problem once) and tried again at every wake until T + LATE_LIMIT;
  past that the day is missed.
- canary, at T: the issue is checked again (the editor may have changed it) and the first
  `canary` recipients are sent; a rerun sends only what the ledger says is still missing of them.
- judge, at the canary's end + canary_wait_minutes: the events queue drained, the canary judged
  (send.guardrail.canary_verdict). Over a threshold, or no event at all where SES reports them: the
  send is paused, the day stopped, the editors alerted. Clean: the rest.
- rest: the whole send, with the guardrail on; at T when there is no canary.
- rest also rebuilds the static archive when the list sets [archive] static_dir.
- summary, SUMMARY_DELAY after the send ended: the queue drained again, the day's numbers posted.

Every stage is idempotent: the ledger says what was sent, the day's row what was decided, so an
autopilot killed anywhere and started again does only what is left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from mailer.archive import static
from mailer.autopilot.alerts import send_alert
from mailer.autopilot.lease import DayRow, update_day
from mailer.autopilot.plan import send_instant
from mailer.config import Settings
from mailer.content.lists import ListDefinition, Schedule
from mailer.content.load import load_issue_for
from mailer.content.model import IssueContent
from mailer.content.trending_config import trending_config
from mailer.content.trending_fetch import FetchResult, fetch_trending, raise_for_failures
from mailer.errors import MailerError
from mailer.render.lint import lint_issue
from mailer.send.campaign import RunEnd, SendOptions, SendSummary, run_send
from mailer.send.guardrail import NO_EVENTS
from mailer.send.launch import pool_size
from mailer.send.ledger import Ledger
from mailer.send.pipeline import STOPPED_REASON
from mailer.store.models import DayStage, DeliveryState, SendState
from mailer.track.report import report_issue
from mailer.transports import make_transport

log = logging.getLogger(__name__)

LATE_LIMIT = dt.timedelta(hours=6)  # an issue not sendable by T + this is missed, not sent late
SUMMARY_DELAY = dt.timedelta(minutes=60)  # after the send: time for deliveries and bounces
ON_TIME = dt.timedelta(minutes=1)
# A canary with no event at all is judged again at each wake for this long (events can be late, or
# a crashed poll left them invisible on the queue for its visibility timeout), then stopped.
NO_EVENTS_GRACE = dt.timedelta(minutes=10)  # a canary begun this soon after T is judged at T + wait

Fetch = Callable[[ListDefinition, dt.date], list[FetchResult]]
Poll = Callable[[], None]  # drains the SES events queue into the database; raises when it cannot


@dataclass
class Autopilot:
    """What every day of a run shares: the settings and database, who this autopilot is (the
    lease's holder name), the stop event (SIGTERM), the clock (injected in tests and with --now),
    how events are polled (None: no queue) and how trending is fetched."""

    settings: Settings
    factory: sessionmaker[Session]
    worker: str
    clock: Callable[[], dt.datetime]
    poll: Poll | None = None
    fetch: Fetch | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    rate: float | None = None  # messages per second of its sends (default: the send's own)

    def fetch_trending(self, list_def: ListDefinition, day: dt.date) -> list[FetchResult]:
        if self.fetch is not None:
            return self.fetch(list_def, day)
        return fetch_trending(self.factory, self.settings, list_def, day)

    @property
    def events_expected(self) -> bool:
        """Whether SES reports outcomes here: a canary with no events is then unjudged."""
        return self.settings.transport == "ses" or bool(self.settings.sqs_queue_url)


def _local(moment: dt.datetime, schedule: Schedule) -> str:
    return f"{moment.astimezone(schedule.zone):%H:%M} {schedule.timezone}"


class Day:
    """The day of (list, issue date) as this autopilot holds it: `advance` runs the stages that are
    due and returns the lines saying what it did."""

    def __init__(self, pilot: Autopilot, list_def: ListDefinition, row: DayRow):
        assert list_def.schedule is not None
        self.pilot, self.list_def, self.row = pilot, list_def, row
        self.schedule: Schedule = list_def.schedule
        self.send_at, _ = send_instant(self.schedule, row.issue_date)
        self.ledger = Ledger(pilot.factory)
        self.lines: list[str] = []

    # -- running -------------------------------------------------------------------------------
    def advance(self) -> list[str]:
        handlers = {
            DayStage.PREPARE: self.prepare,
            DayStage.CANARY: self.canary,
            DayStage.JUDGE: self.judge,
            DayStage.REST: self.rest,
            DayStage.SUMMARY: self.summary,
        }
        while self.row.stage in handlers and not self.pilot.stop.is_set():
            if not handlers[self.row.stage](self.pilot.clock()):
                break
        return self.lines

    def say(self, text: str) -> None:
        line = f"{self.list_def.slug} {self.row.issue_date}: {text}"
        log.info("autopilot %s", line)
        self.lines.append(line)

    def move(self, stage: DayStage, **values) -> None:
        update_day(self.pilot.factory, self.row.id, self.pilot.worker, stage=stage, **values)
        self.row = dataclasses.replace(self.row, stage=stage, **values)  # the row as now stored

    def alert(self, state: str, text: str, key: str | None = None) -> None:
        """Alert the list's targets, unless the same alert (`state` and `key`, by default the text)
        was the last one sent for this day. Sent before the stage it reports is stored: a crash in
        between sends it again at the next start, never loses it."""
        key = f"{state}: {key if key is not None else text}"
        if key == self.row.last_alert:
            self.say(f"{state} (alerted already): {text}")
            return
        transport = make_transport(self.pilot.settings)
        try:
            send_alert(self.list_def, transport, text, self.row.issue_date.isoformat(), state)
        finally:
            transport.close()
        self.move(self.row.stage, last_alert=key)
        self.say(f"{state}, alerted: {text}")

    # -- the send's facts ------------------------------------------------------------------------
    def _status(self) -> dict:
        return self.ledger.status(self.list_def.slug, self.row.issue_date)

    def _handed_over(self) -> int:
        """Recipients the send has already handed to the transport (whatever came of it)."""
        counts = self._status()["counts"]
        untouched = counts.get(DeliveryState.QUEUED, 0) + counts.get(DeliveryState.SKIPPED, 0)
        return sum(counts.values()) - untouched

    def _settle_abandoned(self) -> None:
        """Rows a killed autopilot left in flight, settled now by the transport's word (written or
        not), so that the canary's count of what was handed over is true before it tops up."""
        send_id = self._status().get("send_id")
        if send_id is None:
            return
        batch = f"{self.list_def.slug}/{self.row.issue_date.isoformat()}"
        transport = make_transport(self.pilot.settings)
        try:
            lease = dt.timedelta(seconds=SendOptions().lease_seconds)
            self.ledger.settle_abandoned(send_id, lease, lambda d: transport.was_sent(batch, d))
        finally:
            transport.close()

    def _missed(self, now: dt.datetime) -> bool:
        """Past the day's window with nothing sent: the day is missed (alerted once)."""
        if now < self.send_at + LATE_LIMIT or self._handed_over():
            return False
        reason = (self.row.last_alert or "").partition(": ")[2] or "it never became ready"
        self.alert(
            "missed",
            f"the issue was not sent: still not ready {LATE_LIMIT.seconds // 3600} hours after "
            f"{_local(self.send_at, self.schedule)}; last problem: {reason}",
        )
        self.move(DayStage.MISSED)
        return True

    # -- checking the issue --------------------------------------------------------------------
    def _fetch(self) -> list[str]:
        """Trending for the day: problems only when a source failed with nothing to fall back on."""
        if not trending_config(self.list_def).enabled:
            return []
        try:
            results = self.pilot.fetch_trending(self.list_def, self.row.issue_date)
            raise_for_failures(results)
        except MailerError as exc:
            return [f"trending: {exc}"]
        for result in results:
            if result.error is not None:
                self.say(
                    f"trending {result.source} failed, using the older snapshot: {result.error}"
                )
        return []

    def _issue(self, lint: bool) -> tuple[IssueContent | None, list[str]]:
        """The day's issue as the send would load it, and what stops it from going out."""
        settings, day = self.pilot.settings, self.row.issue_date
        try:
            content = load_issue_for(
                settings, self.list_def, day.isoformat(), today=day, factory=self.pilot.factory
            )
        except MailerError as exc:
            return None, [str(exc)]
        if not lint:
            return content, []
        errors = [f for f in lint_issue(settings, self.list_def, content) if f.level == "error"]
        return content, [f"{content.path}: {f.line()}" for f in errors]

    def _blocked(self, now: dt.datetime, problems: list[str]) -> None:
        at = _local(self.send_at, self.schedule)
        late = now >= self.send_at
        if not late:
            minutes = int((self.send_at - now).total_seconds() // 60)
            head = f"not ready for {at} ({minutes} min left)"
        else:
            until = _local(self.send_at + LATE_LIMIT, self.schedule)
            head = f"not sent at {at}: retrying until {until}"
        detail = "; ".join(problems)
        # the countdown changes at every wake, the problem does not: alerted again only when the
        # problem changes or the send time passes
        self.alert("blocked", f"{head}: {detail}", key=f"{'late' if late else 'early'}: {detail}")

    # -- the stages ----------------------------------------------------------------------------
    def prepare(self, now: dt.datetime) -> bool:
        if self._missed(now):
            return False
        problems = self._fetch()
        _, issue_problems = self._issue(lint=True)
        problems += issue_problems
        if problems:
            self._blocked(now, problems)
            return False
        if (self.row.last_alert or "").startswith("blocked:"):
            self.alert(
                "ready", f"fixed: the issue is ready for {_local(self.send_at, self.schedule)}"
            )
        if now < self.send_at:
            self.say(f"ready; sends at {_local(self.send_at, self.schedule)}")
            return False
        self.move(DayStage.CANARY if self.schedule.canary > 0 else DayStage.REST)
        return True

    def canary(self, now: dt.datetime) -> bool:
        if self._missed(now):
            return False
        self._settle_abandoned()
        handed = self._handed_over()
        content, problems = self._issue(lint=handed == 0)  # once started, the stored render goes
        if problems or content is None:
            self._blocked(now, problems)
            return False
        remaining = self.schedule.canary - handed
        while remaining > 0:
            summary = self._send(content, limit=remaining)
            if summary.state not in (RunEnd.CANARY, RunEnd.DONE):
                return self._send_stopped(summary)
            self.say(f"canary: sent {summary.sent_now} -> {summary.destination}")
            # Counted before the run, rows a killed autopilot left in flight looked handed over;
            # the run settled them (those never written went back to the queue): top up to the
            # canary's size, as long as each round gets closer.
            left = self.schedule.canary - self._handed_over()
            if summary.state == RunEnd.DONE or left >= remaining:
                break
            remaining = left
        if not self._status()["counts"].get(DeliveryState.QUEUED):
            # the whole list fitted in the canary: nothing is left to judge it for
            self.move(DayStage.SUMMARY, summary_at=self.pilot.clock() + SUMMARY_DELAY)
            return True
        # counted from T, as planned, when the canary began on time; else from when it began
        began = self.send_at if now - self.send_at < ON_TIME else now
        judge_at = began + dt.timedelta(minutes=self.schedule.canary_wait_minutes)
        self.move(DayStage.JUDGE, judge_at=judge_at)
        self.say(f"canary sent; judged at {_local(judge_at, self.schedule)}")
        return True

    def judge(self, now: dt.datetime) -> bool:
        assert self.row.judge_at is not None
        if now < self.row.judge_at:
            self.say(
                f"waiting for the canary's events until {_local(self.row.judge_at, self.schedule)}"
            )
            return False
        if not self._poll():
            return False
        status = self._status()
        verdict = self.ledger.canary_verdict(
            status["send_id"], self.list_def.bounce_policy, self.pilot.events_expected
        )
        if verdict and verdict.startswith(NO_EVENTS) and now < self.row.judge_at + NO_EVENTS_GRACE:
            until = _local(self.row.judge_at + NO_EVENTS_GRACE, self.schedule)
            self.say(f"no events for the canary yet; judged again at each wake until {until}")
            return False
        if verdict:
            self.ledger.set_state(status["send_id"], SendState.PAUSED, verdict)
            self.alert("paused", f"the rest was not sent: {verdict}")
            self.move(DayStage.STOPPED, verdict=verdict)
            return False
        self.move(DayStage.REST, verdict="clean")
        self.say("canary clean: sending the rest")
        return True

    def rest(self, now: dt.datetime) -> bool:
        handed = self._handed_over()
        content, problems = self._issue(lint=handed == 0)
        if problems or content is None:
            if handed == 0 and self._missed(now):
                return False
            self._blocked(now, problems)
            return False
        summary = self._send(content, limit=None)
        if summary.state != RunEnd.DONE:
            return self._send_stopped(summary)
        self.say(summary.line())
        self._rebuild_archive()
        self.move(DayStage.SUMMARY, summary_at=self.pilot.clock() + SUMMARY_DELAY)
        return True

    def _rebuild_archive(self) -> None:
        """The static site of [archive] static_dir, rebuilt with today's issue in it. A failure is
        alerted and leaves the previous site (static.py swaps a whole new one in): the day goes on,
        and `mailer archive build` can be run by hand."""
        folder = self.list_def.archive.static_dir
        if folder is None:
            return
        try:
            built = static.build(
                self.pilot.factory, self.list_def, folder, self.pilot.settings.base_url
            )
        except MailerError as exc:
            self.alert("archive", f"the static archive was not rebuilt: {exc}")
            return
        self.say(f"static archive rebuilt: {built.line()}")

    def summary(self, now: dt.datetime) -> bool:
        assert self.row.summary_at is not None
        if now < self.row.summary_at:
            return False
        self._poll()  # best effort: a summary with the events so far beats none
        report = report_issue(self.pilot.factory, self.list_def.slug, self.row.issue_date)
        text = (
            f"sent {report.sent}, delivered {report.delivered}, bounced {report.bounced_hard} hard "
            f"and {report.bounced_soft} soft, complained {report.complained}, "
            f"unsubscribed {report.unsubscribed}"
        )
        if report.failed or report.unknown:
            text += f"; failed {report.failed}, unknown {report.unknown}"
        self.alert("sent", text)
        self.move(DayStage.DONE)
        return False

    # -- helpers of the stages -----------------------------------------------------------------
    def _send(self, content: IssueContent, limit: int | None) -> SendSummary:
        settings = self.pilot.settings
        options = SendOptions(
            rate=self.pilot.rate, limit=limit, guardrail=True, stop=self.pilot.stop
        )
        transport = make_transport(settings, pool_size=pool_size(settings, options))
        try:
            return run_send(
                self.pilot.factory, settings, self.list_def, content, transport, options
            )
        finally:
            transport.close()

    def _send_stopped(self, summary: SendSummary) -> bool:
        """A run that ended before its part was done: SIGTERM (resumed at the next start), the
        guardrail (the day stops: an operator decides) or anything else (alerted, retried)."""
        reason = summary.pause_reason or "other workers still hold rows of the send"
        if reason == STOPPED_REASON:
            self.say(summary.line())
            return False
        if reason.startswith("guardrail:"):
            self.alert("paused", reason)
            self.move(DayStage.STOPPED, verdict=reason)
            return False
        self.alert("paused", f"{reason} (the autopilot tries again at its next wake)")
        return False

    def _poll(self) -> bool:
        if self.pilot.poll is None:
            return True
        try:
            self.pilot.poll()
        except Exception as exc:  # noqa: BLE001 - alerted; the judgement waits for the events
            self.alert("events-failing", f"cannot read the SES events queue: {exc}")
            return False
        return True
