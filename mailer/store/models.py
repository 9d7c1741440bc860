"""SQLAlchemy 2 typed models. Alembic owns the schema (mailer/migrations); a test proves they agree.

No ORM object leaves the store layer: the renderer and sender take plain dataclasses.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mailer.addresses import email_key

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite so that the primary key stays the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# The vocabulary: every state, kind and reason the database stores, one StrEnum each (a member is
# the
# string itself, so rows, SQL comparisons and JSON output are unchanged). ARCHITECTURE.md draws the
# ledger's state machine.


class DeliveryState(StrEnum):
    """The state of one ledger row (one recipient of one send)."""

    QUEUED = (
        "queued"  # planned, not yet handed to the transport (also: requeued after a 4xx/throttle)
    )
    SENDING = (
        "sending"  # claimed by a worker; the call is in flight or its outcome not yet committed
    )
    SENT = "sent"  # the provider accepted the message (SES message id / SMTP 250)
    FAILED = (
        "failed"  # refused for good (5xx, MessageRejected, no message can be built); never retried
    )
    # the request may have arrived (timeout, drop after the final dot); never resent blindly
    UNKNOWN = "unknown"
    SKIPPED = "skipped"  # unsubscribed or suppressed between planning and sending
    DELIVERED = "delivered"  # an SES Delivery event arrived for it
    BOUNCED = "bounced"  # an SES Bounce event arrived for it
    COMPLAINED = "complained"  # an SES Complaint event arrived for it


# The provider took the message: sent, and every state an SES event can move a sent row to.
ACCEPTED = (
    DeliveryState.SENT,
    DeliveryState.DELIVERED,
    DeliveryState.BOUNCED,
    DeliveryState.COMPLAINED,
)


class SendState(StrEnum):
    """The state of one send (an issue to a list)."""

    PLANNED = "planned"  # rendered and its ledger written; nothing handed over yet
    SENDING = "sending"  # workers are delivering (or died; a rerun resumes)
    PAUSED = (
        "paused"  # stopped with a pause_reason (quota, guardrail, transport down); a rerun resumes
    )
    DONE = "done"  # every ledger row is settled


class EventKind(StrEnum):
    """The kind of an SES event (its eventType / notificationType, in our spelling)."""

    BOUNCE = "bounce"  # hard (Permanent) or soft (Transient, Undetermined); bounce_type says which
    COMPLAINT = "complaint"  # the recipient marked the mail as spam
    DELIVERY = "delivery"  # the receiving server accepted it
    SEND = "send"  # SES accepted the call (configuration-set events only)
    REJECT = "reject"  # SES refused to send it (virus)
    DELIVERY_DELAY = "delivery_delay"  # the receiving server has not accepted it yet
    RENDERING_FAILURE = (
        "rendering_failure"  # an SES template failed (we send raw MIME: not expected)
    )
    OPEN = "open"  # SES open tracking (we never enable it; recorded if a configuration set does)
    CLICK = "click"  # SES click tracking (likewise)
    SUBSCRIPTION = "subscription"  # an SES subscription-management event


class SuppressionReason(StrEnum):
    """Why an address is never mailed."""

    HARD_BOUNCE = "hard-bounce"  # a Permanent bounce
    SOFT_BOUNCE = "soft-bounce"  # transient bounces past the list's bounce policy
    COMPLAINT = "complaint"  # a spam complaint
    MANUAL = "manual"  # `mailer suppressions add`
    ERASED = "erased"  # the person was erased; only the salted hash is left


class SubscriptionStatus(StrEnum):
    """A person's standing on one list."""

    PENDING = "pending"  # signed up, confirmation mail sent, not yet confirmed (double opt-in)
    CONFIRMED = "confirmed"  # gets the list's issues
    # left (link, one-click, mailto, import, complaint); never re-added by an import
    UNSUBSCRIBED = "unsubscribed"


class ConsentAction(StrEnum):
    """What a consent event records."""

    SUBSCRIBE = "subscribe"  # the form was submitted (double opt-in starts)
    RESEND = "resend"  # a new confirmation mail was asked for
    CONFIRM = "confirm"  # the confirmation link was followed and its button pressed
    UNSUBSCRIBE = "unsubscribe"  # by link, one-click, mailto, complaint or import
    IMPORT = "import"  # the row came from a CSV import
    ERASE = "erase"  # the person was erased (the event keeps no personal data)
    # /manage: links as written in their mails, clicks not counted (Subscriber.plain_links) ...
    PLAIN_LINKS = "plain-links"
    COUNTED_LINKS = "counted-links"  # ... and back to counted links
    # The preference centre (/manage; ARCHITECTURE.md, "Preferences"):
    NAME = "name"  # the name changed (detail: nothing; the name is in subscribers)
    ADDRESS_REQUEST = "address-request"  # a new address was asked for; its confirmation mailed
    ADDRESS_CHANGE = "address-change"  # the new address confirmed its mail: it is the address now
    PAUSE = "pause"  # no mail of this list until a date (detail: the date)
    RESUME = "resume"  # the pause ended early
    CADENCE = "cadence"  # daily issues or the weekly digest (detail: which)


class Cadence(StrEnum):
    """subscriptions.cadence: what a confirmed subscriber of a list receives."""

    DAILY = "daily"  # every issue
    WEEKLY = "weekly"  # the weekly digest on the list's digest day, no daily issue


class SendKind(StrEnum):
    """sends.kind: what a send's ledger rows carry (ARCHITECTURE.md, "Preferences")."""

    ISSUE = "issue"  # an issue (sends.issue_id) to the daily readers
    DIGEST = "digest"  # a weekly digest (sends.digest_id) to the weekly readers
    WELCOME = "welcome"  # one send per list; a row per confirmed subscription, added at confirm


class DayStage(StrEnum):
    """Where the autopilot is with one list's issue of one day (autopilot_days.stage;
    ARCHITECTURE.md, "The autopilot's day")."""

    PREPARE = "prepare"  # before T: trending fetched, the issue required and linted
    CANARY = "canary"  # at T: the first `canary` recipients
    JUDGE = "judge"  # waiting for the canary's SES events, then the verdict
    REST = "rest"  # the verdict was clean (or there is no canary): the whole send
    SUMMARY = "summary"  # sent: the summary alert is due
    DONE = "done"  # summary posted
    STOPPED = "stopped"  # paused by a verdict or the guardrail: an operator decides
    MISSED = "missed"  # never sendable within the day's window


FINAL_STAGES = frozenset({DayStage.DONE, DayStage.STOPPED, DayStage.MISSED})


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AppMeta(Base):
    """Key/value facts about this installation (e.g. the salt of suppression hashes)."""

    __tablename__ = "app_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MailingList(Base):
    __tablename__ = "lists"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


def _email_key_of_row(context) -> str | None:
    """The default of subscribers.email_key: the key of the address being inserted."""
    email = context.get_current_parameters().get("email")
    return None if email is None else email_key(email)


class Subscriber(Base):
    __tablename__ = "subscribers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # As first given (normalised: domain lower-cased, IDN domains as punycode). NULL once erased.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    # Who the person is (addresses.email_key: the whole address lower-cased): every lookup uses it,
    # so
    # Alan@Example.com and alan@example.com are one subscriber. NULL once erased.
    email_key: Mapped[str | None] = mapped_column(
        String(320), unique=True, index=True, default=_email_key_of_row
    )
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The reader asked for original URLs in their mails, not counted redirects (/manage).
    plain_links: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What an import brought beyond our columns (plan, tags, source...): a JSON object. JSONB with
    # a GIN index on PostgreSQL (migration 0008), JSON text on SQLite.
    attributes: Mapped[dict] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=dict, server_default="{}"
    )


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "list_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | confirmed | unsubscribed
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A Cadence: daily issues or the weekly digest (/manage).
    cadence: Mapped[str] = mapped_column(
        String(8), default=Cadence.DAILY, server_default=Cadence.DAILY.value
    )
    # No mail of this list is planned before this date (/manage pause); NULL: not paused.
    paused_until: Mapped[dt.date | None] = mapped_column(Date)


class ConsentEvent(Base):
    """Append-only record of what a person agreed to, when, and from where."""

    __tablename__ = "consent_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(
        String(32)
    )  # a ConsentAction: subscribe | confirm | unsubscribe | import | erase | plain-links | ...
    source: Mapped[str] = mapped_column(String(32))  # web | import | cli | one-click | complaint
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[str | None] = mapped_column(Text)  # the form text version, file name, ...
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Suppression(Base):
    __tablename__ = "suppressions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Salted SHA-256 of the normalised address: what erasure leaves behind. Always set.
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Lower-cased in full: "never mail" errs on the safe side of local-part case.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    reason: Mapped[str] = mapped_column(
        String(32)
    )  # hard-bounce | complaint | manual | erased | soft-bounce
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Issue(Base):
    """One rendered issue of a list: the frozen render every send and the archive use."""

    __tablename__ = "issues"
    __table_args__ = (UniqueConstraint("list_id", "issue_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(String(500))
    source_path: Mapped[str] = mapped_column(String(1000))
    content_hash: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    headline: Mapped[str] = mapped_column(Text, default="", server_default="")
    dek: Mapped[str] = mapped_column(Text, default="", server_default="")
    # NULL: in the archive once its send has started; see Visibility (ARCHITECTURE.md, archive)
    visibility: Mapped[str | None] = mapped_column(String(8))


class Visibility(StrEnum):
    """issues.visibility, set by `mailer archive publish|hide|reset`."""

    PUBLIC = "public"  # in the archive though it was never sent (from its date on)
    HIDDEN = "hidden"  # never in the archive, sent or not


class IssueCard(Base):
    """The share-card PNG of an issue, made when it is stored; content_hash is the issue's."""

    __tablename__ = "issue_cards"
    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    made_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Digest(Base):
    """One weekly digest of a list: the render of the week's issues, frozen like an issue's."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("list_id", "digest_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    digest_date: Mapped[dt.date] = mapped_column(Date)  # the day it is sent
    week_start: Mapped[dt.date] = mapped_column(Date)  # the first issue date it covers
    subject: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Send(Base):
    """A send and its ledger (deliveries): of an issue, of a digest, or a list's welcome mails
    (SendKind; exactly one of issue_id and digest_id is set for the first two, neither for
    welcome, of which a list has one)."""

    __tablename__ = "sends"
    __table_args__ = (
        UniqueConstraint("issue_id"),
        UniqueConstraint("digest_id"),
        Index(
            "uq_sends_welcome_list",
            "list_id",
            unique=True,
            sqlite_where=sql_text("kind = 'welcome'"),
            postgresql_where=sql_text("kind = 'welcome'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(
        String(8), default=SendKind.ISSUE, server_default=SendKind.ISSUE.value
    )
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))  # planned | sending | paused | done
    pause_reason: Mapped[str | None] = mapped_column(Text)
    planned_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Its links are counted redirects ([analytics] clicks, unless `--no-click-tracking`); fixed
    # when the send is planned, so that a resumed send does what it began with.
    click_tracking: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class LinkKind(StrEnum):
    """link_clicks.kind: who followed a counted link (ARCHITECTURE.md, "Clicks")."""

    READER = "reader"
    SCANNER = "scanner"  # HEAD, a known scanner's user agent, or too soon after the hand-over


class SendLink(Base):
    """A content link of a send with counted clicks: its position in the issue, original URL and
    the section it is in."""

    __tablename__ = "send_links"
    send_id: Mapped[int] = mapped_column(
        ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    section: Mapped[str] = mapped_column(String(40), default="", server_default="")


class LinkClicks(Base):
    """Clicks of one link in one hour, by kind: counts, never who."""

    __tablename__ = "link_clicks"
    send_id: Mapped[int] = mapped_column(
        ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ClickVisitor(Base):
    """One salted hash of (network, user agent) per link and day: distinct ones estimate unique
    readers. The day's salt (ClickSalt) is deleted after the day."""

    __tablename__ = "click_visitors"
    send_id: Mapped[int] = mapped_column(
        ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    visitor: Mapped[str] = mapped_column(String(32), primary_key=True)


class ClickSalt(Base):
    __tablename__ = "click_salts"
    send_id: Mapped[int] = mapped_column(
        ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))


class Delivery(Base):
    """The ledger: one row per (send, subscriber), frozen at plan time."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id"),
        Index("ix_deliveries_send_state", "send_id", "state"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # queued | sending | sent | delivered | bounced | complained | failed | unknown | skipped
    state: Mapped[str] = mapped_column(
        String(16), default=DeliveryState.QUEUED, server_default=DeliveryState.QUEUED.value
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    # Our Message-ID header, `<random@list domain>`, the same for every attempt
    # (send/ledger.py, assign_message_ids)
    message_id: Mapped[str | None] = mapped_column(String(300))
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """A normalised SES event (one per recipient), deduplicated by provider id."""

    __tablename__ = "events"
    # The guardrail and the report count one type of event per send: bounces and complaints are few,
    # deliveries are nearly every message, so the type leads.
    __table_args__ = (Index("ix_events_type_delivery", "event_type", "delivery_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    sns_message_id: Mapped[str | None] = mapped_column(String(100))
    ses_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    event_type: Mapped[str] = mapped_column(
        String(32)
    )  # bounce | complaint | delivery | send | reject | ...
    recipient: Mapped[str | None] = mapped_column(String(320))
    bounce_type: Mapped[str | None] = mapped_column(String(32))
    bounce_subtype: Mapped[str | None] = mapped_column(String(64))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    occurred_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class TrendingSnapshot(Base):
    """What a source returned on a day, so that an issue renders the same every time."""

    __tablename__ = "trending_snapshots"
    __table_args__ = (UniqueConstraint("source", "taken_on"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(
        String(64)
    )  # huggingface-models | huggingface-datasets | github
    taken_on: Mapped[dt.date] = mapped_column(Date)
    fetched_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    payload: Mapped[str] = mapped_column(Text)  # JSON list of entries


class RateLimitWindow(Base):
    """Hits per client and fixed window, shared by every web worker (gunicorn processes, machines).

    `key` is an HMAC of the client's IP with the secret key: the table never holds an address.
    """

    __tablename__ = "rate_limit_windows"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(
        BigInteger, primary_key=True
    )  # epoch seconds // window length
    hits: Mapped[int] = mapped_column(Integer)


class AutopilotDay(Base):
    """The autopilot's progress with one list's issue of one local date, and its lease: one
    autopilot at a time works a day (holder, renewed at heartbeat_at; send/workers.py decides when
    a holder is gone). The send itself is in the ledger; this row holds what the ledger cannot: the
    canary's verdict, when to judge, the last alert (not repeated), the summary."""

    __tablename__ = "autopilot_days"
    __table_args__ = (UniqueConstraint("list_slug", "issue_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_slug: Mapped[str] = mapped_column(String(100))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(16), default=DayStage.PREPARE)
    holder: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    judge_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    summary_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_alert: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
