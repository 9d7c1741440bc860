"""Welcome mails through the ledger (ARCHITECTURE.md, "Preferences").

A confirmation queues the subscriber's row in the list's welcome send (audience/welcome.py). Two
callers deliver such rows, both through the issue pipeline (send/pipeline.py: the same claim
before the call, the same outcomes, retries and commit right after it):

- `Welcomes.deliver`: the web app's sender thread, right after the confirmation's commit, claims
  that one row (compare-and-set queued -> sending) and hands it to the transport once; a retry it
  cannot make now (throttled, transport down) leaves the row queued.
- `Welcomes.send_queued` (`mailer welcome send`, the autopilot at each wake): every due row left
  queued (a crash, a transport that was down), after settling rows of dead workers as a send does.

Eligibility is the welcome's own (confirmed on the list, not erased, not suppressed), not the issue
planner's: a reader's cadence or pause says which issues they get, not whether they are welcomed.
The render (render/welcome.py) is made once per list and latest sent issue; a message is then its
MessageSkeleton with the reader's links, List-Unsubscribe headers included, as for an issue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exists, func, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.errors import SendError
from mailer.render.welcome import LatestIssue, latest_issue, render_welcome
from mailer.send.ledger import (
    ClaimedBatch,
    ClaimedDelivery,
    Ledger,
    claim_batch,
    finish_delivery,
)
from mailer.send.links import LinkMaker
from mailer.send.message import MessageSkeleton, new_message_id
from mailer.send.pacing import TokenBucket, default_pool_size, effective_rate
from mailer.send.pipeline import Pipeline, RunResult
from mailer.send.workers import worker_name
from mailer.store.db import transaction
from mailer.store.models import (
    ACCEPTED,
    Delivery,
    DeliveryState,
    Issue,
    MailingList,
    Send,
    SendKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    Visibility,
    utcnow,
)
from mailer.transports import OutgoingMessage, Transport, make_transport

UNPACED_RATE = 5000.0  # as campaign.UNPACED_RATE: the local outbox has no provider limit
NOT_WELCOMED = "unsubscribed or suppressed before the welcome went out"


def batch_of(slug: str) -> str:
    """Where a list's welcome mails go in the outbox, beside its issues' folders."""
    return f"{slug}/welcome"


# -- reads ----------------------------------------------------------------------------------------
def latest_sent(session: Session, list_id: int, base_url: str, slug: str) -> LatestIssue | None:
    """The list's latest issue whose send has started (what the archive shows as sent). A hidden
    issue (`mailer archive hide`, e.g. a retraction) is left out: its link answers 404, and the
    welcome then shows the one before it, as the digest leaves it out (send/digest.py)."""
    row = session.execute(
        select(Issue.id, Issue.issue_date, Issue.headline, Issue.dek)
        .join(Send, Send.issue_id == Issue.id)
        .where(
            Issue.list_id == list_id,
            Send.kind == SendKind.ISSUE,
            Send.started_at.is_not(None),
            or_(Issue.visibility.is_(None), Issue.visibility != Visibility.HIDDEN),
        )
        .order_by(Issue.issue_date.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return latest_issue(row.id, row.issue_date, row.headline, row.dek, base_url, slug)


def welcome_send(session: Session, slug: str) -> tuple[int, int] | None:
    """(send id, list id) of the list's welcome send; None before its first confirmation."""
    row = session.execute(
        select(Send.id, Send.list_id)
        .join(MailingList, MailingList.id == Send.list_id)
        .where(MailingList.slug == slug, Send.kind == SendKind.WELCOME)
    ).first()
    return None if row is None else (row.id, row.list_id)


def welcomes_waiting(factory: sessionmaker[Session], slug: str) -> int:
    """Welcome rows of the list still queued or in flight (the autopilot looks before it makes a
    transport: most wakes find none)."""
    with transaction(factory) as session:
        found = welcome_send(session, slug)
        if found is None:
            return 0
        waiting = (DeliveryState.QUEUED, DeliveryState.SENDING)
        return session.scalar(
            select(func.count()).where(Delivery.send_id == found[0], Delivery.state.in_(waiting))
        )


def may_be_welcomed(session: Session, list_id: int, subscriber_ids: list[int]) -> dict[int, bool]:
    """Which of these subscribers may get their welcome now, each with their plain-links choice."""
    if not subscriber_ids:
        return {}
    rows = session.execute(
        select(Subscriber.id, Subscriber.plain_links)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(
            Subscriber.id.in_(subscriber_ids),
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
            Subscriber.email.is_not(None),
            Subscriber.erased_at.is_(None),
            ~exists().where(Suppression.email == Subscriber.email_key),
        )
    )
    return {row.id: bool(row.plain_links) for row in rows}


# -- the claim of one row -------------------------------------------------------------------------
def claim_row(
    session: Session, delivery_id: int, worker: str, domain: str
) -> ClaimedDelivery | None:
    """queued -> sending for this one row, if it is still queued and due (compare-and-set: of two
    workers, one gets it). It gets its Message-ID now if it has none. Caller commits."""
    now = utcnow()
    row = session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.state == DeliveryState.QUEUED,
            (Delivery.not_before.is_(None)) | (Delivery.not_before <= now),
        )
        .values(
            state=DeliveryState.SENDING,
            claimed_at=now,
            claimed_by=worker,
            updated_at=now,
            attempts=Delivery.attempts + 1,
            message_id=func.coalesce(Delivery.message_id, literal(new_message_id(domain))),
        )
        .returning(
            Delivery.id,
            Delivery.subscriber_id,
            Delivery.email,
            Delivery.name,
            Delivery.attempts,
            Delivery.message_id,
        )
    ).first()
    return None if row is None else ClaimedDelivery(*row)


class WelcomeLedger:
    """The pipeline's ledger for welcome rows (pipeline.SendLedger): claims with the welcome's
    eligibility; with `only`, that one row, once (the pipeline then ends: nothing else is due)."""

    def __init__(self, ledger: Ledger, domain: str, only: int | None = None):
        self.ledger, self.domain, self.only = ledger, domain, only
        self._claimed_once = False

    def claim(self, send_id: int, list_id: int, count: int, worker: str) -> ClaimedBatch:
        if self.only is not None and self._claimed_once:
            return ClaimedBatch([], 0)
        self._claimed_once = True
        with transaction(self.ledger.factory) as session:
            if self.only is not None:
                one = claim_row(session, self.only, worker, self.domain)
                claims = [one] if one is not None else []
            else:
                claims = claim_batch(session, send_id, count, worker)
            eligible = may_be_welcomed(session, list_id, [c.subscriber_id for c in claims])
            for claim in claims:
                if claim.subscriber_id not in eligible:
                    finish_delivery(session, claim.id, DeliveryState.SKIPPED, error=NOT_WELCOMED)
        ready = [
            dataclasses.replace(c, plain_links=eligible[c.subscriber_id])
            for c in claims
            if c.subscriber_id in eligible
        ]
        return ClaimedBatch(ready, skipped=len(claims) - len(ready))

    def finish_many(self, outcomes, worker: str) -> None:
        self.ledger.finish_many(outcomes, worker)

    def release(self, delivery_ids: list[int], worker: str) -> None:
        self.ledger.release(delivery_ids, worker)

    def heartbeat(self, send_id: int, worker: str) -> None:
        self.ledger.heartbeat(send_id, worker)

    def next_due(self, send_id: int) -> float | None:
        return None if self.only is not None else self.ledger.next_due(send_id)


# -- what a run did -------------------------------------------------------------------------------
@dataclass(frozen=True)
class WelcomeSummary:
    list_name: str
    counts: dict[str, int]  # the welcome send's rows by state, after the run
    sent_now: int
    pause_reason: str | None
    destination: str

    def line(self) -> str:
        c = {state: self.counts.get(state, 0) for state in DeliveryState}
        welcomed = sum(c[state] for state in ACCEPTED)
        text = (
            f"{self.list_name} welcome mails: sent {self.sent_now} now, {welcomed} in total; "
            f"{c[DeliveryState.SKIPPED]} skipped, {c[DeliveryState.FAILED]} failed, "
            f"{c[DeliveryState.UNKNOWN]} unknown, {c[DeliveryState.QUEUED]} queued"
            f" -> {self.destination}"
        )
        if self.pause_reason:
            text += f"; PAUSED: {self.pause_reason} (run `mailer welcome send` again)"
        return text


# -- the sender -----------------------------------------------------------------------------------
class Welcomes:
    """Delivers welcome rows for every list; keeps the last renders (per list and latest issue) so
    that a message costs a skeleton fill, not an MJML render."""

    CACHED = 16

    def __init__(self, settings: Settings, factory: sessionmaker[Session]):
        self.settings, self.factory = settings, factory
        self.ledger = Ledger(factory)
        self._skeletons: dict[tuple, MessageSkeleton] = {}
        self._lock = threading.Lock()

    def _skeleton(
        self, list_def: ListDefinition, latest: LatestIssue | None, send_id: int
    ) -> MessageSkeleton:
        key = (
            send_id,
            latest,
            list_def.welcome,
            list_def.name,
            list_def.tagline,
            list_def.language,
            list_def.postal_address,
            list_def.from_header,
            list_def.reply_to,
            list_def.unsubscribe_mailbox,
        )
        with self._lock:
            found = self._skeletons.get(key)
        if found is None:
            found = MessageSkeleton(render_welcome(list_def, latest), list_def, send_id)
            with self._lock:
                if len(self._skeletons) >= self.CACHED:
                    self._skeletons.pop(next(iter(self._skeletons)))
                self._skeletons[key] = found
        return found

    def _builder(
        self, list_def: ListDefinition, send_id: int, latest: LatestIssue | None
    ) -> Callable[[ClaimedDelivery], OutgoingMessage]:
        links = LinkMaker(self.settings, list_def)
        skeleton = self._skeleton(list_def, latest, send_id)

        def build(claim: ClaimedDelivery) -> OutgoingMessage:
            recipient = links.recipient(
                claim.id,
                claim.subscriber_id,
                claim.email,
                claim.name,
                claim.message_id,
                plain_links=claim.plain_links,
            )
            return OutgoingMessage(
                delivery_id=claim.id,
                send_id=send_id,
                recipient=claim.email,
                raw=skeleton.message(recipient),
                batch=batch_of(list_def.slug),
                tags={"send_id": str(send_id), "delivery_id": str(claim.id), "kind": "welcome"},
            )

        return build

    def _where(self, list_def: ListDefinition) -> tuple[int, int, LatestIssue | None] | None:
        with transaction(self.factory) as session:
            found = welcome_send(session, list_def.slug)
            if found is None:
                return None
            latest = latest_sent(session, found[1], self.settings.base_url, list_def.slug)
            return found[0], found[1], latest

    def _pipeline(
        self,
        ledger: WelcomeLedger,
        transport: Transport,
        where: tuple[int, int, LatestIssue | None],
        list_def: ListDefinition,
        rate: float,
        pool: int,
        limits=None,
    ) -> Pipeline:
        send_id, list_id, latest = where
        return Pipeline(
            ledger,
            transport,
            send_id=send_id,
            list_id=list_id,
            worker=worker_name(),
            bucket=TokenBucket(rate),
            pool_size=pool,
            limits=limits,
            build=self._builder(list_def, send_id, latest),
            down_after=self.settings.transport_down_after,
        )

    def deliver(
        self, list_def: ListDefinition, delivery_id: int, transport: Transport
    ) -> RunResult:
        """One queued welcome row (the web app's sender thread, after the confirmation's commit):
        claimed, handed over once, its outcome recorded. Rows it leaves queued wait for
        send_queued."""
        self.settings.require_secret_key()
        where = self._where(list_def)
        if where is None:
            return RunResult()
        ledger = WelcomeLedger(self.ledger, list_def.domain, only=delivery_id)
        return self._pipeline(ledger, transport, where, list_def, UNPACED_RATE, 1).run()

    def send_queued(
        self,
        list_def: ListDefinition,
        transport: Transport,
        rate: float | None = None,
        lease_seconds: float = 120.0,
    ) -> WelcomeSummary:
        """Every due welcome row of the list, paced as a send; rows of dead workers settled first
        (the transport's word, else unknown: never resent blindly)."""
        self.settings.require_secret_key()
        limits = transport.limits()
        where = self._where(list_def)
        result = RunResult()
        if where is not None:
            send_id = where[0]
            self.ledger.prepare_run(
                send_id,
                list_def.domain,
                dt.timedelta(seconds=lease_seconds),
                lambda delivery_id: transport.was_sent(batch_of(list_def.slug), delivery_id),
            )
            configured = rate or (
                self.settings.send_rate if getattr(transport, "paced", True) else UNPACED_RATE
            )
            pace = effective_rate(configured, limits.max_send_rate if limits else None)
            ledger = WelcomeLedger(self.ledger, list_def.domain)
            pipeline = self._pipeline(
                ledger, transport, where, list_def, pace, default_pool_size(pace), limits
            )
            result = pipeline.run()
        counts = self.ledger.counts(where[0]) if where is not None else {}
        return WelcomeSummary(
            list_name=list_def.name,
            counts=counts,
            sent_now=result.by_state.get(DeliveryState.SENT, 0),
            pause_reason=result.pause_reason,
            destination=transport.describe(batch_of(list_def.slug)),
        )


def send_welcomes(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    rate: float | None = None,
) -> WelcomeSummary:
    """`mailer welcome send` and the autopilot: the list's queued welcome rows, through the
    configured transport. A list without [welcome] enabled is refused (its readers were promised
    no welcome)."""
    if not list_def.welcome.enabled:
        raise SendError(
            f"{list_def.path}: [welcome] is not enabled; set `enabled = true` under [welcome] "
            "to send welcome mails"
        )
    transport = make_transport(settings)
    try:
        return Welcomes(settings, factory).send_queued(list_def, transport, rate)
    finally:
        transport.close()
