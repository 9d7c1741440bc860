"""Plan, send and resume an issue through the ledger (ARCHITECTURE.md: "The ledger").

The claim is committed before the transport is called and the outcome right after it, so a crash
leaves every recipient in a state that says what happened to them. Every transaction is the
ledger's (send.ledger.Ledger); this module decides what runs when.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.content.load import issue_date_for
from mailer.content.model import IssueContent
from mailer.errors import SendError
from mailer.render.click_links import ClickRewrite
from mailer.render.issue import RenderedIssue, render_issue
from mailer.send import guardrail
from mailer.send.ledger import ClaimedDelivery, Ledger, PlannedSend, StoredIssue
from mailer.send.links import LinkMaker
from mailer.send.message import MessageSkeleton, Recipient
from mailer.send.pacing import TokenBucket, default_pool_size, effective_rate
from mailer.send.pipeline import Pipeline, RunResult
from mailer.send.processes import run_in_processes
from mailer.send.workers import worker_name
from mailer.store.models import ACCEPTED, DeliveryState, SendState
from mailer.transports import AccountLimits, OutgoingMessage, Transport

log = logging.getLogger(__name__)
UNPACED_RATE = 5000.0  # the local outbox has no provider limit to respect
MAX_RETRY_WAIT = 120.0  # seconds a run waits for retries before it pauses and asks for a rerun


class RunEnd(StrEnum):
    """How a run ended (SendSummary.state): two send states, and two a run tells apart."""

    DONE = SendState.DONE.value  # every row settled
    PAUSED = SendState.PAUSED.value  # stopped with a reason (quota, guardrail, transport down, ...)
    CANARY = "canary"  # stopped by --limit; the send is stored as paused
    RUNNING = "running"  # other workers still hold rows; the send is stored as sending


# What the send row says after a run that ended so.
_STORED_STATE = {
    RunEnd.DONE: SendState.DONE,
    RunEnd.PAUSED: SendState.PAUSED,
    RunEnd.CANARY: SendState.PAUSED,
    RunEnd.RUNNING: SendState.SENDING,
}


@dataclass(frozen=True)
class PreparedIssue:
    issue_id: int
    list_id: int
    content: IssueContent
    rendered: RenderedIssue
    # send_id -> MessageSkeleton: the MIME bytes shared by every message of a send, built once
    skeletons: dict = field(default_factory=dict, compare=False, repr=False)
    clicks: ClickRewrite | None = None  # its send counts clicks: how its links are rewritten

    @property
    def batch(self) -> str:
        return f"{self.content.list_slug}/{self.content.date.isoformat()}"

    @property
    def day(self) -> dt.date:
        return self.content.date


@dataclass(frozen=True)
class PreparedMail:
    """A send's messages that are not an issue's (a weekly digest: send/digest.py) as `deliver`
    builds them: the stored render, the transport's name for the batch (the outbox folder) and
    the date the send is known by. No click tracking: their links are as written."""

    list_id: int
    rendered: RenderedIssue
    batch: str
    day: dt.date
    skeletons: dict = field(default_factory=dict, compare=False, repr=False)
    clicks: ClickRewrite | None = None


@dataclass(frozen=True)
class SendSummary:
    send_id: int
    list_name: str
    issue_date: dt.date
    counts: dict[str, int]
    sent_now: int
    state: RunEnd
    pause_reason: str | None
    destination: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        c = {state: self.counts.get(state, 0) for state in DeliveryState}
        done = sum(c[state] for state in ACCEPTED)
        head = f"{self.list_name} {self.issue_date}: "
        skipped, failed = c[DeliveryState.SKIPPED], c[DeliveryState.FAILED]
        if self.sent_now == 0 and self.state == RunEnd.DONE:
            return (
                head + f"nothing to send: all {done} of {self.total} recipients were already sent"
                f" ({skipped} skipped, {failed} failed); no message sent twice"
            )
        text = (
            head + f"sent {self.sent_now} now, {done} of {self.total} in total; "
            f"{skipped} skipped, {failed} failed, {c[DeliveryState.UNKNOWN]} unknown, "
            f"{c[DeliveryState.QUEUED]} queued -> {self.destination}"
        )
        if c[DeliveryState.SENDING]:
            text += f", {c[DeliveryState.SENDING]} being sent by other workers"
        if self.state in (RunEnd.PAUSED, RunEnd.CANARY):
            label = "PAUSED" if self.state == RunEnd.PAUSED else "CANARY"
            text += f"; {label}: {self.pause_reason}"
        return text

    @property
    def finished(self) -> bool:
        """Nothing is left for this run to do (a canary and other workers' rows count as
        finished)."""
        return self.state in (RunEnd.DONE, RunEnd.CANARY, RunEnd.RUNNING)


def _renderer(
    settings: Settings, list_def: ListDefinition, content: IssueContent
) -> Callable[[], RenderedIssue]:
    return lambda: render_issue(content, list_def, settings.base_url)


def _prepared(
    content: IssueContent,
    stored: StoredIssue,
    settings: Settings | None = None,
    planned: PlannedSend | None = None,
) -> PreparedIssue:
    """The issue as its send's messages are built; with `planned`, its links as it counts them."""
    clicks = None
    if planned is not None and planned.click_tracking:
        clicks = ClickRewrite.for_send(
            stored.rendered,
            settings.base_url,
            settings.require_secret_key(),
            planned.send_id,
            planned.links,
        )
    return PreparedIssue(stored.issue_id, stored.list_id, content, stored.rendered, clicks=clicks)


def tracks_clicks(list_def: ListDefinition, click_tracking: bool) -> bool:
    """Whether a send planned now counts clicks: the list's [analytics] clicks, unless the operator
    said no (`mailer send --no-click-tracking`)."""
    return list_def.analytics.clicks and click_tracking


def check_click_option(planned: PlannedSend, click_tracking: bool) -> None:
    """`--no-click-tracking` on a send planned with counted links is refused: a resumed send does
    what it began with (some readers already have counted links), and ignoring the flag would
    leave the operator believing nothing is counted."""
    if planned.click_tracking and not click_tracking:
        raise SendError(
            f"send {planned.send_id} was planned with click tracking and keeps it (a resumed send "
            "does what it began with): rerun without --no-click-tracking; it applies when an "
            "issue's send is planned"
        )


def store_issue(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
) -> PreparedIssue:
    """Render and store the issue (no send planned). Once a send has started, its stored render is
    what goes out."""
    stored = Ledger(factory).store_issue(list_def, content, _renderer(settings, list_def, content))
    return _prepared(content, stored)


def plan_issue(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    click_tracking: bool = True,
) -> tuple[PreparedIssue, PlannedSend]:
    """The issue rendered and stored and its send planned (its ledger frozen), once: a later call,
    or another process, finds what the first one planned. `click_tracking` False: the send does
    not count clicks even when the list's [analytics] says so."""
    render = _renderer(settings, list_def, content)
    tracking = tracks_clicks(list_def, click_tracking)
    stored, planned = Ledger(factory).plan(list_def, content, render, tracking, settings.base_url)
    return _prepared(content, stored, settings, planned), planned


def personal_message(
    prepared: PreparedIssue | PreparedMail,
    list_def: ListDefinition,
    send_id: int,
    recipient: Recipient,
) -> bytes:
    skeleton = prepared.skeletons.get(send_id)
    if skeleton is None:
        skeleton = prepared.skeletons[send_id] = MessageSkeleton(
            prepared.rendered, list_def, send_id, prepared.clicks
        )
    return skeleton.message(recipient)


@dataclass(frozen=True)
class SendOptions:
    rate: float | None = None  # messages per second; default: settings.send_rate
    concurrency: int | None = None  # calls in flight; default: sized from the rate
    limit: int | None = None  # a canary: hand over at most this many messages, then stop
    resend_unknown: bool = False
    lease_seconds: float = 120.0
    max_retry_wait: float = MAX_RETRY_WAIT
    guardrail: bool = True  # pause when bounce/complaint rates cross the list's thresholds
    processes: int = (
        1  # sender processes sharing the send (rate, pool and quota are split between them)
    )
    # False (`--no-click-tracking`): a send planned now carries the links as written, whatever the
    # list's [analytics] clicks says; refused on a send already planned with counted links.
    click_tracking: bool = True
    stop: threading.Event | None = field(default=None, compare=False)  # set: finish and stop


def _builder(
    prepared: PreparedIssue | PreparedMail, list_def: ListDefinition, links: LinkMaker, send_id: int
):
    def build(claim: ClaimedDelivery) -> OutgoingMessage:
        recipient = links.recipient(
            claim.id,
            claim.subscriber_id,
            claim.email,
            claim.name,
            claim.message_id,
            plain_links=claim.plain_links,
        )
        raw = personal_message(prepared, list_def, send_id, recipient)
        return OutgoingMessage(
            delivery_id=claim.id,
            send_id=send_id,
            recipient=claim.email,
            raw=raw,
            batch=prepared.batch,
            tags={"send_id": str(send_id), "delivery_id": str(claim.id)},
        )

    return build


def _guard(ledger: Ledger, send_id: int, list_def: ListDefinition, total: int) -> guardrail.Cadence:
    policy = list_def.bounce_policy
    return guardrail.Cadence(lambda: ledger.guardrail_breach(send_id, policy), total)


def _was_sent(transport: Transport, batch: str) -> Callable[[int], bool | None]:
    """The transport's word on a delivery a dead worker left in flight (None: it cannot tell)."""
    return lambda delivery_id: transport.was_sent(batch, delivery_id)


def _start(
    ledger: Ledger,
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    options: SendOptions,
) -> tuple[PreparedIssue, PlannedSend]:
    """The issue planned (once) and prepared for its messages."""
    tracking = tracks_clicks(list_def, options.click_tracking)
    render = _renderer(settings, list_def, content)
    stored, planned = ledger.plan(list_def, content, render, tracking, settings.base_url)
    check_click_option(planned, options.click_tracking)
    return _prepared(content, stored, settings, planned), planned


def _share_limits(limits: AccountLimits | None, share: int) -> AccountLimits | None:
    """One sender process's part of the 24-hour quota (the rate is split by its own bucket)."""
    if limits is None or share == 1 or limits.remaining_24h is None:
        return limits
    return dataclasses.replace(limits, max_24h=limits.sent_24h + limits.remaining_24h / share)


def _final_state(counts: dict[str, int], result: RunResult) -> tuple[RunEnd, str | None]:
    if result.pause_reason:
        return RunEnd.PAUSED, result.pause_reason
    if counts.get(DeliveryState.QUEUED):
        if result.stopped_by_limit:
            reason = (
                f"stopped after {result.handed_over} messages (--limit); rerun to send the rest"
            )
            return RunEnd.CANARY, reason
        return RunEnd.PAUSED, "messages are still queued; rerun to resume"
    if counts.get(DeliveryState.SENDING):
        return RunEnd.RUNNING, None
    return RunEnd.DONE, None


def run_send(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    transport: Transport,
    options: SendOptions | None = None,
    on_outcome: Callable[[str], None] | None = None,
) -> SendSummary:
    """Plan (once) and send; resumes whatever an earlier or crashed run left. Safe to run in several
    processes at once on PostgreSQL (`mailer send --worker`)."""
    options = options or SendOptions()
    settings.require_secret_key()
    limits = transport.limits()  # before planning: a paused account or a bad credential stops here
    ledger = Ledger(factory)
    prepared, planned = _start(ledger, settings, list_def, content, options)
    return deliver(
        ledger, settings, list_def, prepared, planned, transport, limits, options, on_outcome
    )


def deliver(
    ledger: Ledger,
    settings: Settings,
    list_def: ListDefinition,
    prepared: PreparedIssue | PreparedMail,
    planned: PlannedSend,
    transport: Transport,
    limits: AccountLimits | None,
    options: SendOptions,
    on_outcome: Callable[[str], None] | None = None,
) -> SendSummary:
    """Run a planned send to its end (an issue's, or a digest's: send/digest.py): abandoned rows
    settled, paced pipelines (or sender processes), the send's state stored. `limits`: the
    transport's, read before planning."""
    send_id = planned.send_id
    lease = dt.timedelta(seconds=options.lease_seconds)
    ledger.prepare_run(
        send_id,
        list_def.domain,
        lease,
        _was_sent(transport, prepared.batch),
        resend_unknown=options.resend_unknown,
    )
    configured = options.rate or (
        settings.send_rate if getattr(transport, "paced", True) else UNPACED_RATE
    )
    rate = effective_rate(configured, limits.max_send_rate if limits else None)
    pool = options.concurrency or default_pool_size(rate)
    processes = options.processes if options.limit is None and hasattr(transport, "clone") else 1

    def make(share: int = 1, **kwargs) -> Pipeline:
        guard = None
        if options.guardrail:
            guard = _guard(ledger, send_id, list_def, math.ceil(planned.planned_count / share))
        return Pipeline(
            ledger,
            transport.clone() if share > 1 else transport,
            send_id=send_id,
            list_id=prepared.list_id,
            worker=worker_name(),
            bucket=TokenBucket(rate / share),
            pool_size=max(1, math.ceil(pool / share)),
            limits=_share_limits(limits, share),
            build=_builder(prepared, list_def, LinkMaker(settings, list_def), send_id),
            lease_seconds=options.lease_seconds,
            down_after=settings.transport_down_after,
            guard=guard,
            stop=options.stop,
            **kwargs,
        )

    ledger.set_state(send_id, SendState.SENDING)
    if processes > 1:
        result = run_in_processes(
            processes, lambda: make(processes), ledger, send_id, options.max_retry_wait, on_outcome
        )
        # rows of a sender process that died
        ledger.settle_abandoned(send_id, lease, _was_sent(transport, prepared.batch))
    else:
        result = make(on_outcome=on_outcome).run(
            limit=options.limit, max_retry_wait=options.max_retry_wait
        )
    counts = ledger.counts(send_id)
    state, reason = _final_state(counts, result)
    ledger.set_state(send_id, _STORED_STATE[state], reason)
    return SendSummary(
        send_id=send_id,
        list_name=list_def.name,
        issue_date=prepared.day,
        counts=counts,
        sent_now=result.by_state.get(DeliveryState.SENT, 0),
        state=state,
        pause_reason=reason,
        destination=transport.describe(prepared.batch),
    )


@dataclass(frozen=True)
class PlanPreview:
    counts: dict[str, int]  # the ledger as a send would find it (planned now if it was not yet)
    already_planned: bool
    sample_bytes: int  # size of one personalised message
    click_tracking: bool = False  # its links are counted redirects
    counted_links: int = 0


def preview_plan(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    click_tracking: bool = True,
) -> PlanPreview:
    """Render and plan inside a transaction that is rolled back: what a send would do, changing
    nothing. `click_tracking` as in SendOptions (a SendError when it cannot be honoured)."""
    settings.require_secret_key()
    stored, planned, counts = Ledger(factory).preview(
        list_def,
        content,
        _renderer(settings, list_def, content),
        tracks_clicks(list_def, click_tracking),
        settings.base_url,
    )
    check_click_option(planned, click_tracking)
    sample = LinkMaker(settings, list_def).recipient(0, 0, "reader@example.com", "Sample Reader")
    prepared = _prepared(content, stored, settings, planned)
    size = len(personal_message(prepared, list_def, planned.send_id, sample))
    return PlanPreview(
        counts=counts,
        already_planned=not planned.newly_planned,
        sample_bytes=size,
        click_tracking=planned.click_tracking,
        counted_links=len(planned.links),
    )


def send_test(
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    transport: Transport,
    address: str,
) -> str:
    """One message to `address`, outside the ledger (not counted, no state changed). Its links carry
    a subscriber id of 0, so they lead nowhere; its content links are as written (it belongs to no
    send whose clicks could be counted)."""
    settings.require_secret_key()
    rendered = render_issue(content, list_def, settings.base_url)
    prepared = PreparedIssue(issue_id=0, list_id=0, content=content, rendered=rendered)
    recipient = LinkMaker(settings, list_def).recipient(0, 0, address, "")
    raw = personal_message(prepared, list_def, 0, recipient)
    return transport.send(
        OutgoingMessage(
            delivery_id=0,
            send_id=0,
            recipient=address,
            raw=raw,
            batch=f"{prepared.batch}/test",
            tags={"send_id": "test"},
        )
    )


def send_status(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    spec: str,
    today: dt.date | None = None,
) -> dict:
    """Counts by state and the pause reason of the send of the issue `spec` names, as plain data
    (for text or JSON). Reads only: the issue's body is not parsed, and a list or send the database
    does not have yet is "not planned"."""
    issue_date = issue_date_for(settings, list_def, spec, today)
    return Ledger(factory).status(list_def.slug, issue_date)
