"""The weekly digest's send (ARCHITECTURE.md, "Preferences"): `mailer digest send` and the
autopilot on the list's digest day.

The digest of (list, day) is rendered from the issues sent in the seven days before `day` and
stored in `digests`, and its send (kind digest) planned with a ledger of the weekly readers not
paused at `day`, in one transaction under the planning lock, as an issue is (ARCHITECTURE.md,
"A send"): processes started together plan it once, and once its send exists the stored render is
what goes out. It is then sent by the same pipeline as an issue (campaign.deliver): resumable,
paced, idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.audience.lists import ensure_list
from mailer.config import Settings
from mailer.content.digest import WeekIssue, digest_content, week_of, weekday_name
from mailer.content.lists import WEEKDAYS, ListDefinition
from mailer.errors import SendError
from mailer.render.digest import render_digest
from mailer.render.issue import RenderedIssue, archive_url
from mailer.send.campaign import PreparedMail, SendOptions, SendSummary, deliver
from mailer.send.launch import LOCAL_TRANSPORT
from mailer.send.ledger import (
    Ledger,
    PlannedSend,
    _content_hash,
    audience_of,
    hold_planning_lock,
    ledger_counts,
    plan_deliveries,
)
from mailer.store.db import transaction
from mailer.store.models import (
    Cadence,
    Digest,
    Issue,
    MailingList,
    Send,
    SendKind,
    SendState,
    Visibility,
)
from mailer.store.queries import dialect_insert
from mailer.transports import Transport, make_transport


@dataclass(frozen=True)
class StoredDigest:
    digest_id: int
    list_id: int
    day: dt.date
    issues: int | None  # how many issues it shows (None: stored by an earlier run)
    rendered: RenderedIssue


def batch_name(list_slug: str, day: dt.date) -> str:
    """The transports' name for a digest's messages (the outbox folder beside the issues')."""
    return f"{list_slug}/digest-{day.isoformat()}"


def local_today(list_def: ListDefinition, now: dt.datetime | None = None) -> dt.date:
    """Today in the list's time zone ([schedule] timezone), else on this machine's clock."""
    now = now or dt.datetime.now(dt.UTC)
    if list_def.schedule is None:
        return now.astimezone().date()
    return now.astimezone(list_def.schedule.zone).date()


def check_digest_day(list_def: ListDefinition, day: dt.date) -> None:
    """A SendError unless the list's [digest] is enabled and `day` is its digest day."""
    if not list_def.digest.enabled:
        raise SendError(
            f"{list_def.path}: [digest] is not enabled for {list_def.slug}; set enabled = true "
            "in its [digest] table to send a weekly digest"
        )
    if weekday_name(day) != list_def.digest.day:
        ahead = (WEEKDAYS.index(list_def.digest.day) - day.weekday()) % 7
        nearest = day + dt.timedelta(days=ahead)
        raise SendError(
            f"--date {day} is a {day.strftime('%A')}, but the digest of {list_def.slug} goes on "
            f"'{list_def.digest.day}' ([digest] day in {list_def.path}): use --date {nearest}"
        )


# -- statements (one session, the caller's transaction) --------------------------------------------
def week_issues(session: Session, list_id: int, day: dt.date, base_url: str, slug: str):
    """The issues of the list whose send has started, dated in the seven days before `day`,
    oldest first, each with its archive link. A hidden issue (`mailer archive hide`) is left out:
    its link would lead nowhere."""
    first, last = week_of(day)
    rows = session.execute(
        select(Issue.issue_date, Issue.headline, Issue.dek)
        .join(Send, Send.issue_id == Issue.id)
        .where(
            Issue.list_id == list_id,
            Issue.issue_date >= first,
            Issue.issue_date <= last,
            Send.started_at.is_not(None),
            or_(Issue.visibility.is_(None), Issue.visibility != Visibility.HIDDEN),
        )
        .order_by(Issue.issue_date)
    ).all()
    return [
        WeekIssue(
            row.issue_date, row.headline, row.dek, archive_url(base_url, slug, row.issue_date)
        )
        for row in rows
    ]


def _started_digest(session: Session, list_id: int, day: dt.date) -> Digest | None:
    return session.scalar(
        select(Digest)
        .join(Send, Send.digest_id == Digest.id)
        .where(Digest.list_id == list_id, Digest.digest_date == day)
    )


def store_digest(
    session: Session, list_def: ListDefinition, day: dt.date, base_url: str
) -> StoredDigest:
    """Under the planning lock: the digest of `day` rendered and stored, or, once its send
    exists, the stored one. A SendError when the week has no sent issue."""
    hold_planning_lock(session, f"{list_def.slug}/digest", day)
    list_id = ensure_list(session, list_def)
    row = _started_digest(session, list_id, day)
    if row is not None:
        rendered = RenderedIssue(subject=row.subject, preheader="", html=row.html, text=row.text)
        return StoredDigest(row.id, list_id, day, None, rendered)
    issues = week_issues(session, list_id, day, base_url, list_def.slug)
    if not issues:
        first, last = week_of(day)
        raise SendError(
            f"no issue of {list_def.slug} was sent from {first} to {last}: there is nothing to "
            f"digest on {day}"
        )
    content = digest_content(session, list_def, day, issues)
    rendered = render_digest(content, list_def, base_url)
    values = dict(
        week_start=content.week_start,
        subject=rendered.subject,
        content_hash=_content_hash(rendered),
        html=rendered.html,
        text=rendered.text,
    )
    this = (Digest.list_id == list_id, Digest.digest_date == day)
    if session.scalar(select(Digest.id).where(*this)) is None:
        session.execute(
            dialect_insert(session, Digest)
            .values(list_id=list_id, digest_date=day, **values)
            .on_conflict_do_nothing(index_elements=["list_id", "digest_date"])
        )
    else:  # a digest whose send was never planned is rendered again, as an unsent issue is
        session.execute(update(Digest).where(*this).values(**values))
    digest_id = session.scalar(select(Digest.id).where(*this))
    return StoredDigest(digest_id, list_id, day, len(issues), rendered)


def plan_digest_send(session: Session, digest: StoredDigest) -> PlannedSend:
    """The digest's send and its ledger (the weekly readers not paused at its date), written by
    whichever process inserts the send row; the others find it."""
    this_send = Send.digest_id == digest.digest_id
    existing = session.execute(select(Send.id, Send.planned_count).where(this_send)).first()
    if existing is None:
        send_id = session.scalar(
            dialect_insert(session, Send)
            .values(
                kind=SendKind.DIGEST,
                digest_id=digest.digest_id,
                list_id=digest.list_id,
                state=SendState.PLANNED,
                click_tracking=False,
            )
            .on_conflict_do_nothing(index_elements=["digest_id"])
            .returning(Send.id)
        )
        if send_id is not None:
            audience = audience_of(digest.list_id, Cadence.WEEKLY, digest.day)
            planned = plan_deliveries(session, send_id, audience)
            session.execute(update(Send).where(Send.id == send_id).values(planned_count=planned))
            return PlannedSend(send_id, planned, True)
        existing = session.execute(select(Send.id, Send.planned_count).where(this_send)).one()
    return PlannedSend(existing.id, existing.planned_count, False)


def digest_send_id(session: Session, list_slug: str, day: dt.date) -> int | None:
    """The id of the digest send of (list, day), if planned. Reads only."""
    return session.scalar(
        select(Send.id)
        .join(Digest, Digest.id == Send.digest_id)
        .join(MailingList, MailingList.id == Digest.list_id)
        .where(MailingList.slug == list_slug, Digest.digest_date == day)
    )


# -- the transactions ------------------------------------------------------------------------------
class DigestLedger(Ledger):
    """The ledger's transactions, and the two a digest adds (each one transaction)."""

    def plan_digest(
        self, list_def: ListDefinition, day: dt.date, base_url: str
    ) -> tuple[StoredDigest, PlannedSend]:
        with transaction(self.factory) as session:
            digest = store_digest(session, list_def, day, base_url)
            return digest, plan_digest_send(session, digest)

    def preview_digest(
        self, list_def: ListDefinition, day: dt.date, base_url: str
    ) -> tuple[StoredDigest, PlannedSend, dict[str, int]]:
        """What plan_digest would do and the ledger it would leave, rolled back."""
        session = self.factory()
        try:
            digest = store_digest(session, list_def, day, base_url)
            planned = plan_digest_send(session, digest)
            return digest, planned, ledger_counts(session, planned.send_id)
        finally:
            session.rollback()
            session.close()


# -- what the CLI and the autopilot call -----------------------------------------------------------
def run_digest(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    day: dt.date,
    transport: Transport,
    options: SendOptions | None = None,
    on_outcome=None,
) -> SendSummary:
    """Check the day, plan the digest (once) and send it; a rerun resumes what an earlier or
    crashed run left and sends nothing twice."""
    check_digest_day(list_def, day)
    options = options or SendOptions()
    settings.require_secret_key()
    limits = transport.limits()  # before planning, as for an issue
    ledger = DigestLedger(factory)
    digest, planned = ledger.plan_digest(list_def, day, settings.base_url)
    prepared = PreparedMail(digest.list_id, digest.rendered, batch_name(list_def.slug, day), day)
    return deliver(
        ledger, settings, list_def, prepared, planned, transport, limits, options, on_outcome
    )


def dry_run_line(
    factory: sessionmaker[Session], settings: Settings, list_def: ListDefinition, day: dt.date
) -> str:
    """What `mailer digest send --dry-run` prints: the plan a run would make, changing nothing."""
    check_digest_day(list_def, day)
    settings.require_secret_key()
    digest, planned, counts = DigestLedger(factory).preview_digest(list_def, day, settings.base_url)
    states = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no weekly readers"
    shows = "as stored" if digest.issues is None else f"{digest.issues} issues"
    verb = "would plan" if planned.newly_planned else "planned"
    return (
        f'dry run: {list_def.name} digest {day} ({shows}, "{digest.rendered.subject}"): '
        f"{verb} {sum(counts.values())} weekly readers ({states}); nothing sent, nothing changed"
    )


def launch_digest(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    day: dt.date,
    confirm: Callable[[str], None] | None,
) -> SendSummary:
    """`mailer digest send`: through the configured transport; `confirm` gets the question when
    the digest would reach real readers (None: already confirmed, --yes) and raises to refuse."""
    check_digest_day(list_def, day)
    transport = make_transport(settings)
    try:
        if confirm is not None and transport.name != LOCAL_TRANSPORT:
            confirm(f"send the {day} digest of {list_def.slug} through {transport.name}")
        return run_digest(factory, settings, list_def, day, transport)
    finally:
        transport.close()
