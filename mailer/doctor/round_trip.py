"""`mailer doctor --round-trip`: a real send through the chain, proved end to end.

Three recipients on a list of their own (`mailer-doctor-<nonce>`, never a list of lists/): the SES
mailbox simulator's success@, bounce@ and complaint@ addresses, labelled with the run's nonce
(`bounce+mailer-doctor-<nonce>@simulator.amazonses.com`), so that no subscriber of a real list is
on it and none is touched. A small issue is planned and sent by the send stage as any issue is
(campaign.run_send: the ledger, the pacing, the message with its tags), then the SQS queue is
polled as `mailer events poll` polls it (events of other sends that arrive meanwhile are
recorded as the poller would) until the three rows reached delivered, bounced and complained,
or the wait is over. Then: the ledger, the suppression rule (a hard bounce and a complaint
suppress; a complaint unsubscribes) and the report must agree, and everything the run created is
deleted: ledger, send, issue, list, subscribers, their consent events, events and suppressions.
Rows left by an earlier run that was killed, or by events that came after its clean-up, are
deleted when they are an hour old.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.audience.lists import ensure_list
from mailer.content.lists import AnalyticsSettings, ArchiveSettings, ListDefinition
from mailer.content.model import Article, CallToAction, IssueContent, Section
from mailer.doctor.check import Check, fail, not_checked, ok, one_line
from mailer.doctor.probe import AwsProblem, Probe
from mailer.errors import MailerError
from mailer.send.campaign import SendOptions, run_send
from mailer.store.db import transaction
from mailer.store.models import (
    ClickSalt,
    ClickVisitor,
    ConsentEvent,
    Delivery,
    DeliveryState,
    Event,
    Issue,
    IssueCard,
    LinkClicks,
    MailingList,
    Send,
    SendLink,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from mailer.track.queue import poll_events
from mailer.track.report import build_report
from mailer.transports import make_transport

SIMULATOR = "simulator.amazonses.com"
LABEL = "mailer-doctor"
WAIT = 300.0  # seconds for the events; SES reports the simulator's within a minute or so
POLL_WAIT = 5  # the SQS long poll of one round of polling
WEBHOOK_PAUSE = 2.0  # without a queue (the webhook records): seconds between looks
LEFTOVER_AGE = dt.timedelta(hours=1)
# what each simulator address makes of its row, and what it must leave behind
EXPECTED = {
    "success": DeliveryState.DELIVERED,
    "bounce": DeliveryState.BOUNCED,
    "complaint": DeliveryState.COMPLAINED,
}
SUPPRESSED = {"bounce": SuppressionReason.HARD_BOUNCE, "complaint": SuppressionReason.COMPLAINT}
FIX_ABOVE = "fix what the checks above report, then run the round trip again"
NAMES = (
    "round_trip.send",
    "round_trip.events",
    "round_trip.ledger",
    "round_trip.suppression",
    "round_trip.report",
    "round_trip.cleanup",
)


def sandbox_question(probe: Probe) -> str | None:
    """What the operator must confirm first: in the sandbox the round trip proves the wiring,
    but not that readers can be mailed."""
    account = probe.account
    if isinstance(account, AwsProblem) or account.get("ProductionAccessEnabled"):
        return None
    return (
        f"run the round trip although the SES account in {probe.region} is in the sandbox (it "
        "proves the wiring, not that readers can be mailed)"
    )


@dataclass(frozen=True)
class Trip:
    """One run's list and recipients."""

    nonce: str
    list_def: ListDefinition

    @property
    def addresses(self) -> dict[str, str]:
        return {kind: f"{kind}+{LABEL}-{self.nonce}@{SIMULATOR}" for kind in EXPECTED}

    @classmethod
    def for_list(cls, real: ListDefinition) -> Trip:
        """A list of its own, sending from `real`'s From address (the identity under test)."""
        nonce = secrets.token_hex(4)
        own = dataclasses.replace(
            real,
            slug=f"{LABEL}-{nonce}",
            name=f"mailer doctor round trip {nonce}",
            schedule=None,
            archive=ArchiveSettings(),
            analytics=AnalyticsSettings(),
        )
        return cls(nonce, own)

    def content(self, base_url: str) -> IssueContent:
        empty = Section("")
        return IssueContent(
            path="mailer doctor --round-trip",
            list_slug=self.list_def.slug,
            date=dt.datetime.now(dt.UTC).date(),
            subject=f"mailer doctor round trip {self.nonce}",
            preheader="A test of the SES wiring, for the SES mailbox simulator only.",
            masthead=self.list_def.name,
            tagline=self.list_def.tagline,
            headline="A test of the SES wiring",
            dek="Sent by mailer doctor --round-trip to the SES mailbox simulator.",
            lead=("No reader gets this message: it goes to the SES mailbox simulator.",),
            metrics=empty,
            figures=(),
            deep_dive=Article("", ()),
            opinion_heading="",
            opinions=(),
            tools=empty,
            tool_items=(),
            trending=empty,
            hf_heading="",
            hf_models=(),
            github_heading="",
            github_repos=(),
            movers=empty,
            mover_items=(),
            reading=empty,
            reading_items=(),
            cta=CallToAction("", "", "Subscribe", base_url, ""),
        )


def _stop(done: list[Check], failed: Check) -> list[Check]:
    """The checks up to the one that failed; the later ones were not reached."""
    later = NAMES[len(done) + 1 : 5]
    return [*done, failed, *(not_checked(n, f"see {failed.name}") for n in later)]


class RoundTrip:
    def __init__(
        self,
        probe: Probe,
        list_def: ListDefinition,
        wait: float = WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.probe, self.settings = probe, probe.settings
        self.trip = Trip.for_list(list_def)
        self.wait, self.clock, self.sleep = wait, clock, sleep

    @property
    def factory(self) -> sessionmaker[Session]:
        assert self.probe.factory is not None
        return self.probe.factory

    def run(self) -> list[Check]:
        refused = self.refusal()
        if refused is not None:
            return [refused, *(not_checked(n, "nothing was sent") for n in NAMES[1:])]
        try:
            results = self.send_and_watch()
        finally:
            cleanup = self.cleanup()
        return [*results, cleanup]

    def refusal(self) -> Check | None:
        if self.settings.transport != "ses":
            return fail(
                NAMES[0],
                f"MAILER_TRANSPORT is {self.settings.transport}: the round trip sends through "
                "the ses transport",
                "set MAILER_TRANSPORT=ses",
            )
        if self.probe.factory is None:
            return fail(NAMES[0], "no database (see settings.database)", "fix settings.database")
        return None

    # --- send, then watch the ledger --------------------------------------------------------

    def send_and_watch(self) -> list[Check]:
        addresses = self.trip.addresses
        try:
            self.create_recipients()
            summary = self.send()
        except MailerError as exc:
            return _stop([], fail(NAMES[0], f"the send failed: {one_line(exc)}", FIX_ABOVE))
        unsent = {
            kind: row
            for kind, row in self.rows().items()
            if row.state not in (DeliveryState.SENT, *EXPECTED.values())
        }
        if unsent:
            why = "; ".join(
                f"{addresses[kind]}: {row.state} {row.last_error or ''}".strip()
                for kind, row in unsent.items()
            )
            return _stop([], fail(NAMES[0], f"SES did not take every message: {why}", FIX_ABOVE))
        done = [ok(NAMES[0], f"{len(EXPECTED)} messages to the SES mailbox simulator: {summary}")]
        started = self.clock()
        reached, poll_error = self.watch()
        if not reached:
            late = ", ".join(
                f"{addresses[kind]} still {row.state}"
                for kind, row in self.rows().items()
                if row.state != EXPECTED[kind]
            )
            if poll_error:
                late += f"; polling failed: {poll_error}"
            fix = "see the events.* checks; is the queue polled (`mailer events poll`)?"
            return _stop(done, fail(NAMES[1], f"after {self.wait:g} s: {late}", fix))
        done.append(ok(NAMES[1], f"the events arrived after {self.clock() - started:.0f} s"))
        return [*done, self.ledger_check(), self.suppression_check(), self.report_check()]

    def create_recipients(self) -> None:
        """The run's subscribers, confirmed on the run's list (a new list: nobody else is on it)."""
        addresses = list(self.trip.addresses.values())
        with transaction(self.factory) as session:
            taken = session.scalar(
                select(func.count())
                .select_from(Subscriber)
                .where(Subscriber.email_key.in_(addresses))
            )
            if taken:
                raise MailerError("the round trip's addresses are taken; run it again")
            list_id = ensure_list(session, self.trip.list_def)
            for address in addresses:
                subscriber = Subscriber(email=address, name="SES mailbox simulator")
                session.add(subscriber)
                session.flush()
                session.add(
                    Subscription(
                        subscriber_id=subscriber.id,
                        list_id=list_id,
                        status=SubscriptionStatus.CONFIRMED,
                        confirmed_at=utcnow(),
                    )
                )

    def send(self) -> str:
        transport = make_transport(self.settings, pool_size=len(EXPECTED))
        try:
            content = self.trip.content(self.settings.base_url)
            options = SendOptions(guardrail=False, processes=1)
            summary = run_send(
                self.factory, self.settings, self.trip.list_def, content, transport, options
            )
        finally:
            transport.close()
        return summary.line()

    def rows(self) -> dict[str, Delivery]:
        by_address = {address: kind for kind, address in self.trip.addresses.items()}
        with self.factory() as session:
            found = session.scalars(
                select(Delivery).where(Delivery.email.in_(list(by_address)))
            ).all()
            session.expunge_all()
        return {by_address[row.email]: row for row in found}

    def reached(self) -> bool:
        rows = self.rows()
        return all(rows[k].state == state for k, state in EXPECTED.items())

    def watch(self) -> tuple[bool, str | None]:
        """Poll (or, without a queue, wait for the webhook) until the rows reached their states."""
        deadline, error = self.clock() + self.wait, None
        while not self.reached():
            left = deadline - self.clock()
            if left <= 0:
                return False, error
            if not self.settings.sqs_queue_url:
                self.sleep(min(WEBHOOK_PAUSE, left))
                continue
            try:
                poll_events(
                    self.settings,
                    self.factory,
                    once=True,
                    wait_seconds=max(1, min(POLL_WAIT, int(left))),
                    receivers=2,
                )
            except MailerError as exc:
                error = one_line(exc)
                self.sleep(min(WEBHOOK_PAUSE, max(0.0, deadline - self.clock())))
        return True, error

    # --- what must have happened ------------------------------------------------------------

    def ledger_check(self) -> Check:
        rows = self.rows()
        states = ", ".join(f"{kind}@ {rows[kind].state}" for kind in EXPECTED)
        return ok(NAMES[2], f"the ledger moved each row: {states}")

    def suppression_check(self) -> Check:
        addresses = self.trip.addresses
        with self.factory() as session:
            reasons = dict(
                session.execute(
                    select(Suppression.email, Suppression.reason).where(
                        Suppression.email.in_(list(addresses.values()))
                    )
                ).all()
            )
            complainer = session.scalar(
                select(Subscription.status)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Subscriber.email == addresses["complaint"])
            )
        wanted = {addresses[k]: str(reason) for k, reason in SUPPRESSED.items()}
        problems = []
        if reasons != wanted:
            seen = ", ".join(f"{a}: {r}" for a, r in sorted(reasons.items())) or "none"
            problems.append(f"suppressions are {seen}, expected a hard bounce and a complaint")
        if complainer != SubscriptionStatus.UNSUBSCRIBED:
            problems.append(f"the complaint left the subscription {complainer}")
        if problems:
            return fail(
                NAMES[3],
                "; ".join(problems),
                "a bug in mailer's event recording (track/record.py): report it with this line",
            )
        return ok(
            NAMES[3],
            "bounce@ suppressed (hard-bounce); complaint@ suppressed (complaint) and unsubscribed",
        )

    def report_check(self) -> Check:
        with transaction(self.factory) as session:
            send = session.scalar(
                select(Send)
                .join(MailingList, MailingList.id == Send.list_id)
                .where(MailingList.slug == self.trip.list_def.slug)
            )
            report = build_report(session, send)
        seen = (report.sent, report.bounced_hard, report.complained, report.unsubscribed)
        facts = (
            f"sent {report.sent}, delivered {report.delivered}, bounced hard "
            f"{report.bounced_hard}, complained {report.complained}, unsubscribed "
            f"{report.unsubscribed}"
        )
        if seen != (3, 1, 1, 1) or report.delivered < 1:
            return fail(
                NAMES[4],
                f"the report says {facts}; expected sent 3, delivered 1+, bounced hard 1, "
                "complained 1, unsubscribed 1",
                "a bug in mailer's report (track/report.py): report it with this line",
            )
        return ok(NAMES[4], f"the report says {facts}")

    # --- leave nothing behind ---------------------------------------------------------------

    def cleanup(self) -> Check:
        if self.probe.factory is None:
            return not_checked(NAMES[5], "no database")
        slug, addresses = self.trip.list_def.slug, list(self.trip.addresses.values())
        try:
            removed = remove(self.factory, slug, addresses)
            removed += remove_leftovers(self.factory, utcnow() - LEFTOVER_AGE)
            left = remaining(self.factory, slug, addresses)
        except MailerError as exc:  # the database went away: say so, do not hide the results
            return fail(NAMES[5], f"clean-up failed: {one_line(exc)}", "run the round trip again")
        if left:
            return fail(
                NAMES[5], f"{left} row(s) of the round trip are still there", "run it again"
            )
        return ok(NAMES[5], f"removed the {removed} row(s) the round trip created")


def _targets(session: Session, lists_where, subscribers_where) -> dict[str, list[int]]:
    """The ids of what round trips created: their lists and subscribers, and what hangs from the
    lists (sends, issues, ledger rows)."""
    list_ids = list(session.scalars(select(MailingList.id).where(lists_where)))
    send_ids = list(session.scalars(select(Send.id).where(Send.list_id.in_(list_ids))))
    return {
        "lists": list_ids,
        "sends": send_ids,
        "issues": list(session.scalars(select(Issue.id).where(Issue.list_id.in_(list_ids)))),
        "deliveries": list(
            session.scalars(select(Delivery.id).where(Delivery.send_id.in_(send_ids)))
        ),
        "subscribers": list(session.scalars(select(Subscriber.id).where(subscribers_where))),
    }


def _delete_all(session: Session, ids: dict[str, list[int]], events_where, suppressed_where) -> int:
    """Delete them, children first; the number of rows deleted."""
    sends, lists, subscribers = ids["sends"], ids["lists"], ids["subscribers"]
    statements = [
        delete(Event).where(or_(Event.delivery_id.in_(ids["deliveries"]), events_where)),
        delete(Suppression).where(suppressed_where),
        delete(ConsentEvent).where(
            or_(ConsentEvent.subscriber_id.in_(subscribers), ConsentEvent.list_id.in_(lists))
        ),
        *(delete(t).where(t.send_id.in_(sends)) for t in (SendLink, LinkClicks, ClickVisitor)),
        delete(ClickSalt).where(ClickSalt.send_id.in_(sends)),
        delete(Delivery).where(Delivery.id.in_(ids["deliveries"])),
        delete(Send).where(Send.id.in_(sends)),
        delete(IssueCard).where(IssueCard.issue_id.in_(ids["issues"])),
        delete(Issue).where(Issue.id.in_(ids["issues"])),
        delete(Subscription).where(
            or_(Subscription.subscriber_id.in_(subscribers), Subscription.list_id.in_(lists))
        ),
        delete(Subscriber).where(Subscriber.id.in_(subscribers)),
        delete(MailingList).where(MailingList.id.in_(lists)),
    ]
    return sum(session.execute(statement).rowcount or 0 for statement in statements)


def remove(factory: sessionmaker[Session], slug: str, addresses: list[str]) -> int:
    """Delete one run's rows; the number deleted."""
    with transaction(factory) as session:
        ids = _targets(session, MailingList.slug == slug, Subscriber.email.in_(addresses))
        return _delete_all(
            session, ids, Event.recipient.in_(addresses), Suppression.email.in_(addresses)
        )


def _doctor_address(column):
    return column.like(f"%+{LABEL}-%@{SIMULATOR}")


def remove_leftovers(factory: sessionmaker[Session], before: dt.datetime) -> int:
    """Rows of earlier round trips made before `before`: of a run that was killed, or of events
    that arrived after a run had cleaned up (SNS delivers at least once)."""
    with transaction(factory) as session:
        ids = _targets(
            session,
            MailingList.slug.like(f"{LABEL}-%") & (MailingList.created_at < before),
            _doctor_address(Subscriber.email) & (Subscriber.created_at < before),
        )
        return _delete_all(
            session,
            ids,
            _doctor_address(Event.recipient) & (Event.received_at < before),
            _doctor_address(Suppression.email) & (Suppression.created_at < before),
        )


def remaining(factory: sessionmaker[Session], slug: str, addresses: list[str]) -> int:
    """Rows of one run still there (after its clean-up: none)."""
    counted = (
        (MailingList, MailingList.slug == slug),
        (Subscriber, Subscriber.email.in_(addresses)),
        (Delivery, Delivery.email.in_(addresses)),
        (Event, Event.recipient.in_(addresses)),
        (Suppression, Suppression.email.in_(addresses)),
    )
    with factory() as session:
        return sum(
            session.scalar(select(func.count()).select_from(table).where(where))
            for table, where in counted
        )
