"""The ledger of a send: one row per recipient, and every transaction that changes or reads it
(ARCHITECTURE.md: "The ledger").

A send is planned once (its render stored, its audience frozen as queued rows); a worker claims a
batch of due rows (queued -> sending, committed before any call), and records each call's outcome
right after it (sent, failed, unknown, or queued again for a retry); rows of a worker that is gone
are settled by the next run. Every step is a compare-and-set, so that a late answer never
overwrites a row another run has settled.

The statements are functions of a session, composed here and read by tests; `Ledger` runs them,
one transaction per method, so that the pipeline, the campaign and the sender processes never open
a transaction themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from mailer.audience.lists import ensure_list
from mailer.content.lists import BouncePolicy, ListDefinition
from mailer.content.model import IssueContent
from mailer.render.card import card_png
from mailer.render.click_links import content_links
from mailer.render.issue import RenderedIssue
from mailer.send import guardrail
from mailer.send.workers import claim_is_abandoned
from mailer.store.db import transaction
from mailer.store.models import (
    Cadence,
    Delivery,
    DeliveryState,
    Issue,
    IssueCard,
    MailingList,
    Send,
    SendLink,
    SendState,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    utcnow,
)
from mailer.store.queries import dialect_insert

log = logging.getLogger(__name__)
NOT_PLANNED = "not planned"  # the status of a send the database does not have (yet)

# What a settling transport answer (transport.was_sent) means for an abandoned row.
_SETTLED_BY_ANSWER = {
    True: DeliveryState.SENT,
    False: DeliveryState.QUEUED,
    None: DeliveryState.UNKNOWN,
}


# -- what crosses the ledger's edge ----------------------------------------------------------------
@dataclass(frozen=True)
class StoredIssue:
    """An issue's render as stored for its send (what goes out once the send has started)."""

    issue_id: int
    list_id: int
    rendered: RenderedIssue


@dataclass(frozen=True)
class PlannedSend:
    send_id: int
    planned_count: int  # ledger rows written when the send was planned
    newly_planned: bool  # planned by this call (False: it was already)
    click_tracking: bool = False  # fixed when planned: a resumed send keeps it
    links: tuple[tuple[int, str], ...] = ()  # its send_links (position, url), by position


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int
    message_id: str | None
    plain_links: bool = False  # the subscriber's choice as it is at claim time (/manage)


@dataclass(frozen=True)
class ClaimedBatch:
    ready: list[ClaimedDelivery]  # claimed and still eligible: to be handed to the transport
    skipped: int  # claimed, but unsubscribed or suppressed since planning: settled as skipped


@dataclass(frozen=True)
class Outcome:
    """What one call of the transport did to a claimed row."""

    claim: ClaimedDelivery
    state: DeliveryState  # SENT | QUEUED (a retry) | FAILED | UNKNOWN
    message_id: str | None = None
    error: str | None = None
    not_before: dt.datetime | None = None
    handed_over: bool = True  # False: the transport was never reached, the attempt does not count


@dataclass(frozen=True)
class Claim:
    """A row some worker holds ('sending'), as recovery sees it."""

    id: int
    claimed_by: str | None


# -- planning --------------------------------------------------------------------------------------
def _content_hash(rendered: RenderedIssue) -> str:
    digest = hashlib.sha256()
    for part in (rendered.subject, rendered.preheader, rendered.html, rendered.text):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def hold_planning_lock(session: Session, list_slug: str, day: dt.date) -> None:
    """Make the rest of this transaction the only planner of the issue, so that processes started
    together on a fresh issue plan it once and the later ones find the first one's render and
    ledger (read before, the row the other process was inserting is invisible and its insert then
    collides).

    PostgreSQL: a transaction-level advisory lock keyed by list and date, released at commit or
    rollback. SQLite: its one write lock, taken now by a write that changes nothing rather than at
    the first insert, so that every read after it sees what the process before committed.
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"mailer plan {list_slug} {day.isoformat()}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))
    else:
        session.execute(update(MailingList).where(false()).values(name=MailingList.name))


def _has_send(session: Session, issue_id: int) -> bool:
    return session.scalar(select(Send.id).where(Send.issue_id == issue_id)) is not None


def store_issue(
    session: Session,
    list_def: ListDefinition,
    content: IssueContent,
    render: Callable[[], RenderedIssue],
) -> StoredIssue:
    """Render (`render()`) and store the issue, under the planning lock. Once a send has started,
    its stored render is what goes out, and `render` is not called."""
    hold_planning_lock(session, list_def.slug, content.date)
    list_id = ensure_list(session, list_def)
    this_issue = (Issue.list_id == list_id, Issue.issue_date == content.date)
    row = session.scalar(select(Issue).where(*this_issue))
    if row is not None and _has_send(session, row.id):  # started
        stored = RenderedIssue(
            subject=row.subject, preheader=content.preheader, html=row.html, text=row.text
        )
        return StoredIssue(row.id, list_id, stored)
    rendered = render()
    values = dict(
        subject=rendered.subject,
        source_path=content.path,
        content_hash=_content_hash(rendered),
        html=rendered.html,
        text=rendered.text,
        headline=content.headline,
        dek=content.dek,
    )
    # ON CONFLICT: a writer that did not take the planning lock cannot make this fail
    if row is None:
        session.execute(
            dialect_insert(session, Issue)
            .values(list_id=list_id, issue_date=content.date, **values)
            .on_conflict_do_nothing(index_elements=["list_id", "issue_date"])
        )
    else:
        session.execute(update(Issue).where(Issue.id == row.id).values(**values))
    issue_id = session.scalar(select(Issue.id).where(*this_issue))
    _store_card(session, issue_id, values["content_hash"], list_def, content)
    return StoredIssue(issue_id, list_id, rendered)


def _store_card(
    session: Session, issue_id: int, content_hash: str, list_def: ListDefinition, content
) -> None:
    """The share card (render/card.py) is made with the render it shows, once per render: the
    archive serves it and the static site copies it (ARCHITECTURE.md, "The archive")."""
    if session.scalar(
        select(IssueCard.issue_id).where(
            IssueCard.issue_id == issue_id, IssueCard.content_hash == content_hash
        )
    ):
        return
    try:
        png = card_png(list_def.name, content.headline, content.date, list_def.tagline)
    except Exception:  # noqa: BLE001 - a share card never stops a send; the web app draws it later
        log.exception(
            "share card of %s %s not made; the archive draws it", list_def.slug, content.date
        )
        return
    session.execute(
        dialect_insert(session, IssueCard)
        .values(issue_id=issue_id, content_hash=content_hash, png=png, made_at=utcnow())
        .on_conflict_do_update(
            index_elements=["issue_id"],
            set_={"content_hash": content_hash, "png": png, "made_at": utcnow()},
        )
    )


def eligible_subscribers(list_id: int):
    """Confirmed on this list, not erased, not suppressed: the audience of a send."""
    return (
        select(Subscriber.id, Subscriber.email, Subscriber.name)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
            Subscriber.email.is_not(None),
            Subscriber.erased_at.is_(None),
            # suppressions.email holds the address's key (lower-cased in full), as email_key does
            ~exists().where(Suppression.email == Subscriber.email_key),
        )
    )


def audience_of(list_id: int, cadence: Cadence | tuple[Cadence, ...], day: dt.date):
    """Who a mail of `cadence` dated `day` is planned for (ARCHITECTURE.md, "Preferences"): the
    eligible subscribers whose subscription has that cadence and is not paused at `day` (a mail
    dated D goes to a paused reader iff D >= paused_until). The welcome mail and the checks at
    claim time keep eligible_subscribers: a reader's choices decide which mails are planned, not
    whether a planned one still goes."""
    cadences = (cadence,) if isinstance(cadence, Cadence) else cadence
    return eligible_subscribers(list_id).where(
        Subscription.cadence.in_([c.value for c in cadences]),
        or_(Subscription.paused_until.is_(None), Subscription.paused_until <= day),
    )


def plan_deliveries(session: Session, send_id: int, audience) -> int:
    """Freeze the audience (a select of subscriber id, email and name: audience_of): one queued
    ledger row per subscriber, in one statement.

    UNIQUE(send_id, subscriber_id) plus ON CONFLICT DO NOTHING makes a repeated plan harmless.
    """
    rows = audience.add_columns(literal(send_id), literal(DeliveryState.QUEUED.value), literal(0))
    stmt = (
        dialect_insert(session, Delivery)
        .from_select(["subscriber_id", "email", "name", "send_id", "state", "attempts"], rows)
        .on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"])
    )
    session.execute(stmt)
    # Counted, not taken from rowcount: psycopg reports -1 for INSERT ... SELECT ... ON CONFLICT.
    return session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.send_id == send_id)
    )


def _planned(session: Session, send_id: int, planned_count: int) -> PlannedSend:
    """A send planned before (by an earlier run or another process), as it was planned."""
    tracking = bool(session.scalar(select(Send.click_tracking).where(Send.id == send_id)))
    rows = session.execute(
        select(SendLink.position, SendLink.url)
        .where(SendLink.send_id == send_id)
        .order_by(SendLink.position)
    )
    links = tuple((row.position, row.url) for row in rows)
    return PlannedSend(send_id, planned_count, False, tracking, links)


def plan_links(
    session: Session, send_id: int, html: str, base_url: str
) -> tuple[tuple[int, str], ...]:
    """The send's content links (click_links.content_links of its stored render) as send_links
    rows: what its counted links name, and what the reports list."""
    links = content_links(html, base_url)
    if links:
        session.execute(
            insert(SendLink),
            [
                {
                    "send_id": send_id,
                    "position": link.position,
                    "url": link.url,
                    "section": link.section,
                }
                for link in links
            ],
        )
    return tuple((link.position, link.url) for link in links)


def issue_cadences(list_def: ListDefinition) -> tuple[Cadence, ...]:
    """Who gets a list's issues: its daily readers, and its weekly ones too while the list has no
    digest ([digest] switched off after they chose it): their choice is kept for when it comes
    back, but they are never left with no mail at all."""
    return (Cadence.DAILY,) if list_def.digest.enabled else (Cadence.DAILY, Cadence.WEEKLY)


def plan_send(
    session: Session,
    issue: StoredIssue,
    click_tracking: bool = False,
    base_url: str = "",
    cadences: tuple[Cadence, ...] = (Cadence.DAILY,),
) -> PlannedSend:
    """The issue's send, planned (its ledger frozen) by whichever process creates the send row.
    `click_tracking` (the list's [analytics] clicks, unless the operator said no) is fixed with it,
    and the content links of its render (under `base_url`, ours) written as its send_links; its
    ledger is the readers of `cadences` (issue_cadences) not paused at the issue's date."""
    this_send = Send.issue_id == issue.issue_id
    existing = session.execute(select(Send.id, Send.planned_count).where(this_send)).first()
    if existing is not None:
        return _planned(session, existing.id, existing.planned_count)
    insert_send = (
        dialect_insert(session, Send)
        .values(
            issue_id=issue.issue_id,
            list_id=issue.list_id,
            state=SendState.PLANNED,
            click_tracking=click_tracking,
        )
        .on_conflict_do_nothing(index_elements=["issue_id"])
    )
    send_id = session.scalar(insert_send.returning(Send.id))
    if send_id is None:  # another writer created it (and planned it) first
        existing = session.execute(select(Send.id, Send.planned_count).where(this_send)).one()
        return _planned(session, existing.id, existing.planned_count)
    links = plan_links(session, send_id, issue.rendered.html, base_url) if click_tracking else ()
    issue_date = session.scalar(select(Issue.issue_date).where(Issue.id == issue.issue_id))
    audience = audience_of(issue.list_id, cadences, issue_date)
    planned = plan_deliveries(session, send_id, audience)
    session.execute(update(Send).where(Send.id == send_id).values(planned_count=planned))
    return PlannedSend(send_id, planned, True, click_tracking, links)


def _random_hex(session: Session):
    """SQL for 128 random bits as 32 hex digits, evaluated once per row."""
    if session.get_bind().dialect.name == "postgresql":
        # gen_random_uuid() (built in since PostgreSQL 13) carries 122 random bits: two of them,
        # hashed.
        return func.md5(func.concat(func.gen_random_uuid(), func.gen_random_uuid()))
    return func.lower(func.hex(func.randomblob(16)))


def assign_message_ids(session: Session, send_id: int, domain: str) -> None:
    """Give every row of the send still to go out (queued or unknown) that has none a random
    Message-ID, `<32 hex digits@domain>`. A row already sent without one (before the column existed)
    keeps NULL: its message carried another id, which is not known.

    Random, not derived from the row's ids: a second database (or a restored copy) numbers its sends
    and deliveries the same way, and receivers drop a message whose Message-ID they have seen.
    Stored, so every attempt of a delivery (a --resend-unknown) carries the same one and a true
    duplicate can be dropped. One statement per run, before any row is claimed: nothing on the
    per-message path. Rows that already have one keep it; concurrent workers starting at once assign
    each row once (PostgreSQL re-checks `IS NULL` after the other's commit).
    """
    value = literal("<", String) + _random_hex(session) + literal(f"@{domain}>", String)
    to_go = (DeliveryState.QUEUED, DeliveryState.UNKNOWN)
    session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id, Delivery.state.in_(to_go), Delivery.message_id.is_(None)
        )
        .values(message_id=value)
    )


# -- claiming and settling -------------------------------------------------------------------------
def claim_batch(session: Session, send_id: int, limit: int, worker: str) -> list[ClaimedDelivery]:
    """Move up to `limit` due queued rows to 'sending' and return them. Caller commits.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent workers never claim the same row.
    SQLite: a compare-and-set UPDATE (state must still be 'queued'); SQLite has one writer at a
    time.
    """
    now = utcnow()
    due = (
        select(Delivery.id)
        .where(
            Delivery.send_id == send_id,
            Delivery.state == DeliveryState.QUEUED,
            (Delivery.not_before.is_(None)) | (Delivery.not_before <= now),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        return []
    rows = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.QUEUED)
        .values(
            state=DeliveryState.SENDING,
            claimed_at=now,
            claimed_by=worker,
            updated_at=now,
            attempts=Delivery.attempts + 1,
        )
        .returning(
            Delivery.id,
            Delivery.subscriber_id,
            Delivery.email,
            Delivery.name,
            Delivery.attempts,
            Delivery.message_id,
        )
    ).all()
    return sorted((ClaimedDelivery(*row) for row in rows), key=lambda c: c.id)


def eligible_now(session: Session, list_id: int, subscriber_ids: list[int]) -> dict[int, bool]:
    """Which of these subscribers may still be mailed (not unsubscribed or suppressed since the
    plan), each with whether they asked for plain links: one query at claim time."""
    if not subscriber_ids:
        return {}
    query = (
        eligible_subscribers(list_id)
        .add_columns(Subscriber.plain_links)
        .where(Subscriber.id.in_(subscriber_ids))
    )
    return {row.id: bool(row.plain_links) for row in session.execute(query)}


def still_eligible(session: Session, list_id: int, subscriber_ids: list[int]) -> set[int]:
    """Which of these subscribers may still be mailed (not unsubscribed or suppressed since the
    plan)."""
    return set(eligible_now(session, list_id, subscriber_ids))


def finish_delivery(
    session: Session,
    delivery_id: int,
    state: DeliveryState,
    *,
    message_id: str | None = None,
    error: str | None = None,
    not_before: dt.datetime | None = None,
    worker: str | None = None,
) -> bool:
    """Record the outcome of a claimed row. Only a row still 'sending' (and, given `worker`, still
    claimed by it) changes, so a late answer never overwrites a recovered row. True when it
    changed."""
    now = utcnow()
    values: dict = {"state": state, "updated_at": now, "last_error": error}
    if message_id is not None:
        values["provider_message_id"] = message_id
    if state == DeliveryState.SENT:
        values["sent_at"] = now
    if state == DeliveryState.QUEUED:
        values["not_before"] = not_before
    where = [Delivery.id == delivery_id, Delivery.state == DeliveryState.SENDING]
    if worker is not None:
        where.append(Delivery.claimed_by == worker)
    return bool(session.execute(update(Delivery).where(and_(*where)).values(**values)).rowcount)


def _finish_statement(requeue: bool):
    """finish_delivery as one cached statement for executemany: per-row ORM updates cost more CPU
    than the SES call itself. The same compare-and-set: still 'sending', still ours."""
    table = Delivery.__table__
    values = {
        "state": bindparam("b_state"),
        "updated_at": bindparam("b_now"),
        "last_error": bindparam("b_error"),
        "provider_message_id": func.coalesce(
            bindparam("b_message_id"), table.c.provider_message_id
        ),
        "sent_at": func.coalesce(bindparam("b_sent_at"), table.c.sent_at),
    }
    if requeue:
        values["not_before"] = bindparam("b_not_before")
        # A claim counts an attempt; one that never reached the transport gives it back.
        values["attempts"] = table.c.attempts - bindparam("b_given_back")
    where = and_(
        table.c.id == bindparam("b_id"),
        table.c.state == DeliveryState.SENDING.value,
        table.c.claimed_by == bindparam("b_worker"),
    )
    return update(table).where(where).values(**values)


_FINISH = {False: _finish_statement(False), True: _finish_statement(True)}


def finish_many(session: Session, outcomes: Sequence[Outcome], worker: str) -> None:
    """Record many outcomes of this worker's claims: two executemany statements at most."""
    now = utcnow()
    for requeue in (False, True):
        params = [
            {
                "b_id": o.claim.id,
                "b_worker": worker,
                "b_state": o.state,
                "b_now": now,
                "b_error": o.error,
                "b_message_id": o.message_id,
                "b_sent_at": now if o.state == DeliveryState.SENT else None,
                "b_not_before": o.not_before,
                "b_given_back": 0 if o.handed_over else 1,
            }
            for o in outcomes
            if (o.state == DeliveryState.QUEUED) == requeue
        ]
        if params:
            session.execute(_FINISH[requeue], params)


def release_claims(session: Session, delivery_ids: list[int], worker: str) -> None:
    """Claimed rows that were never handed to the transport go back to the queue, attempt
    uncounted."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(delivery_ids),
                Delivery.state == DeliveryState.SENDING,
                Delivery.claimed_by == worker,
            )
            .values(state=DeliveryState.QUEUED, attempts=Delivery.attempts - 1, updated_at=utcnow())
        )


def heartbeat(session: Session, send_id: int, worker: str) -> None:
    """Renew this worker's lease on the rows it is sending."""
    session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.state == DeliveryState.SENDING,
            Delivery.claimed_by == worker,
        )
        .values(claimed_at=utcnow())
    )


def seconds_until_next_due(session: Session, send_id: int) -> float | None:
    """None when no queued row is left; otherwise how long until the earliest retry is due."""
    count, earliest = session.execute(
        select(func.count(), func.min(Delivery.not_before)).where(
            Delivery.send_id == send_id, Delivery.state == DeliveryState.QUEUED
        )
    ).one()
    if not count:
        return None
    if earliest is None:
        return 0.0
    if earliest.tzinfo is None:  # SQLite hands back naive datetimes (stored as UTC)
        earliest = earliest.replace(tzinfo=dt.UTC)
    return max(0.0, (earliest - utcnow()).total_seconds())


# -- recovery --------------------------------------------------------------------------------------
def abandoned_claims(session: Session, send_id: int, lease: dt.timedelta) -> list[Claim]:
    """Rows 'sending' whose worker is gone (workers.claim_is_abandoned): known dead or silent for a
    lease. A live worker renews its lease (heartbeat), so its rows are never taken from it."""
    now = utcnow()
    rows = session.execute(
        select(Delivery.id, Delivery.claimed_by, Delivery.claimed_at).where(
            Delivery.send_id == send_id, Delivery.state == DeliveryState.SENDING
        )
    ).all()
    return [
        Claim(row.id, row.claimed_by)
        for row in rows
        if claim_is_abandoned(row.claimed_by, row.claimed_at, lease, now)
    ]


def settle_abandoned(session: Session, claim: Claim, state: DeliveryState) -> None:
    """Settle a row of a dead worker (compare-and-set: still 'sending', still claimed by that
    worker)."""
    error = "interrupted run; outcome unknown" if state == DeliveryState.UNKNOWN else None
    holder = (
        Delivery.claimed_by == claim.claimed_by
        if claim.claimed_by
        else Delivery.claimed_by.is_(None)
    )
    where = (Delivery.id == claim.id, Delivery.state == DeliveryState.SENDING, holder)
    session.execute(
        update(Delivery).where(*where).values(state=state, updated_at=utcnow(), last_error=error)
    )


def requeue_unknown(session: Session, send_id: int) -> int:
    """The operator's explicit choice (--resend-unknown): unknown rows go out again."""
    return session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.state == DeliveryState.UNKNOWN)
        .values(
            state=DeliveryState.QUEUED,
            not_before=None,
            updated_at=utcnow(),
            last_error="requeued by --resend-unknown",
        )
    ).rowcount


def _settle_all_abandoned(
    session: Session, send_id: int, lease: dt.timedelta, was_sent: Callable[[int], bool | None]
) -> int:
    stuck = abandoned_claims(session, send_id, lease)
    for claim in stuck:
        settle_abandoned(session, claim, _SETTLED_BY_ANSWER[was_sent(claim.id)])
    return len(stuck)


# -- reading ---------------------------------------------------------------------------------------
def ledger_counts(
    session: Session, send_id: int, states: Iterable[DeliveryState] | None = None
) -> dict[str, int]:
    """Rows by state (only `states`, when given)."""
    query = select(Delivery.state, func.count()).where(Delivery.send_id == send_id)
    if states is not None:
        query = query.where(Delivery.state.in_(tuple(states)))
    return {state: count for state, count in session.execute(query.group_by(Delivery.state))}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def send_status(session: Session, list_slug: str, issue_date: dt.date) -> dict:
    """Counts by state and the pause reason of the send of (list, date), as plain data; a list,
    issue or send that does not exist is "not planned". Reads only."""
    send = session.scalar(
        select(Send)
        .join(Issue, Issue.id == Send.issue_id)
        .join(MailingList, MailingList.id == Issue.list_id)
        .where(MailingList.slug == list_slug, Issue.issue_date == issue_date)
    )
    base = {"list": list_slug, "issue": issue_date.isoformat()}
    if send is None:
        return {**base, "state": NOT_PLANNED, "pause_reason": None, "planned": 0, "counts": {}}
    return {
        **base,
        "send_id": send.id,
        "state": send.state,
        "pause_reason": send.pause_reason,
        "planned": send.planned_count,
        "counts": ledger_counts(session, send.id),
        "started_at": _iso(send.started_at),
        "finished_at": _iso(send.finished_at),
    }


# -- the transactions ------------------------------------------------------------------------------
class Ledger:
    """Every transaction of a send, each method one (ARCHITECTURE.md: "The ledger")."""

    def __init__(self, factory: sessionmaker[Session]):
        self.factory = factory

    def after_fork(self) -> None:
        """In a forked sender process: the parent's pooled connections stay the parent's."""
        self.factory.kw["bind"].dispose(close=False)

    # -- planning (campaign) ---------------------------------------------------------------------
    def store_issue(
        self, list_def: ListDefinition, content: IssueContent, render: Callable[[], RenderedIssue]
    ) -> StoredIssue:
        """The issue's render stored (as a send stores it), no send planned."""
        with transaction(self.factory) as session:
            return store_issue(session, list_def, content, render)

    def plan(
        self,
        list_def: ListDefinition,
        content: IssueContent,
        render: Callable[[], RenderedIssue],
        click_tracking: bool = False,
        base_url: str = "",
    ) -> tuple[StoredIssue, PlannedSend]:
        """Under the planning lock: the render stored, the send row and its ledger rows written
        (by whichever process gets there first; the others find them). `click_tracking` and
        `base_url` as in plan_send."""
        with transaction(self.factory) as session:
            issue = store_issue(session, list_def, content, render)
            cadences = issue_cadences(list_def)
            return issue, plan_send(session, issue, click_tracking, base_url, cadences)

    def preview(
        self,
        list_def: ListDefinition,
        content: IssueContent,
        render: Callable[[], RenderedIssue],
        click_tracking: bool = False,
        base_url: str = "",
    ) -> tuple[StoredIssue, PlannedSend, dict[str, int]]:
        """What `plan` would do and the ledger it would leave, inside a transaction rolled back."""
        session = self.factory()
        try:
            issue = store_issue(session, list_def, content, render)
            planned = plan_send(session, issue, click_tracking, base_url, issue_cadences(list_def))
            return issue, planned, ledger_counts(session, planned.send_id)
        finally:
            session.rollback()
            session.close()

    def prepare_run(
        self,
        send_id: int,
        domain: str,
        lease: dt.timedelta,
        was_sent: Callable[[int], bool | None],
        resend_unknown: bool = False,
    ) -> int:
        """Before a run claims anything: rows of workers that are gone settled (`was_sent(delivery
        id)` is the transport's word on them), unknown rows requeued when the operator asks, and
        every row still to go given its Message-ID. How many abandoned rows were settled."""
        with transaction(self.factory) as session:
            settled = _settle_all_abandoned(session, send_id, lease, was_sent)
            if resend_unknown:
                requeue_unknown(session, send_id)
            assign_message_ids(session, send_id, domain)
        return settled

    def settle_abandoned(
        self, send_id: int, lease: dt.timedelta, was_sent: Callable[[int], bool | None]
    ) -> int:
        """Rows of workers that are gone (a sender process that died), settled as in prepare_run."""
        with transaction(self.factory) as session:
            return _settle_all_abandoned(session, send_id, lease, was_sent)

    def set_state(self, send_id: int, state: SendState, reason: str | None = None) -> None:
        with transaction(self.factory) as session:
            values: dict = {"state": state, "pause_reason": reason}
            if state == SendState.SENDING:
                values["started_at"] = func.coalesce(Send.started_at, utcnow())
            if state == SendState.DONE:
                values["finished_at"] = utcnow()
            session.execute(update(Send).where(Send.id == send_id).values(**values))

    # -- sending (pipeline) ----------------------------------------------------------------------
    def claim(self, send_id: int, list_id: int, count: int, worker: str) -> ClaimedBatch:
        """Up to `count` due rows claimed by `worker`; those whose subscriber left since planning
        are settled as skipped in the same transaction."""
        with transaction(self.factory) as session:
            claims = claim_batch(session, send_id, count, worker)
            eligible = eligible_now(session, list_id, [c.subscriber_id for c in claims])
            for claim in claims:
                if claim.subscriber_id not in eligible:
                    finish_delivery(
                        session,
                        claim.id,
                        DeliveryState.SKIPPED,
                        error="unsubscribed or suppressed since planning",
                    )
        ready = [
            dataclasses.replace(c, plain_links=True) if eligible[c.subscriber_id] else c
            for c in claims
            if c.subscriber_id in eligible
        ]
        return ClaimedBatch(ready, skipped=len(claims) - len(ready))

    def finish_many(self, outcomes: Sequence[Outcome], worker: str) -> None:
        with transaction(self.factory) as session:
            finish_many(session, outcomes, worker)

    def release(self, delivery_ids: list[int], worker: str) -> None:
        with transaction(self.factory) as session:
            release_claims(session, delivery_ids, worker)

    def heartbeat(self, send_id: int, worker: str) -> None:
        with transaction(self.factory) as session:
            heartbeat(session, send_id, worker)

    def next_due(self, send_id: int) -> float | None:
        with transaction(self.factory) as session:
            return seconds_until_next_due(session, send_id)

    def guardrail_breach(self, send_id: int, policy: BouncePolicy) -> str | None:
        with transaction(self.factory) as session:
            return guardrail.breach(session, send_id, policy)

    def canary_verdict(
        self, send_id: int, policy: BouncePolicy, require_events: bool
    ) -> str | None:
        with transaction(self.factory) as session:
            return guardrail.canary_verdict(session, send_id, policy, require_events)

    # -- reading ---------------------------------------------------------------------------------
    def counts(self, send_id: int, states: Iterable[DeliveryState] | None = None) -> dict[str, int]:
        with transaction(self.factory) as session:
            return ledger_counts(session, send_id, states)

    def status(self, list_slug: str, issue_date: dt.date) -> dict:
        with transaction(self.factory) as session:
            return send_status(session, list_slug, issue_date)
