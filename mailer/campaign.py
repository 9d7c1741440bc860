"""Plan, send and resume an issue through the ledger (DESIGN: "Send: the ledger").

The claim is committed before the transport is called and the outcome right after it, so a crash
leaves every recipient in a state that says what happened to them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import store
from .config import Settings
from .content.issue_file import load_issue
from .content.lists import ListDefinition
from .content.model import IssueContent
from .content.resolve import resolve_issue
from .content.trending import attach_trending
from .db import transaction
from .errors import (
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendError,
    SendPausedError,
)
from .message import MessageSkeleton, Recipient
from .models import Delivery, Issue, Send, utcnow
from .qr import with_data_uris
from .render import RenderedIssue, render_issue
from .tokens import make_token
from .transports import OutgoingMessage, Transport

log = logging.getLogger(__name__)
FINAL_STATES = ("sent", "delivered", "bounced", "complained", "failed", "skipped")
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
    state: str
    pause_reason: str | None
    destination: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        c = self.counts
        done = c.get("sent", 0) + c.get("delivered", 0) + c.get("bounced", 0) + c.get("complained", 0)
        head = f"{self.list_name} {self.issue_date}: "
        if self.sent_now == 0 and self.state == "done":
            return (head + f"nothing to send: all {done} of {self.total} recipients were already sent"
                    f" ({c.get('skipped', 0)} skipped, {c.get('failed', 0)} failed); no message sent twice")
        text = (head + f"sent {self.sent_now} now, {done} of {self.total} in total; "
                f"{c.get('skipped', 0)} skipped, {c.get('failed', 0)} failed, {c.get('unknown', 0)} unknown, "
                f"{c.get('queued', 0)} queued -> {self.destination}")
        if self.state == "paused":
            text += f"; PAUSED: {self.pause_reason}"
        return text


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


def prepare_issue(session: Session, settings: Settings, list_def: ListDefinition,
                  content: IssueContent) -> PreparedIssue:
    """Render and store the issue. Once a send has started, its stored render is what goes out."""
    list_id = store.ensure_list(session, list_def)
    row = session.scalar(select(Issue).where(Issue.list_id == list_id, Issue.issue_date == content.date))
    started = row is not None and session.scalar(select(Send.id).where(Send.issue_id == row.id)) is not None
    if started:
        rendered = RenderedIssue(subject=row.subject, preheader=content.preheader, html=row.html, text=row.text)
        return PreparedIssue(row.id, list_id, content, rendered)
    rendered = render_issue(content, list_def, settings.base_url)
    values = dict(subject=rendered.subject, source_path=content.path, content_hash=_content_hash(rendered),
                  html=rendered.html, text=rendered.text)
    if row is None:
        row = Issue(list_id=list_id, issue_date=content.date, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    return PreparedIssue(row.id, list_id, content, rendered)


def get_or_plan_send(session: Session, prepared: PreparedIssue) -> Send:
    send = session.scalar(select(Send).where(Send.issue_id == prepared.issue_id))
    if send is None:
        send = Send(issue_id=prepared.issue_id, list_id=prepared.list_id, state="planned")
        session.add(send)
        session.flush()
        send.planned_count = store.plan_deliveries(session, send.id, prepared.list_id)
    return send


def ledger_counts(session: Session, send_id: int) -> dict[str, int]:
    rows = session.execute(select(Delivery.state, func.count()).where(Delivery.send_id == send_id)
                           .group_by(Delivery.state))
    return {state: count for state, count in rows}


def _recover_interrupted(session: Session, send_id: int, transport: Transport, batch: str) -> int:
    """Rows left 'sending' by a crashed run: settle them if the transport can tell, else 'unknown'."""
    stuck = session.scalars(select(Delivery.id).where(Delivery.send_id == send_id, Delivery.state == "sending")).all()
    for delivery_id in stuck:
        outcome = transport.was_sent(batch, delivery_id)
        state = {True: "sent", False: "queued", None: "unknown"}[outcome]
        session.execute(update(Delivery).where(Delivery.id == delivery_id)
                        .values(state=state, updated_at=utcnow(),
                                last_error="interrupted run; outcome unknown" if state == "unknown" else None))
    return len(stuck)


@dataclass(frozen=True)
class LinkMaker:
    settings: Settings
    list_def: ListDefinition

    def recipient(self, delivery_id: int, subscriber_id: int, email: str, name: str) -> Recipient:
        key, old = self.settings.require_secret_key(), self.settings.old_secret_keys
        unsub = make_token(key, "unsubscribe", subscriber_id, self.list_def.slug, old)
        manage = make_token(key, "manage", subscriber_id, self.list_def.slug, old)
        return Recipient(
            delivery_id=delivery_id, email=email, name=name,
            unsubscribe_url=f"{self.settings.base_url}/unsubscribe/{unsub}",
            manage_url=f"{self.settings.base_url}/manage/{manage}",
            unsubscribe_mailto=f"mailto:{self.list_def.unsubscribe_mailbox}?subject=unsubscribe%20{unsub}",
        )


def personal_message(prepared: PreparedIssue, list_def: ListDefinition, send_id: int, recipient: Recipient) -> bytes:
    skeleton = prepared.skeletons.get(send_id)
    if skeleton is None:
        skeleton = prepared.skeletons[send_id] = MessageSkeleton(prepared.rendered, list_def, send_id)
    return skeleton.message(recipient)


def _deliver_one(factory: sessionmaker[Session], transport: Transport, prepared: PreparedIssue,
                 list_def: ListDefinition, links: LinkMaker, send_id: int, claim: store.ClaimedDelivery) -> str:
    recipient = links.recipient(claim.id, claim.subscriber_id, claim.email, claim.name)
    raw = personal_message(prepared, list_def, send_id, recipient)
    outgoing = OutgoingMessage(delivery_id=claim.id, send_id=send_id, recipient=claim.email, raw=raw,
                               batch=prepared.batch, tags={"send_id": str(send_id), "delivery_id": str(claim.id)})
    try:
        provider_id = transport.send(outgoing)
    except RetryableError as exc:
        delay = exc.retry_after or min(60.0, 2.0 ** claim.attempts)
        with transaction(factory) as session:
            store.finish_delivery(session, claim.id, "queued", error=str(exc),
                                  not_before=utcnow() + dt.timedelta(seconds=delay))
        return "queued"
    except PermanentError as exc:
        with transaction(factory) as session:
            store.finish_delivery(session, claim.id, "failed", error=str(exc))
        return "failed"
    except OutcomeUnknownError as exc:
        with transaction(factory) as session:
            store.finish_delivery(session, claim.id, "unknown", error=str(exc))
        return "unknown"
    except SendPausedError:
        with transaction(factory) as session:
            store.finish_delivery(session, claim.id, "queued", error="send paused before this message went out")
        raise
    with transaction(factory) as session:
        store.finish_delivery(session, claim.id, "sent", message_id=provider_id)
    return "sent"


def _seconds_until_next_due(factory: sessionmaker[Session], send_id: int) -> float | None:
    """None when no queued row is left; otherwise how long until the earliest retry is due."""
    with transaction(factory) as session:
        queued = session.scalar(select(func.count()).where(Delivery.send_id == send_id, Delivery.state == "queued"))
        if not queued:
            return None
        earliest = session.scalar(select(func.min(Delivery.not_before))
                                  .where(Delivery.send_id == send_id, Delivery.state == "queued"))
    if earliest is None:
        return 0.0
    if earliest.tzinfo is None:  # SQLite hands back naive datetimes (stored as UTC)
        earliest = earliest.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (earliest - utcnow()).total_seconds())


def _set_state(factory: sessionmaker[Session], send_id: int, state: str, reason: str | None = None) -> None:
    with transaction(factory) as session:
        values: dict = {"state": state, "pause_reason": reason}
        if state == "sending":
            values["started_at"] = func.coalesce(Send.started_at, utcnow())
        if state == "done":
            values["finished_at"] = utcnow()
        session.execute(update(Send).where(Send.id == send_id).values(**values))


def run_send(factory: sessionmaker[Session], settings: Settings, list_def: ListDefinition, content: IssueContent,
             transport: Transport, batch_size: int = 100,
             on_progress: Callable[[int], None] | None = None) -> SendSummary:
    settings.require_secret_key()
    with transaction(factory) as session:
        prepared = prepare_issue(session, settings, list_def, content)
        send = get_or_plan_send(session, prepared)
        send_id = send.id
        _recover_interrupted(session, send_id, transport, prepared.batch)
    links = LinkMaker(settings, list_def)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    sent_now, state, reason = 0, "done", None
    _set_state(factory, send_id, "sending")
    try:
        while True:
            with transaction(factory) as session:
                claims = store.claim_batch(session, send_id, batch_size, worker)
                eligible = store.still_eligible(session, prepared.list_id, [c.subscriber_id for c in claims])
                for claim in claims:
                    if claim.subscriber_id not in eligible:
                        store.finish_delivery(session, claim.id, "skipped", error="unsubscribed or suppressed since planning")
            claims = [c for c in claims if c.subscriber_id in eligible]
            if not claims:
                wait = _seconds_until_next_due(factory, send_id)
                if wait is None:
                    break
                if wait > MAX_RETRY_WAIT:
                    state, reason = "paused", f"messages wait {wait:.0f}s for a retry; rerun to resume"
                    break
                time.sleep(wait)
                continue
            for claim in claims:
                if _deliver_one(factory, transport, prepared, list_def, links, send_id, claim) == "sent":
                    sent_now += 1
                    if on_progress:
                        on_progress(1)
    except SendPausedError as exc:
        state, reason = "paused", str(exc)
    _set_state(factory, send_id, state, reason)
    with transaction(factory) as session:
        counts = ledger_counts(session, send_id)
    return SendSummary(send_id=send_id, list_name=list_def.name, issue_date=content.date, counts=counts,
                       sent_now=sent_now, state=state, pause_reason=reason,
                       destination=transport.describe(prepared.batch))


def write_preview(settings: Settings, list_def: ListDefinition, content: IssueContent, out_dir: Path) -> list[Path]:
    """The HTML and text a sample recipient would get, with working-looking personal links. The QR code
    is a data: URI in the preview (a browser cannot resolve the mail's cid: reference)."""
    rendered = render_issue(content, list_def, settings.base_url)
    html, text = rendered.personalize({
        "GREETING": "Good morning, Preview Reader",
        "UNSUBSCRIBE_URL": f"{settings.base_url}/unsubscribe/PREVIEW",
        "MANAGE_URL": f"{settings.base_url}/manage/PREVIEW",
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{content.list_slug}-{content.date.isoformat()}"
    paths = [out_dir / f"{stem}.html", out_dir / f"{stem}.txt"]
    paths[0].write_text(with_data_uris(html), encoding="utf-8")
    paths[1].write_text(text, encoding="utf-8")
    return paths
