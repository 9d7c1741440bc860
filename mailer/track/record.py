"""Applying SES events to the database (they arrive through `track.intake`: SQS poll or SNS
webhook).

Every event is stored once (UNIQUE dedup_key, ON CONFLICT DO NOTHING); only a newly stored
event has effects, so a notification delivered twice changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Connection, String, Text, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from mailer.addresses import address_hash, email_key
from mailer.audience.suppressions import suppress_many, suppression_salt
from mailer.content.lists import BouncePolicy
from mailer.errors import MailerError
from mailer.store.events import ERASED_RAW, stored_dedup_key
from mailer.store.models import (
    ConsentAction,
    ConsentEvent,
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    MailingList,
    Send,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.store.queries import dialect_insert
from mailer.track.mail_unsubscribe import received_mail
from mailer.track.ses_events import SesEvent, parse_ses_message

log = logging.getLogger("mailer.track")

# event type -> (ledger states it may move a delivery from, the state it moves it to)
_IN_FLIGHT = frozenset({DeliveryState.SENDING, DeliveryState.SENT, DeliveryState.UNKNOWN})
_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    EventKind.SEND: (frozenset({DeliveryState.UNKNOWN}), DeliveryState.SENT),
    EventKind.DELIVERY: (_IN_FLIGHT, DeliveryState.DELIVERED),
    EventKind.BOUNCE: (_IN_FLIGHT | {DeliveryState.DELIVERED}, DeliveryState.BOUNCED),
    EventKind.COMPLAINT: (
        _IN_FLIGHT | {DeliveryState.DELIVERED, DeliveryState.BOUNCED},
        DeliveryState.COMPLAINED,
    ),
    EventKind.REJECT: (_IN_FLIGHT, DeliveryState.FAILED),
    EventKind.RENDERING_FAILURE: (_IN_FLIGHT, DeliveryState.FAILED),
}
_SOFT_BOUNCE_TYPES = ("Transient", "Undetermined")


@dataclass
class TrackResult:
    received: int = 0  # events handed to record_events
    recorded: int = 0  # newly stored
    duplicates: int = 0  # already stored: no effect
    uncorrelated: int = 0  # stored, but no ledger row matched
    deliveries_updated: int = 0
    suppressed: list[str] = field(default_factory=list)  # addresses newly suppressed
    unsubscribed: list[int] = field(
        default_factory=list
    )  # subscriber ids unsubscribed by a complaint
    messages_deleted: int = 0  # poll: SQS messages handled and deleted
    messages_left: int = 0  # poll: left on the queue (unparseable, foreign topic, failed)
    mail_unsubscribed: int = 0  # unsubscribe request mails (SES Received) that unsubscribed someone
    mail_ignored: int = 0  # request mails without a valid token, or for someone already gone

    def merge(self, other: TrackResult) -> None:
        for name in (
            "received",
            "recorded",
            "duplicates",
            "uncorrelated",
            "deliveries_updated",
            "messages_deleted",
            "messages_left",
            "mail_unsubscribed",
            "mail_ignored",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.suppressed.extend(other.suppressed)
        self.unsubscribed.extend(other.unsubscribed)

    def summary(self) -> str:
        """One line for the operator: what a poll handled and what it changed."""
        by_mail = (
            f", {self.mail_unsubscribed} by request mail ({self.mail_ignored} ignored)"
            if self.mail_unsubscribed or self.mail_ignored
            else ""
        )
        return (
            f"{self.messages_deleted} message(s) handled, {self.messages_left} left for the "
            f"dead-letter queue; {self.recorded} event(s) recorded, "
            f"{self.duplicates} duplicate(s), "
            f"{self.deliveries_updated} deliveries updated, {len(self.suppressed)} suppressed, "
            f"{len(self.unsubscribed)} unsubscribed by complaint{by_mail}"
        )


@dataclass(frozen=True)
class _Ledger:
    id: int
    send_id: int
    subscriber_id: int
    email: str
    state: str
    provider_message_id: str | None


# --- recording -----------------------------------------------------------------------------


def record_events(
    session: Session,
    events: Iterable[SesEvent],
    policies_by_list_id: Mapping[int, BouncePolicy] | None = None,
) -> TrackResult:
    """Store events and apply their effects. The caller commits (one transaction per batch)."""
    events = list(events)
    return _record(session, events, _Lookups.load(session, events), policies_by_list_id)


@dataclass
class _Lookups:
    """What recording a batch of events reads before it writes, read once for the batch (one
    query each instead of several per event): the salt, which recipients were erased, the ledger
    rows named by the events' message ids and tags, and the lists of their sends. The ledger rows
    are kept current as the batch moves them (a message id set by one event is seen by the next);
    a row's state is not needed here, the UPDATE's compare-and-set decides a move."""

    salt: str
    erased: set[str]
    by_message: dict[str, list[_Ledger]]
    by_id: dict[int, _Ledger]
    list_of_send: dict[int, int]

    @classmethod
    def load(cls, session: Session, events: list[SesEvent]) -> _Lookups:
        salt = suppression_salt(session)
        conn = session.connection()
        hashes = sorted({address_hash(e.recipient, salt) for e in events if e.recipient})
        erased = {r.email_hash for r in _rows_in(conn, "erased", hashes)}
        by_message: dict[str, list[_Ledger]] = {}
        by_id: dict[int, _Ledger] = {}
        message_ids = sorted({e.ses_message_id for e in events if e.ses_message_id})
        for r in _rows_in(conn, "ledger by message", message_ids):
            row = _Ledger(*r)
            by_message.setdefault(row.provider_message_id, []).append(row)
            by_id[row.id] = row
        tagged = sorted({e.delivery_id for e in events if e.delivery_id is not None} - set(by_id))
        for r in _rows_in(conn, "ledger by id", tagged):
            by_id[r.id] = _Ledger(*r)
        send_ids = sorted({row.send_id for row in by_id.values()})
        list_of_send = {r.id: r.list_id for r in _rows_in(conn, "lists of sends", send_ids)}
        return cls(salt, erased, by_message, by_id, list_of_send)

    def is_erased(self, email: str) -> bool:
        return address_hash(email, self.salt) in self.erased

    def named(self, message_id: str | None) -> list[_Ledger]:
        return list(self.by_message.get(message_id, [])) if message_id else []

    def moved(self, row: _Ledger, message_id: str | None) -> None:
        """The batch gave `row` its provider message id."""
        if row.provider_message_id is not None or message_id is None:
            return
        now = dataclasses.replace(row, provider_message_id=message_id)
        self.by_id[row.id] = now
        self.by_message.setdefault(message_id, []).append(now)


_LEDGER_COLUMNS = (
    Delivery.id,
    Delivery.send_id,
    Delivery.subscriber_id,
    Delivery.email,
    Delivery.state,
    Delivery.provider_message_id,
)


def _chunks(values: list, size: int = 500) -> Iterable[list]:
    """IN lists of at most `size` values (SQLite's bound-parameter limit is far above)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# The statements of recording, built once (per dialect where it matters) and run with parameters:
# building a statement per batch or per event costs more than running it.
_STATEMENTS: dict[Any, Any] = {}
_EVENTS = Event.__table__
_DELIVERIES = Delivery.__table__
# The lookups of a batch: name -> the query of the rows whose column is IN the `values` list.
_LOOKUPS: dict[str, Callable[[Any], Any]] = {
    "erased": lambda values: select(Suppression.email_hash).where(
        Suppression.email_hash.in_(values), Suppression.reason == SuppressionReason.ERASED
    ),
    "ledger by message": lambda values: select(*_LEDGER_COLUMNS).where(
        Delivery.provider_message_id.in_(values)
    ),
    "ledger by id": lambda values: select(*_LEDGER_COLUMNS).where(Delivery.id.in_(values)),
    "lists of sends": lambda values: select(Send.id, Send.list_id).where(Send.id.in_(values)),
    "stored keys": lambda values: select(_EVENTS.c.dedup_key).where(
        _EVENTS.c.dedup_key.in_(values)
    ),
}


def _rows_in(conn: Connection, lookup: str, values: list) -> Iterable[Any]:
    """The rows of a _LOOKUPS query for these values (an expanding IN, chunked)."""
    stmt = _STATEMENTS.get(lookup)
    if stmt is None:
        stmt = _STATEMENTS[lookup] = _LOOKUPS[lookup](bindparam("values", expanding=True))
    for chunk in _chunks(values):
        yield from conn.execute(stmt, {"values": chunk})


def _record(
    session: Session,
    events: list[SesEvent],
    lookups: _Lookups,
    policies_by_list_id: Mapping[int, BouncePolicy] | None,
) -> TrackResult:
    """A run of events as sets: one query for the dedup keys already stored, one multi-row
    INSERT, one executemany UPDATE of the ledger, then the policy of each new event in order.
    The rows are those of recording the events one at a time, in order (tests/track/
    test_batch_recording.py): the correlation and the ledger's compare-and-set run event by event,
    only the statements are sent together."""
    policies = policies_by_list_id or {}
    result = TrackResult(received=len(events))
    conn = session.connection()
    planned = _plan(conn, events, lookups, result)
    stored = _insert_events(session, conn, planned)
    # Not stored after all: another poller stored it since the dedup query (it had the effects).
    new = [p for p in planned if p.key in stored]
    result.duplicates += len(planned) - len(new)
    result.recorded = len(new)
    result.uncorrelated = sum(1 for p in new if p.row is None)
    result.deliveries_updated = _advance_all(conn, new)
    suppressions: list[tuple[str, str, str]] = []
    for n, p in enumerate(new):
        list_id = lookups.list_of_send.get(p.row.send_id) if p.row else None
        policy = policies.get(list_id, BouncePolicy()) if p.row else BouncePolicy()
        _apply_policy(session, p.event, p.row, policy, result, suppressions, new[n + 1 :])
    # Last and together: nothing before reads the suppressions (erasures were read first).
    result.suppressed.extend(suppress_many(session, suppressions, lookups.salt))
    return result


@dataclass(frozen=True)
class _Planned:
    """An event to store: as stored (an erased person's without them), its stored dedup key, and
    its ledger row as it was when the event came (before the event gave it a message id)."""

    event: SesEvent
    key: str
    row: _Ledger | None


def _plan(
    conn: Connection, events: list[SesEvent], lookups: _Lookups, result: TrackResult
) -> list[_Planned]:
    """The events not stored yet, in order, each correlated as if the ones before were stored:
    an earlier event that gave a ledger row its message id is seen by the later ones."""
    keys = [
        stored_dedup_key(e.dedup_scope, e.event_type, e.recipient, lookups.salt) for e in events
    ]
    seen = _stored_keys(conn, keys)
    planned = []
    for event, key in zip(events, keys, strict=True):
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        if event.recipient and lookups.is_erased(event.recipient):
            # A late event about someone erased: kept (it still deduplicates) without naming them.
            event = dataclasses.replace(event, recipient=None, raw=ERASED_RAW, detail=None)
        row = _correlate(lookups, event)
        if row is not None:
            lookups.moved(row, event.ses_message_id)
        planned.append(_Planned(event, key, row))
    return planned


def _stored_keys(conn: Connection, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(set(keys))):
        found.update(
            conn.scalars(select(_EVENTS.c.dedup_key).where(_EVENTS.c.dedup_key.in_(chunk)))
        )
    return found


def _correlate(lookups: _Lookups, event: SesEvent) -> _Ledger | None:
    """The ledger row of this event: by SES message id, else by our delivery_id tag."""
    rows = lookups.named(event.ses_message_id)
    if not rows and event.delivery_id is not None:
        tagged = lookups.by_id.get(event.delivery_id)
        # A tag is trusted only when nothing contradicts it (the row has no other message id).
        if (
            tagged
            and tagged.provider_message_id in (None, event.ses_message_id)
            and (event.send_id is None or tagged.send_id == event.send_id)
        ):
            rows = [tagged]
    if event.recipient is None:
        return rows[0] if len(rows) == 1 else None
    matching = [r for r in rows if email_key(r.email) == email_key(event.recipient)]
    return matching[0] if matching else None


def _insert_events(session: Session, conn: Connection, planned: list[_Planned]) -> set[str]:
    """INSERT the planned events (one multi-row statement a page of SQLAlchemy's
    "insertmanyvalues"), ON CONFLICT DO NOTHING; the dedup keys it stored."""
    if not planned:
        return set()
    key = ("insert", conn.dialect.name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = (
            dialect_insert(session, _EVENTS)
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(_EVENTS.c.dedup_key)
        )
    rows = [
        {
            "dedup_key": p.key,
            "sns_message_id": p.event.sns_message_id,
            "ses_message_id": p.event.ses_message_id,
            "event_type": p.event.event_type[:32],
            "recipient": p.event.recipient,
            "bounce_type": p.event.bounce_type,
            "bounce_subtype": p.event.bounce_subtype,
            "delivery_id": p.row.id if p.row else None,
            "occurred_at": p.event.occurred_at,
            "raw": p.event.raw,
        }
        for p in planned
    ]
    # RETURNING, not rowcount: SQLAlchemy 2.1 with psycopg 3 reports -1 for every INSERT, and a
    # conflicting row returns nothing.
    return set(conn.scalars(stmt, rows))


# The most states a transition may start from (a complaint's: in flight, delivered, bounced).
_MAX_FROM = max(len(allowed) for allowed, _ in _TRANSITIONS.values())


def _advance_statement():
    """One UPDATE for every kind of move, so that a run's moves go as one executemany in the
    order of their events (the compare-and-set of each sees the ones before). The flags say
    which columns a move sets; the states it may start from are padded to _MAX_FROM."""
    stmt = _STATEMENTS.get("advance")
    if stmt is None:
        c = _DELIVERIES.c
        flag = lambda name: bindparam(name, type_=Boolean())  # noqa: E731
        stmt = _STATEMENTS["advance"] = (
            update(_DELIVERIES)
            .where(
                c.id == bindparam("p_id"),
                c.state.in_([bindparam(f"p_from{n}") for n in range(_MAX_FROM)]),
            )
            .values(
                state=bindparam("p_state"),
                updated_at=bindparam("p_now", type_=c.updated_at.type),
                provider_message_id=case(
                    (flag("p_set_message_id"), bindparam("p_message_id", type_=String())),
                    else_=c.provider_message_id,
                ),
                sent_at=case(
                    (
                        flag("p_send"),
                        func.coalesce(c.sent_at, bindparam("p_sent_at", type_=c.sent_at.type)),
                    ),
                    else_=c.sent_at,
                ),
                last_error=case(
                    (flag("p_error"), bindparam("p_error_text", type_=Text())),
                    else_=c.last_error,
                ),
            )
        )
    return stmt


def _advance_all(conn: Connection, new: list[_Planned]) -> int:
    """Move the ledger rows of the new events forward, never backwards (a late Delivery does not
    undo a Bounce); how many moves happened."""
    now = utcnow()
    moves = [_move(p.row, p.event, now) for p in new if p.row is not None]
    moves = [m for m in moves if m is not None]
    if not moves:
        return 0
    # sane_multi_rowcount holds for pysqlite and psycopg: rowcount sums the statements'.
    return conn.execute(_advance_statement(), moves).rowcount


def _move(row: _Ledger, event: SesEvent, now: dt.datetime) -> dict[str, Any] | None:
    """The parameters of the UPDATE that applies this event to its ledger row; None: no move."""
    if event.event_type not in _TRANSITIONS:
        return None
    allowed, target = _TRANSITIONS[event.event_type]
    states = sorted(allowed)
    states += [states[0]] * (_MAX_FROM - len(states))
    error = target in (DeliveryState.BOUNCED, DeliveryState.FAILED)
    send = event.event_type == EventKind.SEND
    return {
        "p_id": row.id,
        **{f"p_from{n}": state for n, state in enumerate(states)},
        "p_state": target,
        "p_now": now,
        "p_set_message_id": row.provider_message_id is None,
        "p_message_id": event.ses_message_id,
        "p_send": send,
        "p_sent_at": (event.occurred_at or now) if send else None,
        "p_error": error,
        "p_error_text": _describe(event) if error else None,
    }


def _describe(event: SesEvent) -> str:
    parts = [event.event_type, event.bounce_type, event.bounce_subtype, event.detail]
    return ": ".join(p for p in parts if p)[:2000]


# --- policy --------------------------------------------------------------------------------


def _apply_policy(
    session: Session,
    event: SesEvent,
    row: _Ledger | None,
    policy: BouncePolicy,
    result: TrackResult,
    suppressions: list[tuple[str, str, str]],
    later: list[_Planned],
) -> None:
    """The event's unsubscriptions, and the suppressions it asks for (appended to
    `suppressions`, in order). `later`: the events of the run stored with this one but after it,
    which one-by-one recording would not have stored yet (a soft-bounce count leaves them out)."""
    addresses = [a for a in _addresses(event, row) if a]  # an erased ledger row has no address left
    if not addresses:
        return
    if event.event_type == EventKind.BOUNCE and event.bounce_type == "Permanent":
        suppressions += ((a, SuppressionReason.HARD_BOUNCE, _describe(event)) for a in addresses)
    elif event.event_type == EventKind.BOUNCE:
        excluding = [p.key for p in later if p.event.event_type == EventKind.BOUNCE]
        count = soft_bounce_count(session, addresses[0], policy, event.occurred_at, excluding)
        if count >= policy.soft_bounce_limit:
            window = policy.soft_bounce_window_days
            detail = f"{count} soft bounces within {window} days; last: {_describe(event)}"
            suppressions += ((a, SuppressionReason.SOFT_BOUNCE, detail) for a in addresses)
    elif event.event_type == EventKind.COMPLAINT:
        _unsubscribe_everywhere(session, event, row, addresses, result)
        feedback_type = event.complaint_feedback_type or "no feedback type"
        detail = f"complaint ({feedback_type}) {event.feedback_id or ''}"
        suppressions += ((a, SuppressionReason.COMPLAINT, detail.strip()) for a in addresses)


def _addresses(event: SesEvent, row: _Ledger | None) -> list[str]:
    """The reported recipient, and the ledger's spelling of it (what sends compare against)."""
    out = [row.email] if row is not None else []
    if event.recipient and event.recipient not in out:
        out.append(event.recipient)
    return out


def soft_bounce_count(
    session: Session,
    email: str,
    policy: BouncePolicy,
    at: dt.datetime | None = None,
    excluding: Iterable[str] = (),
) -> int:
    """Distinct messages that soft-bounced for this address in the window ending at `at`, not
    counting the events of the dedup keys `excluding`.

    Older bounces decay: they fall out of the window and stop counting.
    """
    since = (at or utcnow()) - dt.timedelta(days=policy.soft_bounce_window_days)
    query = select(func.count(func.distinct(Event.ses_message_id))).where(
        Event.event_type == EventKind.BOUNCE,
        Event.bounce_type.in_(_SOFT_BOUNCE_TYPES),
        func.lower(Event.recipient) == email.lower(),
        Event.occurred_at >= since,
    )
    excluding = list(excluding)
    if excluding:
        query = query.where(Event.dedup_key.not_in(excluding))
    return session.scalar(query) or 0


def _unsubscribe_everywhere(
    session: Session,
    event: SesEvent,
    row: _Ledger | None,
    addresses: list[str],
    result: TrackResult,
) -> None:
    if row is not None:
        subscriber_ids = [row.subscriber_id]
    else:
        keys = [email_key(a) for a in addresses]
        subscriber_ids = list(
            session.scalars(select(Subscriber.id).where(Subscriber.email_key.in_(keys)))
        )
    now = utcnow()
    feedback = f"{event.feedback_id or '-'} type {event.complaint_feedback_type or '-'}"
    detail = f"SES complaint feedback {feedback}"
    for subscriber_id in subscriber_ids:
        changed = (
            session.execute(
                update(Subscription)
                .where(
                    Subscription.subscriber_id == subscriber_id,
                    Subscription.status != SubscriptionStatus.UNSUBSCRIBED,
                )
                .values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=now)
                .returning(Subscription.list_id)
            )
            .scalars()
            .all()
        )
        for list_id in changed:
            session.add(
                ConsentEvent(
                    subscriber_id=subscriber_id,
                    list_id=list_id,
                    action=ConsentAction.UNSUBSCRIBE,
                    source="complaint",
                    detail=detail,
                )
            )
        if changed:
            result.unsubscribed.append(subscriber_id)
    session.flush()


# An SES Received notification's raw mail -> what it did (mail_unsubscribe.MailUnsubscriber).
Inbound = Callable[[Session, bytes], Any]


@dataclass(frozen=True)
class Notification:
    """One SNS notification, read but not yet applied: its SES events, or the raw mail of an SES
    Received notification (a mail to the unsubscribe mailbox)."""

    events: list[SesEvent]
    mail: bytes | None = None


def read_notification(message_json: str, sns_message_id: str | None) -> Notification:
    """Parse a notification without touching the database (MailerError when it is unusable), so
    that an intake can sort out the unusable ones before it opens a transaction."""
    raw = received_mail(message_json)
    if raw is not None:
        return Notification([], raw)
    return Notification(parse_ses_message(message_json, sns_message_id))


def require_inbound(notification: Notification, inbound: Inbound | None) -> None:
    """MailerError when the notification is a request mail and nothing can check its token."""
    if notification.mail is not None and inbound is None:
        raise MailerError(
            "an SES Received notification (a mail to the unsubscribe mailbox) arrived, but its "
            "token cannot be checked without MAILER_SECRET_KEY: set it to the web app's key"
        )


def apply_notification(
    session: Session,
    notification: Notification,
    policies_by_list_id: Mapping[int, BouncePolicy] | None,
    inbound: Inbound | None,
) -> TrackResult:
    """Store what a read notification carries and apply its effects; the caller commits (one
    transaction per notification or per received batch, ARCHITECTURE.md "Stages": track)."""
    if notification.mail is None:
        return record_events(session, notification.events, policies_by_list_id)
    require_inbound(notification, inbound)
    request = inbound(session, notification.mail)
    log.info("unsubscribe request mail: %s", request.outcome)
    result = TrackResult()
    if request.changed:
        result.mail_unsubscribed += 1
    else:
        result.mail_ignored += 1
    return result


def apply_notifications(
    session: Session,
    notifications: list[Notification],
    policies_by_list_id: Mapping[int, BouncePolicy] | None,
    inbound: Inbound | None,
) -> TrackResult:
    """Received notifications in one transaction (the caller's), with the rows of applying them
    one at a time, in order: what the events need is read once for all of them, and each run of
    events between two request mails is recorded as one set (`_record`)."""
    events = [e for n in notifications if n.mail is None for e in n.events]
    lookups = _Lookups.load(session, events)
    result = TrackResult()
    run: list[SesEvent] = []
    for notification in notifications:
        if notification.mail is None:
            run.extend(notification.events)
            continue
        # A request mail and a complaint may unsubscribe the same person: keep their order.
        if run:
            result.merge(_record(session, run, lookups, policies_by_list_id))
            run = []
        result.merge(apply_notification(session, notification, policies_by_list_id, inbound))
    if run:
        result.merge(_record(session, run, lookups, policies_by_list_id))
    return result


def record_notification(
    session: Session,
    message_json: str,
    sns_message_id: str | None,
    policies_by_list_id: Mapping[int, BouncePolicy] | None,
    inbound: Inbound | None,
) -> TrackResult:
    """One SNS notification's worth: SES events, or a mail to the unsubscribe mailbox."""
    return apply_notification(
        session, read_notification(message_json, sns_message_id), policies_by_list_id, inbound
    )


def load_policies(session: Session, list_defs: Iterable[Any]) -> dict[int, BouncePolicy]:
    """{database list id: bounce policy} for ListDefinitions (lists/*.toml) that exist in the
    database."""
    by_slug = {d.slug: d.bounce_policy for d in list_defs}
    if not by_slug:
        return {}
    rows = session.execute(
        select(MailingList.id, MailingList.slug).where(MailingList.slug.in_(list(by_slug)))
    )
    return {row.id: by_slug[row.slug] for row in rows}
