"""Plan, send and resume an issue through the ledger (DESIGN: "Send: the ledger").

The claim is committed before the transport is called and the outcome right after it, so a crash
leaves every recipient in a state that says what happened to them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.send import guardrail
from mailer.audience.lists import ensure_list
from mailer.store import queries as store
from mailer.config import Settings
from mailer.content.issue_file import load_issue
from mailer.content.lists import ListDefinition
from mailer.content.model import IssueContent
from mailer.content.resolve import resolve_issue
from mailer.content.trending import attach_trending
from mailer.send.links import LinkMaker
from mailer.store.db import transaction
from mailer.send.pipeline import Pipeline, RunResult
from mailer.send.processes import run_in_processes
from mailer.errors import SendError
from mailer.send.message import MessageSkeleton, Recipient, greeting
from mailer.store.models import ACCEPTED, Delivery, Issue, MailingList, Send, utcnow
from mailer.send.pacing import TokenBucket, default_pool_size, effective_rate
from mailer.render.qr import with_data_uris
from mailer.render.issue import RenderedIssue, render_issue
from mailer.transports import AccountLimits, OutgoingMessage, Transport

log = logging.getLogger(__name__)
UNPACED_RATE = 5000.0  # the local outbox has no provider limit to respect
MAX_RETRY_WAIT = 120.0  # seconds a run waits for retries before it pauses and asks for a rerun


@dataclass(frozen=True)
class PreparedIssue:
    issue_id: int
    list_id: int
    content: IssueContent
    rendered: RenderedIssue
    # send_id -> MessageSkeleton: the MIME bytes shared by every message of a send, built once
    skeletons: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def batch(self) -> str:
        return f"{self.content.list_slug}/{self.content.date.isoformat()}"


@dataclass(frozen=True)
class SendSummary:
    send_id: int
    list_name: str
    issue_date: dt.date
    counts: dict[str, int]
    sent_now: int
    state: str  # done | paused | canary (stopped by --limit) | running (other workers hold rows)
    pause_reason: str | None
    destination: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        c = self.counts
        done = sum(c.get(state, 0) for state in ACCEPTED)
        head = f"{self.list_name} {self.issue_date}: "
        if self.sent_now == 0 and self.state == "done":
            return (head + f"nothing to send: all {done} of {self.total} recipients were already sent"
                    f" ({c.get('skipped', 0)} skipped, {c.get('failed', 0)} failed); no message sent twice")
        text = (head + f"sent {self.sent_now} now, {done} of {self.total} in total; "
                f"{c.get('skipped', 0)} skipped, {c.get('failed', 0)} failed, {c.get('unknown', 0)} unknown, "
                f"{c.get('queued', 0)} queued -> {self.destination}")
        if c.get("sending"):
            text += f", {c['sending']} being sent by other workers"
        if self.state in ("paused", "canary"):
            text += f"; {'PAUSED' if self.state == 'paused' else 'CANARY'}: {self.pause_reason}"
        return text

    @property
    def finished(self) -> bool:
        """Nothing is left for this run to do (a canary and other workers' rows count as finished)."""
        return self.state in ("done", "canary", "running")


def issue_defaults(list_def: ListDefinition) -> dict[str, str]:
    return {"masthead": list_def.name, "tagline": list_def.tagline}


def load_issue_for(settings: Settings, list_def: ListDefinition, spec: str, today: dt.date | None = None,
                   factory: sessionmaker[Session] | None = None, require_fresh: bool = False) -> IssueContent:
    """The issue file for `spec`, with trending sections from the stored snapshots when a database
    is given (sections the editor wrote always win; nothing is fetched here)."""
    path = resolve_issue(spec, settings.issues_path, list_def.slug, today)
    content = load_issue(path, issue_defaults(list_def))
    if content.list_slug != list_def.slug:
        raise SendError(f"{path}: front matter says list '{content.list_slug}' but the send is for '{list_def.slug}'")
    if factory is not None:
        with transaction(factory) as session:
            content = attach_trending(content, session, list_def, today or dt.date.today(), require_fresh)
    return content


def _content_hash(rendered: RenderedIssue) -> str:
    digest = hashlib.sha256()
    for part in (rendered.subject, rendered.preheader, rendered.html, rendered.text):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _hold_planning_lock(session: Session, list_slug: str, day: dt.date) -> None:
    """Make the rest of this transaction the only planner of the issue, so that processes started
    together on a fresh issue plan it once and the later ones find the first one's render and ledger
    (read before, the row the other process was inserting is invisible and its insert then collides).

    PostgreSQL: a transaction-level advisory lock keyed by list and date, released at commit or
    rollback. SQLite: its one write lock, taken now by a write that changes nothing rather than at the
    first insert, so that every read after it sees what the process before committed.
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"mailer plan {list_slug} {day.isoformat()}".encode()).digest()
        session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))
    else:
        session.execute(update(MailingList).where(false()).values(name=MailingList.name))


def prepare_issue(session: Session, settings: Settings, list_def: ListDefinition,
                  content: IssueContent) -> PreparedIssue:
    """Render and store the issue. Once a send has started, its stored render is what goes out."""
    _hold_planning_lock(session, list_def.slug, content.date)
    list_id = ensure_list(session, list_def)
    this_issue = (Issue.list_id == list_id, Issue.issue_date == content.date)
    row = session.scalar(select(Issue).where(*this_issue))
    started = row is not None and session.scalar(select(Send.id).where(Send.issue_id == row.id)) is not None
    if started:
        rendered = RenderedIssue(subject=row.subject, preheader=content.preheader, html=row.html, text=row.text)
        return PreparedIssue(row.id, list_id, content, rendered)
    rendered = render_issue(content, list_def, settings.base_url)
    values = dict(subject=rendered.subject, source_path=content.path, content_hash=_content_hash(rendered),
                  html=rendered.html, text=rendered.text)
    if row is None:  # ON CONFLICT: a writer that did not take the planning lock cannot make this fail
        session.execute(store.dialect_insert(session, Issue).values(list_id=list_id, issue_date=content.date, **values)
                        .on_conflict_do_nothing(index_elements=["list_id", "issue_date"]))
    else:
        session.execute(update(Issue).where(Issue.id == row.id).values(**values))
    return PreparedIssue(session.scalar(select(Issue.id).where(*this_issue)), list_id, content, rendered)


def get_or_plan_send(session: Session, prepared: PreparedIssue) -> Send:
    """The issue's send, planned (its ledger frozen) by whichever process creates the send row."""
    send = session.scalar(select(Send).where(Send.issue_id == prepared.issue_id))
    if send is not None:
        return send
    send_id = session.scalar(store.dialect_insert(session, Send)
                             .values(issue_id=prepared.issue_id, list_id=prepared.list_id, state="planned")
                             .on_conflict_do_nothing(index_elements=["issue_id"]).returning(Send.id))
    if send_id is not None:  # None: another writer created it (and planned it) first
        planned = store.plan_deliveries(session, send_id, prepared.list_id)
        session.execute(update(Send).where(Send.id == send_id).values(planned_count=planned))
    return session.scalar(select(Send).where(Send.issue_id == prepared.issue_id))


def ledger_counts(session: Session, send_id: int) -> dict[str, int]:
    rows = session.execute(select(Delivery.state, func.count()).where(Delivery.send_id == send_id)
                           .group_by(Delivery.state))
    return {state: count for state, count in rows}


def _recover_interrupted(session: Session, send_id: int, transport: Transport, batch: str,
                         lease_seconds: float) -> int:
    """Rows left 'sending' by a dead worker: settled if the transport can tell, else 'unknown'.
    Rows of live workers (same host and process alive, or lease renewed) are left alone."""
    stuck = store.abandoned_claims(session, send_id, dt.timedelta(seconds=lease_seconds), worker_is_dead)
    for claim in stuck:
        outcome = transport.was_sent(batch, claim.id)
        store.settle_abandoned(session, claim, {True: "sent", False: "queued", None: "unknown"}[outcome])
    return len(stuck)


def worker_name() -> str:
    """host:pid:nonce, unique per run (claimed_by)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{os.urandom(3).hex()}"


def worker_is_dead(claimed_by: str) -> bool:
    """True when `claimed_by` names a process on this host that no longer runs; other hosts' workers
    are judged by their lease only."""
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname()[:60] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # an earlier run in this process: every run settles its rows before returning
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (killed, not yet reaped) is dead too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def personal_message(prepared: PreparedIssue, list_def: ListDefinition, send_id: int, recipient: Recipient) -> bytes:
    skeleton = prepared.skeletons.get(send_id)
    if skeleton is None:
        skeleton = prepared.skeletons[send_id] = MessageSkeleton(prepared.rendered, list_def, send_id)
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
    processes: int = 1  # sender processes sharing the send (rate, pool and quota are split between them)


def _builder(prepared: PreparedIssue, list_def: ListDefinition, links: LinkMaker, send_id: int):
    def build(claim: store.ClaimedDelivery) -> OutgoingMessage:
        recipient = links.recipient(claim.id, claim.subscriber_id, claim.email, claim.name, claim.message_id)
        raw = personal_message(prepared, list_def, send_id, recipient)
        return OutgoingMessage(delivery_id=claim.id, send_id=send_id, recipient=claim.email, raw=raw,
                               batch=prepared.batch, tags={"send_id": str(send_id), "delivery_id": str(claim.id)})
    return build


def _guard(factory: sessionmaker[Session], send_id: int, list_def: ListDefinition, total: int) -> guardrail.Cadence:
    def check() -> str | None:
        with transaction(factory) as session:
            return guardrail.breach(session, send_id, list_def.bounce_policy)
    return guardrail.Cadence(check, total)


def _set_state(factory: sessionmaker[Session], send_id: int, state: str, reason: str | None = None) -> None:
    with transaction(factory) as session:
        values: dict = {"state": state, "pause_reason": reason}
        if state == "sending":
            values["started_at"] = func.coalesce(Send.started_at, utcnow())
        if state == "done":
            values["finished_at"] = utcnow()
        session.execute(update(Send).where(Send.id == send_id).values(**values))


def _start(factory: sessionmaker[Session], settings: Settings, list_def: ListDefinition, content: IssueContent,
           transport: Transport, options: SendOptions) -> tuple[PreparedIssue, int, int]:
    """(the prepared issue, its send's id, how many recipients the send planned)."""
    with transaction(factory) as session:
        prepared = prepare_issue(session, settings, list_def, content)
        send = get_or_plan_send(session, prepared)
        send_id, planned = send.id, send.planned_count
    with transaction(factory) as session:
        _recover_interrupted(session, send_id, transport, prepared.batch, options.lease_seconds)
        if options.resend_unknown:
            store.requeue_unknown(session, send_id)
        store.assign_message_ids(session, send_id, list_def.domain)
    return prepared, send_id, planned


def _share_limits(limits: AccountLimits | None, share: int) -> AccountLimits | None:
    """One sender process's part of the 24-hour quota (the rate is split by its own bucket)."""
    if limits is None or share == 1 or limits.remaining_24h is None:
        return limits
    return dataclasses.replace(limits, max_24h=limits.sent_24h + limits.remaining_24h / share)


def _final_state(counts: dict[str, int], result: RunResult) -> tuple[str, str | None]:
    if result.pause_reason:
        return "paused", result.pause_reason
    if counts.get("queued"):
        if result.stopped_by_limit:
            return "canary", f"stopped after {result.handed_over} messages (--limit); rerun to send the rest"
        return "paused", "messages are still queued; rerun to resume"
    if counts.get("sending"):
        return "running", None
    return "done", None


def run_send(factory: sessionmaker[Session], settings: Settings, list_def: ListDefinition, content: IssueContent,
             transport: Transport, options: SendOptions | None = None,
             on_outcome: Callable[[str], None] | None = None) -> SendSummary:
    """Plan (once) and send; resumes whatever an earlier or crashed run left. Safe to run in several
    processes at once on PostgreSQL (`mailer send --worker`)."""
    options = options or SendOptions()
    settings.require_secret_key()
    limits = transport.limits()  # before planning: a paused account or a bad credential stops here
    prepared, send_id, planned = _start(factory, settings, list_def, content, transport, options)
    configured = options.rate or (settings.send_rate if getattr(transport, "paced", True) else UNPACED_RATE)
    rate = effective_rate(configured, limits.max_send_rate if limits else None)
    pool = options.concurrency or default_pool_size(rate)
    processes = options.processes if options.limit is None and hasattr(transport, "clone") else 1

    def make(share: int = 1, **kwargs) -> Pipeline:
        return Pipeline(factory, transport.clone() if share > 1 else transport, send_id=send_id,
                        list_id=prepared.list_id, worker=worker_name(), bucket=TokenBucket(rate / share),
                        pool_size=max(1, math.ceil(pool / share)), limits=_share_limits(limits, share),
                        build=_builder(prepared, list_def, LinkMaker(settings, list_def), send_id),
                        lease_seconds=options.lease_seconds, down_after=settings.transport_down_after,
                        guard=_guard(factory, send_id, list_def, math.ceil(planned / share)) if options.guardrail else None,
                        **kwargs)

    _set_state(factory, send_id, "sending")
    if processes > 1:
        result = run_in_processes(processes, lambda: make(processes), factory, send_id, options.max_retry_wait,
                                  on_outcome)
        with transaction(factory) as session:  # rows of a sender process that died
            _recover_interrupted(session, send_id, transport, prepared.batch, options.lease_seconds)
    else:
        result = make(on_outcome=on_outcome).run(limit=options.limit, max_retry_wait=options.max_retry_wait)
    with transaction(factory) as session:
        counts = ledger_counts(session, send_id)
    state, reason = _final_state(counts, result)
    _set_state(factory, send_id, {"canary": "paused", "running": "sending"}.get(state, state), reason)
    return SendSummary(send_id=send_id, list_name=list_def.name, issue_date=content.date, counts=counts,
                       sent_now=result.by_state.get("sent", 0), state=state, pause_reason=reason,
                       destination=transport.describe(prepared.batch))


@dataclass(frozen=True)
class PlanPreview:
    counts: dict[str, int]  # the ledger as a send would find it (planned now if it was not yet)
    already_planned: bool
    sample_bytes: int  # size of one personalised message


def preview_plan(factory: sessionmaker[Session], settings: Settings, list_def: ListDefinition,
                 content: IssueContent) -> PlanPreview:
    """Render and plan inside a transaction that is rolled back: what a send would do, changing nothing."""
    settings.require_secret_key()
    session = factory()
    try:
        prepared = prepare_issue(session, settings, list_def, content)
        existing = session.scalar(select(Send.id).where(Send.issue_id == prepared.issue_id))
        send = get_or_plan_send(session, prepared)
        counts = ledger_counts(session, send.id)
        sample = LinkMaker(settings, list_def).recipient(0, 0, "reader@example.com", "Sample Reader")
        size = len(personal_message(prepared, list_def, send.id, sample))
    finally:
        session.rollback()
        session.close()
    return PlanPreview(counts=counts, already_planned=existing is not None, sample_bytes=size)


def send_test(settings: Settings, list_def: ListDefinition, content: IssueContent, transport: Transport,
              address: str) -> str:
    """One message to `address`, outside the ledger (not counted, no state changed). Its links carry
    a subscriber id of 0, so they lead nowhere."""
    settings.require_secret_key()
    rendered = render_issue(content, list_def, settings.base_url)
    prepared = PreparedIssue(issue_id=0, list_id=0, content=content, rendered=rendered)
    recipient = LinkMaker(settings, list_def).recipient(0, 0, address, "")
    raw = personal_message(prepared, list_def, 0, recipient)
    return transport.send(OutgoingMessage(delivery_id=0, send_id=0, recipient=address, raw=raw,
                                          batch=f"{prepared.batch}/test", tags={"send_id": "test"}))


def send_status(factory: sessionmaker[Session], list_def: ListDefinition, content: IssueContent) -> dict:
    """Counts by state and the pause reason of an issue's send, as plain data (for text or JSON)."""
    with transaction(factory) as session:
        list_id = session.scalar(select(MailingList.id).where(MailingList.slug == list_def.slug))
        issue_id = session.scalar(select(Issue.id).where(Issue.list_id == list_id, Issue.issue_date == content.date))
        send = session.scalar(select(Send).where(Send.issue_id == issue_id)) if issue_id else None
        base = {"list": list_def.slug, "issue": content.date.isoformat()}
        if send is None:
            return {**base, "state": "not planned", "pause_reason": None, "planned": 0, "counts": {}}
        stamp = lambda value: value.isoformat() if value else None  # noqa: E731
        return {**base, "send_id": send.id, "state": send.state, "pause_reason": send.pause_reason,
                "planned": send.planned_count, "counts": ledger_counts(session, send.id),
                "started_at": stamp(send.started_at), "finished_at": stamp(send.finished_at)}


PREVIEW_READER = "Ada Lovelace"  # the sample recipient of a preview; greeted as a subscriber would be


def write_preview(settings: Settings, list_def: ListDefinition, content: IssueContent, out_dir: Path) -> list[Path]:
    """The HTML and text a sample recipient would get, with working-looking personal links. The QR code
    is a data: URI in the preview (a browser cannot resolve the mail's cid: reference)."""
    rendered = render_issue(content, list_def, settings.base_url)
    html, text = rendered.personalize({
        "GREETING": greeting(PREVIEW_READER),
        "UNSUBSCRIBE_URL": f"{settings.base_url}/unsubscribe/PREVIEW",
        "MANAGE_URL": f"{settings.base_url}/manage/PREVIEW",
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{content.list_slug}-{content.date.isoformat()}"
    paths = [out_dir / f"{stem}.html", out_dir / f"{stem}.txt"]
    paths[0].write_text(with_data_uris(html), encoding="utf-8")
    paths[1].write_text(text, encoding="utf-8")
    return paths
